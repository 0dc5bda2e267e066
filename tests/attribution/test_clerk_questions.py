"""The questions clerks ask about the referral mechanism, each answered by the services (推薦人機制)."""

from decimal import Decimal

import pytest
from django.utils import timezone

from attribution import services as attribution
from attribution.models import AttributionLine, Binding, OrderAttribution
from members import services as member_services
from omo.core.errors import ApplicationError, NotFoundError
from omo.org import services as org
from orders import services as orders
from orders.models import Order
from tests.attribution.conftest import counter_sale, credited, return_one_in_store_b, web_order


def test_an_app_install_with_my_qr_in_store_a_counts_for_store_a_and_me_until_the_window_ends(
    shop, policy, clock, clerk_a
):
    policy()  # QR registration counts 90 days, 5%, 40% of it to the store
    member = member_services.member_register(
        phone="0922000111", name="新會員", store=shop.store_a, clerk=clerk_a
    ).member
    [binding] = Binding.objects.filter(member=member)
    assert (binding.source, binding.clerk, binding.store) == ("qr_registration", clerk_a, shop.store_a)

    clock(10)
    order = web_order(shop, member, lines=[("TEE-M", 2)])  # NT$1,000 online
    assert credited(order) == [("a.clerk", "S-A", Decimal("1000.00"), Decimal("50.00"))]
    line = AttributionLine.objects.filter(order=order).first()
    assert (line.rule, line.binding, line.store_amount, line.personal_amount) == (
        "latest_binding",
        binding,
        Decimal("20.00"),  # 40% of the line's NT$50 commission (two tees)
        Decimal("30.00"),
    )

    clock(91)
    later = web_order(shop, member)
    assert credited(later) == []
    assert OrderAttribution.objects.get(order=later).rule == "no_binding"


def test_my_referral_code_on_an_online_order_credits_me_and_a_leavers_code_credits_the_store_or_nobody(
    shop, policy, clock, clerk_a, hq_admin
):
    policy()
    code = clerk_a.staff_profile.referral_code
    clock(1)
    mine = web_order(shop, shop.member, referral_code=code)
    assert credited(mine) == [("a.clerk", "S-A", Decimal("500.00"), Decimal("25.00"))]
    assert OrderAttribution.objects.get(order=mine).rule == "referral_code"
    # the code also binds the member to me for the referral window
    assert Binding.objects.get(member=shop.member, source="referral_link").clerk == clerk_a

    org.staff_deactivate(actor=hq_admin, profile=clerk_a.staff_profile)  # the clerk leaves
    clock(2)
    stranger = member_services.member_register(phone="0922000222").member
    after = web_order(shop, stranger, referral_code=code)
    assert credited(after) == [("", "S-A", Decimal("500.00"), Decimal("25.00"))]  # the store only
    assert AttributionLine.objects.get(order=after).store_amount == Decimal("25.00")

    policy_nobody = attribution.policy_create(actor=hq_admin, based_on=mine.attribution.policy, departed_clerk="nobody")
    clock(3)
    attribution.policy_adopt(actor=hq_admin, policy=policy_nobody)
    clock(4)
    third = web_order(shop, member_services.member_register(phone="0922000333").member, referral_code=code)
    assert credited(third) == []
    assert OrderAttribution.objects.get(order=third).rule == "referral_code_departed"


def test_my_vip_i_chat_with_on_line_buys_online_within_the_line_window(shop, policy, clock, clerk_a):
    policy()  # a LINE conversation counts 30 days
    clock(1)
    chat = attribution.binding_chat_record(
        actor=clerk_a, member=shop.member, store=shop.store_a, note="Asked about the new jeans on LINE"
    )
    assert (chat.source, chat.counts) == ("line_chat", True)
    clock(20)
    assert credited(web_order(shop, shop.member, lines=[("JEANS-M", 1)])) == [
        ("a.clerk", "S-A", Decimal("1200.00"), Decimal("60.00"))
    ]
    clock(32)
    assert credited(web_order(shop, shop.member)) == []


def test_a_store_that_served_a_member_once_is_not_credited_a_year_later(shop, policy, clock, clerk_a):
    policy()
    sale = counter_sale(shop, clerk_a, shop.store_a, shop.member)
    assert credited(sale) == [("a.clerk", "S-A", Decimal("300.00"), Decimal("15.00"))]
    assert OrderAttribution.objects.get(order=sale).rule == "pos_sale"
    clock(365)
    assert credited(web_order(shop, shop.member)) == []


