import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from members import coupons, services
from members.models import Coupon, CouponCampaign, CouponRedemption, Member
from omo.core.errors import ConflictError
from tests.conftest import client_for
from tests.factories import SalesChannelFactory, make_category, make_variant


@pytest.fixture
def member(db):
    return services.member_register(phone="0912345678").member


@pytest.fixture
def tee(db):
    return make_variant(style_code="TEE", category=make_category("women/tops"))


@pytest.fixture
def sock(db):
    return make_variant(style_code="SOCK", category=make_category("accessories"))


def campaign(**overrides):
    now = timezone.now()
    values = {
        "name": "NT$100 off",
        "discount_type": "amount",
        "amount": Decimal(100),
        "starts_at": now - timedelta(days=1),
        "ends_at": now + timedelta(days=30),
        "min_spend": Decimal(500),
    }
    values.update(overrides)
    return coupons.campaign_create(**values)


def cart(*lines):
    return [coupons.CartLine(variant, qty, Decimal(price)) for variant, qty, price in lines]


def test_amount_off_applies_above_the_minimum(member, tee):
    code = coupons.coupon_create_shared(campaign=campaign(), code="save100").code

    result = coupons.coupon_validate(code="SAVE100", lines=cart((tee, 1, "590")), member=member)

    assert (code, result.applies, result.discount, result.reasons) == ("SAVE100", True, Decimal("100"), [])


def test_percent_off_is_capped_and_rounded_to_whole_dollars(member, tee):
    code = coupons.coupon_create_shared(
        campaign=campaign(
            discount_type="percent", amount=None, percent=Decimal("15"), max_discount=Decimal(200), min_spend=Decimal(0)
        )
    ).code

    small = coupons.coupon_validate(code=code, lines=cart((tee, 1, "599")), member=member)
    large = coupons.coupon_validate(code=code, lines=cart((tee, 3, "990")), member=member)

    assert small.discount == Decimal("90")  # 89.85 rounds half up to whole TWD
    assert large.discount == Decimal("200")


def test_validation_explains_every_reason(member, tee, sock, store_a, store_b):
    web = SalesChannelFactory(code="WEB", kind="web")
    app = SalesChannelFactory(code="APP", kind="app")
    offer = campaign(
        channels=[app],
        stores=[store_a],
        categories=[tee.product.category],
        starts_at=timezone.now() - timedelta(days=10),
        ends_at=timezone.now() - timedelta(days=1),
    )
    code = coupons.coupon_create_shared(campaign=offer).code

    result = coupons.coupon_validate(
        code=code, lines=cart((tee, 1, "300"), (sock, 1, "900")), member=member, channel=web, store=store_b
    )

    assert not result.applies
    assert [r["code"] for r in result.reasons] == ["expired", "wrong_channel", "wrong_store", "below_minimum"]
    assert result.reasons[0]["message"].startswith("This coupon expired on ")
    assert result.eligible_amount == Decimal("300")  # the socks are not in the category


def test_a_coupon_collected_in_a_store_works_online(member, tee, store_a):
    web = SalesChannelFactory(code="WEB", kind="web")
    code = coupons.coupon_create_shared(campaign=campaign()).code
    coupons.coupon_collect(member=member, code=code, store=store_a)

    online = coupons.coupon_validate(code=code, lines=cart((tee, 1, "800")), member=member, channel=web)

    assert online.applies
    assert member.wallet.get().collected_store == store_a


def test_unique_codes_are_one_members_and_used_once_then_given_back_on_cancel(member, tee):
    other = services.member_register(phone="0922333444").member
    offer = campaign(code_type="unique")
    [code] = coupons.coupons_issue(campaign=offer, members=[member])

    foreign = coupons.coupon_validate(code=code.code, lines=cart((tee, 1, "800")), member=other)
    coupons.coupon_redeem(code=code.code, lines=cart((tee, 1, "800")), member=member, reference="order:1")
    with pytest.raises(ConflictError) as again:
        coupons.coupon_redeem(code=code.code, lines=cart((tee, 1, "800")), member=member, reference="order:2")
    given_back = coupons.coupon_reinstate(reference="order:1")
    after = coupons.coupon_validate(code=code.code, lines=cart((tee, 1, "800")), member=member)

    assert [r["code"] for r in foreign.reasons] == ["not_yours"]
    assert again.value.code == "coupon_not_applicable"
    assert again.value.details["reasons"][0]["code"] == "used_up"
    assert CouponRedemption.objects.count() == 1
    assert (given_back, after.applies, coupons.coupon_reinstate(reference="order:1")) == (1, True, 0)