@pytest.mark.parametrize(
    ("conflict", "expected"),
    [
        ("latest", [("b.clerk", "S-B", Decimal("500.00"), Decimal("25.00"))]),
        ("first", [("a.clerk", "S-A", Decimal("500.00"), Decimal("25.00"))]),
        (
            "split",
            [
                ("a.clerk", "S-A", Decimal("250.00"), Decimal("12.50")),
                ("b.clerk", "S-B", Decimal("250.00"), Decimal("12.50")),
            ],
        ),
    ],
)
def test_store_b_serves_the_member_inside_store_a_window(shop, policy, clock, clerk_a, clerk_b, conflict, expected):
    policy(conflict=conflict)
    clock(1)
    counter_sale(shop, clerk_a, shop.store_a, shop.member)
    clock(5)
    counter_sale(shop, clerk_b, shop.store_b, shop.member)  # inside A's 30 days
    clock(8)
    order = web_order(shop, shop.member)
    assert credited(order) == expected
    assert {line.rule for line in AttributionLine.objects.filter(order=order)} == {
        {"latest": "latest_binding", "first": "first_binding", "split": "split"}[conflict]
    }


def test_a_split_gives_the_odd_cent_to_the_first_and_loses_nothing(shop, policy, clock, clerk_a, clerk_b, manager_a):
    policy(conflict="split", validity_days={"pos_sale": 30, "line_chat": 30})
    clock(1)
    for clerk, store in ((clerk_a, shop.store_a), (clerk_b, shop.store_b), (manager_a, shop.store_a)):
        attribution.binding_chat_record(actor=clerk, member=shop.member, store=store, note="chat")
    clock(2)
    order = web_order(shop, shop.member)  # NT$500 in three
    bases = [line.base for line in AttributionLine.objects.filter(order=order).order_by("pk")]
    assert bases == [Decimal("166.68"), Decimal("166.66"), Decimal("166.66")]
    assert sum(bases) == Decimal("500.00")


def test_a_clerk_cannot_be_taken_over_inside_the_waiting_period(shop, policy, clock, clerk_a, clerk_b):
    policy(rebind_wait_days=14)
    clock(1)
    counter_sale(shop, clerk_a, shop.store_a, shop.member)
    clock(6)
    counter_sale(shop, clerk_b, shop.store_b, shop.member)  # B's sale counts for B, but B does not take the member
    blocked = Binding.objects.get(member=shop.member, clerk=clerk_b)
    assert (blocked.counts, blocked.blocked_by.clerk) == (False, clerk_a)
    clock(8)
    assert credited(web_order(shop, shop.member))[0][:2] == ("a.clerk", "S-A")
    clock(20)  # after the waiting period B's next sale takes the member
    counter_sale(shop, clerk_b, shop.store_b, shop.member)
    clock(21)
    assert credited(web_order(shop, shop.member))[0][:2] == ("b.clerk", "S-B")


def test_a_return_processed_by_another_clerk_is_clawed_back_from_the_original_clerk(
    shop, policy, clock, clerk_a, clerk_b
):
    policy()
    clock(1)
    counter_sale(shop, clerk_a, shop.store_a, shop.member)
    clock(3)
    order = web_order(shop, shop.member, lines=[("TEE-M", 2)])  # credited to A: NT$1,000, NT$50
    orders.order_ship(order=order, location=shop.warehouse, tracking="T1")
    clock(5)
    line = order.lines.get()
    ret = return_one_in_store_b(shop, order, line, clerk_b)
    taken = attribution.return_claw_back(ret=ret)
    assert [(t.clerk, t.store, t.base, t.commission, t.kind) for t in taken] == [
        (clerk_a, shop.store_a, Decimal("-500.00"), Decimal("-25.00"), "clawback")
    ]
    assert attribution.return_claw_back(ret=ret) == taken  # once only
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from attribution.selectors import explain_all, line_list

    def queries_to_explain(lines) -> int:
        with CaptureQueriesContext(connection) as seen:
            explain_all(lines)
        return len(seen)

    mine = line_list(user=clerk_a).filter(order=order)
    assert queries_to_explain(mine) == queries_to_explain(mine.filter(kind="sale"))  # none per line
    total = sum(AttributionLine.objects.filter(order=order).values_list("commission", flat=True))
    assert total == Decimal("25.00")