def test_shared_code_respects_the_per_member_limit_and_the_budget(member, tee):
    other = services.member_register(phone="0922333444").member
    third = services.member_register(phone="0933444555").member
    code = coupons.coupon_create_shared(campaign=campaign(per_member_limit=1, budget=2)).code

    coupons.coupon_redeem(code=code, lines=cart((tee, 1, "800")), member=member, reference="o1")
    second_time = coupons.coupon_validate(code=code, lines=cart((tee, 1, "800")), member=member)
    coupons.coupon_redeem(code=code, lines=cart((tee, 1, "800")), member=other, reference="o2")
    over_budget = coupons.coupon_validate(code=code, lines=cart((tee, 1, "800")), member=third)

    assert [r["code"] for r in second_time.reasons] == ["member_limit"]
    assert [r["code"] for r in over_budget.reasons] == ["budget_exhausted"]
    assert CouponCampaign.objects.get().redeemed_count == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_single_use_code_raced_by_50_requests_succeeds_once(require_postgres):
    member = services.member_register(phone="0912345678").member
    tee = make_variant(style_code="RACE")
    [code] = coupons.coupons_issue(campaign=campaign(code_type="unique", min_spend=Decimal(0)), members=[member])
    barrier, lock, outcomes = threading.Barrier(50), threading.Lock(), Counter()

    def redeem(i):
        try:
            barrier.wait(timeout=30)
            coupons.coupon_redeem(code=code.code, lines=cart((tee, 1, "800")), member=member, reference=f"o{i}")
            result = "ok"
        except ConflictError as error:
            result = error.code
        finally:
            connection.close()
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert outcomes == Counter({"ok": 1, "coupon_not_applicable": 49})
    assert Coupon.objects.get().times_used == 1
    assert CouponRedemption.objects.count() == 1
    assert CouponCampaign.objects.get().redeemed_count == 1


def test_wallet_and_validation_over_the_api(clerk_a, store_a, member, tee):
    code = coupons.coupon_create_shared(campaign=campaign(stores=[store_a]), code="STOREA").code
    api = client_for(clerk_a)

    collected = api.post(f"/api/v1/members/{member.member_no}/coupons/", {"code": "storea"}, format="json")
    wallet = api.get(f"/api/v1/members/{member.member_no}/coupons/").json()
    valid = api.post(
        "/api/v1/members/coupons/validate/",
        {
            "code": code,
            "member_no": member.member_no,
            "lines": [{"sku": "TEE-M", "quantity": 1, "unit_price": "590"}],
        },
        format="json",
    ).json()
    unknown = api.post("/api/v1/members/coupons/validate/", {"code": "NOPE", "lines": []}, format="json")

    assert collected.status_code == 201
    assert [w["code"] for w in wallet] == ["STOREA"]
    assert (valid["applies"], valid["discount"]) == (True, "100.00")  # the clerk's store is store A
    assert (unknown.status_code, unknown.json()["code"]) == (404, "coupon_not_found")
    assert Member.objects.count() == 1


def test_validating_a_big_cart_does_not_query_per_line(clerk_a, member, django_assert_max_num_queries):
    from tests.factories import make_product

    for n in range(12):
        make_product(style_code=f"Q{n:02d}", category=make_category(f"women/c{n}"))
    code = coupons.coupon_create_shared(campaign=campaign(categories=[make_category("women")])).code
    lines = [{"sku": f"Q{n:02d}-M", "quantity": 1, "unit_price": "100"} for n in range(12)]
    api = client_for(clerk_a)

    with django_assert_max_num_queries(14):
        body = api.post(
            "/api/v1/members/coupons/validate/",
            {"code": code, "member_no": member.member_no, "lines": lines},
            format="json",
        ).json()

    assert (body["applies"], body["eligible_amount"], body["discount"]) == (True, "1200.00", "100.00")