def test_an_order_is_attributed_once_under_the_policy_in_force_when_it_was_paid(shop, policy, clock, clerk_a, hq_admin):
    first = policy()
    clock(1)
    attribution.binding_chat_record(actor=clerk_a, member=shop.member, store=shop.store_a, note="chat")
    order = web_order(shop, shop.member)
    second = attribution.policy_create(actor=hq_admin, based_on=first, default_rate="0.08", note="more for all")
    clock(2)
    attribution.policy_adopt(actor=hq_admin, policy=second)
    clock(3)
    later = web_order(shop, shop.member)
    assert attribution.order_attribute(order=order).policy == first  # again: the first result
    assert AttributionLine.objects.filter(order=order).count() == 1
    assert (later.attribution.policy, credited(later)[0][3]) == (second, Decimal("40.00"))
    assert (first.version, second.version) == (1, 2)


def test_rates_by_category_and_channel_exclusions_and_the_age_of_the_binding(shop, policy, clock, clerk_a):
    policy(
        category_rates={"women": "0.06", "women/bottoms": "0.10"},
        channel_rates={"WEB": "0.04"},
        excluded_categories=["accessories"],
        age_factors=[[0, "1"], [15, "0.5"]],
    )
    clock(1)
    attribution.binding_chat_record(actor=clerk_a, member=shop.member, store=shop.store_a, note="chat")
    clock(3)
    order = web_order(shop, shop.member, lines=[("TEE-M", 1), ("JEANS-M", 1), ("CAP-M", 1)])
    [line] = AttributionLine.objects.filter(order=order)  # one credit: one line, with each order line's part
    skus = dict(order.lines.values_list("pk", "sku"))
    assert {skus[i.line_id]: (i.base, i.rate, i.commission) for i in line.items} == {
        "TEE-M": (Decimal("500.00"), Decimal("0.06"), Decimal("30.00")),  # women: 6%
        "JEANS-M": (Decimal("1200.00"), Decimal("0.10"), Decimal("120.00")),  # women/bottoms: 10%
    }  # the cap (accessories) is excluded
    assert (line.base, line.rate, line.factor, line.commission) == (
        Decimal("1700.00"),
        None,  # the lines' rates differ
        Decimal("1.0000"),
        Decimal("150.00"),
    )
    from attribution.selectors import explain

    explained = explain(line)  # each line's part, in words and data
    assert [(p["sku"], p["base"], p["rate"], p["commission"]) for p in explained["lines"]] == [
        ("TEE-M", "500.00", "0.0600", "30.00"),
        ("JEANS-M", "1200.00", "0.1000", "120.00"),
    ]
    assert "TEE-M 500.00 x rate 0.0600; JEANS-M 1200.00 x rate 0.1000" in explained["explanation"]
    clock(20)  # the binding is 19 days old: half the rate
    older = web_order(shop, shop.member, lines=[("TEE-M", 1)])
    assert AttributionLine.objects.get(order=older).commission == Decimal("15.00")


def test_points_and_coupons_lower_the_base_to_what_the_member_paid(shop, policy, clock, clerk_a):
    from tests.orders.conftest import shared_coupon

    policy()
    member_services.points_earn(member=shop.member, points=100, reference="GIFT")
    clock(1)
    attribution.binding_chat_record(actor=clerk_a, member=shop.member, store=shop.store_a, note="chat")
    shared_coupon("FIFTY", 50)
    order = web_order(shop, shop.member, lines=[("JEANS-M", 1)], coupon_code="FIFTY", points=100)
    assert order.total == Decimal("1050.00")
    assert credited(order) == [("a.clerk", "S-A", Decimal("1050.00"), Decimal("52.50"))]


def test_policies_are_checked_and_adopted_versions_never_change(shop, policy, clock, hq_admin, clerk_a):
    adopted = policy()
    with pytest.raises(ApplicationError) as bad:
        attribution.policy_create(actor=hq_admin, based_on=adopted, default_rate="5")
    assert bad.value.code == "invalid_rate"
    with pytest.raises(ApplicationError) as unknown:
        attribution.policy_create(actor=hq_admin, based_on=adopted, validity_days={"telepathy": 3})
    assert unknown.value.code == "unknown_source"
    from omo.core.errors import ConflictError, PermissionDeniedError

    with pytest.raises(ConflictError):
        attribution.policy_adopt(actor=hq_admin, policy=adopted)
    with pytest.raises(PermissionDeniedError):
        attribution.policy_create(actor=clerk_a, based_on=adopted)
    assert list(attribution.Policy.objects.values_list("version", flat=True)) == [1]


def test_the_referral_code_resolves_for_the_frontends(shop, clerk_a, hq_admin):
    code = clerk_a.staff_profile.referral_code
    assert attribution.referral_resolve(code.lower()) == {
        "code": code,
        "clerk": clerk_a.staff_profile.display_name,
        "store": {"code": "S-A", "name": "Store A"},
    }
    org.staff_deactivate(actor=hq_admin, profile=clerk_a.staff_profile)
    with pytest.raises(NotFoundError):
        attribution.referral_resolve(code)


def test_a_paid_order_cancelled_and_refunded_takes_back_everything_it_credited(shop, policy, clock, clerk_a):
    policy()
    clock(1)
    attribution.binding_chat_record(actor=clerk_a, member=shop.member, store=shop.store_a, note="chat")
    order = orders.order_place(
        channel=shop.web, lines=[("TEE-M", 2)], fulfilment="pickup", member=shop.member, store=shop.store_a
    )
    orders.order_pay(order=order, tenders=[{"tender": "card", "token": "tok_visa"}])
    attribution.order_attribute(order=order)
    assert credited(order) == [("a.clerk", "S-A", Decimal("1000.00"), Decimal("50.00"))]
    clock(3)
    orders.order_cancel(order=order, reason="not collected")
    taken = attribution.order_cancel_claw_back(order=order)
    assert [(t.kind, t.rule, t.base, t.commission, t.clerk) for t in taken] == [
        ("clawback", "cancelled", Decimal("-1000.00"), Decimal("-50.00"), clerk_a)
    ]
    assert attribution.order_cancel_claw_back(order=order) == taken  # once
    lines = AttributionLine.objects.filter(order=order)
    assert sum(lines.values_list("commission", flat=True)) == Decimal(0)
    from attribution.selectors import explain

    assert "was cancelled and refunded" in explain(taken[0])["explanation"]


def test_a_cancellation_after_a_return_takes_back_exactly_what_is_left_of_every_part(
    shop, policy, clock, clerk_a, clerk_b, manager_a
):
    """Split three ways (odd cents), one tee of two returned, then the order cancelled: each clerk's
    sale, return and cancellation add up to zero in base, commission, store and personal parts, and
    line by line (with a 35% store share, the store part of what is left is not 35% of it rounded)."""
    policy(conflict="split", validity_days={"pos_sale": 30, "line_chat": 30}, store_share="0.35")
    clock(1)
    for clerk, store in ((clerk_a, shop.store_a), (clerk_b, shop.store_b), (manager_a, shop.store_a)):
        attribution.binding_chat_record(actor=clerk, member=shop.member, store=store, note="chat")
    clock(2)
    order = web_order(shop, shop.member, lines=[("TEE-M", 2), ("JEANS-M", 1)])
    orders.order_ship(order=order, location=shop.warehouse, tracking="T1")
    tee = order.lines.get(sku="TEE-M")
    ret = return_one_in_store_b(shop, order, tee, clerk_b)
    returned = attribution.return_claw_back(ret=ret)
    assert len(returned) == 3 and all(len(r.items) == 1 for r in returned)  # the tee's part, per credit
    # the rule under test is what a cancellation takes back after a return: the status is set here
    Order.objects.filter(pk=order.pk).update(status="cancelled", cancelled_at=timezone.now())

    cancelled = attribution.order_cancel_claw_back(order=order)

    assert len(cancelled) == 3
    lines = list(AttributionLine.objects.filter(order=order))
    for clerk in (clerk_a, clerk_b, manager_a):
        mine = [line for line in lines if line.clerk_id == clerk.pk]
        for part in ("base", "commission", "store_amount", "personal_amount"):
            assert sum(getattr(line, part) for line in mine) == 0, (clerk.username, part)
        per_line: dict = {}
        for line in mine:
            for i in line.items:
                per_line[i.line_id] = per_line.get(i.line_id, Decimal(0)) + i.commission
        assert set(per_line.values()) == {Decimal(0)}
