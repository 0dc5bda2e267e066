"""Duplicate members: found, merged with everything they hold, and never losing data or points."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from members import coupons, loyalty, merging, services
from members.models import (
    Consent,
    CouponCampaign,
    DuplicateCandidate,
    Identity,
    Member,
    MemberMerge,
    MemberTier,
    PointsLot,
    ProfileEntry,
    ProfileGroup,
    Purchase,
    Tier,
    WalletCoupon,
    WishlistItem,
)
from omo.core.errors import BusinessRuleError, ConflictError, PermissionDeniedError
from tests.factories import SalesChannelFactory, make_variant, points_books, register_member

register = register_member


books_balance = points_books


@pytest.fixture
def pos(db):
    return SalesChannelFactory(code="POS", kind="pos")


@pytest.fixture
def unique_campaign(db):
    now = timezone.now()
    return coupons.campaign_create(
        name="生日禮",
        discount_type="amount",
        amount=Decimal(100),
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        code_type=CouponCampaign.Codes.UNIQUE,
    )


def test_merge_moves_everything_and_keeps_a_record(hq_admin, pos, store_a, unique_campaign):
    Tier.objects.create(code="MEMBER", name="一般", rank=0, min_spend_12m=0)
    Tier.objects.create(code="GOLD", name="金卡", rank=1, min_spend_12m=Decimal(1000))
    keep = register(phone="0912000001", name="王小明", identities={"line": "U-keep"}, consents={"sms": True})
    dup = register(email="ming@example.com", identities={"facebook": "fb-1", "line": "U-dup"}, consents={"email": True})
    services.points_earn(member=keep, points=100, reference="K")
    services.points_earn(member=dup, points=70, reference="D", expires_on=timezone.localdate() + timedelta(days=5))
    loyalty.purchase_record(member=dup, reference="ORDER-9", channel=pos, store=store_a, amount=Decimal(1200))
    [coupon] = coupons.coupons_issue(campaign=unique_campaign, members=[dup])
    tee, cap = make_variant(style_code="TEE"), make_variant(style_code="CAP")
    services.wishlist_add(member=keep, variant=tee)
    services.wishlist_add(member=dup, variant=tee)
    services.wishlist_add(member=dup, variant=cap)
    group = ProfileGroup.objects.create(key="pets", label="毛孩")
    ProfileEntry.objects.create(member=dup, group=group, values={"name": "Mochi"})

    record = merging.member_merge(survivor=keep, merged=dup, actor=hq_admin)

    keep.refresh_from_db()
    dup.refresh_from_db()
    assert (keep.email, keep.phone, keep.name) == ("ming@example.com", "+886912000001", "王小明")
    assert (dup.status, dup.merged_into, dup.phone, dup.email, dup.points_balance) == ("merged", keep, None, None, 0)
    assert set(Identity.objects.filter(member=keep).values_list("provider", "external_id")) == {
        ("line", "U-keep"),
        ("line", "U-dup"),
        ("facebook", "fb-1"),
    }
    assert set(Consent.objects.filter(member=keep).values_list("purpose", flat=True)) == {"sms", "email"}
    assert Purchase.objects.get(reference="ORDER-9").member == keep
    assert WalletCoupon.objects.get(coupon=coupon).member == keep
    coupon.refresh_from_db()
    assert coupon.member == keep
    assert set(WishlistItem.objects.filter(member=keep).values_list("variant__sku", flat=True)) == {tee.sku, cap.sku}
    assert ProfileEntry.objects.get().member == keep
    assert MemberTier.objects.get(member=keep).tier.code == "GOLD"
    assert not MemberTier.objects.filter(member=dup).exists()
    assert books_balance(keep) == 170
    assert books_balance(dup) == 0
    assert PointsLot.objects.filter(member=keep).count() == 2  # the lots keep their own expiry dates
    assert record.merged_values["email"] == "ming@example.com"
    assert record.points_moved == 70
    assert record.moved["members.purchase.member"] == 1
    assert record.moved["members.identity.member"] == 2
    assert record.merged_by == hq_admin
    # the merged member's number still finds the person
    assert Member.objects.get(member_no=dup.member_no).merged_into == keep


def test_different_values_of_one_detail_are_refused_until_hq_chooses(hq_admin):
    keep = register(phone="0912000002", name="王小明")
    dup = register(phone="0912000003", name="王曉明", email="x@example.com")
    keep.profile = {"shoe_size": 24}
    keep.save()
    dup.profile = {"shoe_size": 25, "skin": "dry"}
    dup.save()

    with pytest.raises(ConflictError) as error:
        merging.member_merge(survivor=keep, merged=dup, actor=hq_admin)

    assert error.value.code == "merge_conflict"
    assert error.value.details == {
        "conflicts": [
            {"field": "name", "survivor": "王小明", "merged": "王曉明"},
            {"field": "phone", "survivor": "+886912000002", "merged": "+886912000003"},
            {"field": "profile.shoe_size", "survivor": 24, "merged": 25},
        ]
    }
    assert Member.objects.get(pk=dup.pk).status == "active"
    assert not MemberMerge.objects.exists()

    record = merging.member_merge(
        survivor=keep,
        merged=dup,
        actor=hq_admin,
        choices={"name": "survivor", "phone": "merged", "profile.shoe_size": "merged"},
    )

    keep.refresh_from_db()
    assert (keep.name, keep.phone, keep.email) == ("王小明", "+886912000003", "x@example.com")
    assert keep.profile == {"shoe_size": 25, "skin": "dry"}
    # the value not kept is in the record: nothing is lost
    assert record.merged_values["name"] == "王曉明"
    assert record.choices == {"name": "survivor", "phone": "merged", "profile.shoe_size": "merged"}


def test_merge_refusals(hq_admin, clerk_a):
    a = register(phone="0912000004")
    b = register(phone="0912000005")
    with pytest.raises(BusinessRuleError) as same:
        merging.member_merge(survivor=a, merged=a, actor=hq_admin)
    with pytest.raises(PermissionDeniedError):
        merging.member_merge(survivor=a, merged=b, actor=clerk_a)
    with pytest.raises(BusinessRuleError) as bad_choice:
        merging.member_merge(survivor=a, merged=b, actor=hq_admin, choices={"phone": "both"})
    merging.member_merge(survivor=a, merged=b, actor=hq_admin, choices={"phone": "survivor"})
    with pytest.raises(BusinessRuleError) as again:
        merging.member_merge(survivor=a, merged=b, actor=hq_admin)

    assert (same.value.code, bad_choice.value.code, again.value.code) == (
        "merge_same_member",
        "invalid_merge_choice",
        "member_inactive",
    )


def test_a_chain_of_merges_points_at_the_last_survivor(hq_admin):
    a, b, c = (register(phone=f"091200001{i}") for i in range(3))
    merging.member_merge(survivor=b, merged=a, actor=hq_admin, choices={"phone": "survivor"})
    merging.member_merge(survivor=c, merged=b, actor=hq_admin, choices={"phone": "survivor"})

    assert Member.objects.get(pk=a.pk).merged_into == c
    assert Member.objects.get(pk=b.pk).merged_into == c


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["keep", "dup"]), st.sampled_from(["earn", "redeem", "reverse"]), st.integers(1, 500)
        ),
        max_size=12,
    )
)
def test_merge_keeps_the_total_points_of_the_two(hq_admin, ops):
    keep = Member.objects.create(member_no=f"K{Member.objects.count():09d}", referral_code=f"K{Member.objects.count()}")
    dup = Member.objects.create(member_no=f"D{Member.objects.count():09d}", referral_code=f"D{Member.objects.count()}")
    members = {"keep": keep, "dup": dup}
    for n, (who, op, points) in enumerate(ops):
        member = members[who]
        try:
            if op == "earn":
                services.points_earn(member=member, points=points, reference=f"O{n}")
            elif op == "redeem":
                services.points_redeem(member=member, points=points, reference=f"O{n}")
            else:
                services.points_reverse(member=member, reference=f"O{n - 1}")
        except ConflictError:
            pass
    total = books_balance(keep) + books_balance(dup)

    merging.member_merge(survivor=keep, merged=dup, actor=hq_admin)

    assert books_balance(keep) == total
    assert books_balance(dup) == 0


# --- finding duplicates -----------------------------------------------------------------------------


def test_a_sign_up_with_details_of_two_members_puts_them_on_the_list(db):
    a = register(phone="0912000020")
    b = register(email="b@example.com")

    with pytest.raises(ConflictError) as error:
        services.member_register(phone="0912000020", email="b@example.com")

    assert error.value.details == {"members": sorted([a.member_no, b.member_no])}
    candidate = DuplicateCandidate.objects.get()
    assert (candidate.first, candidate.second, candidate.reason) == (a, b, "sign_up")


def test_nightly_search_finds_same_name_and_birthday_and_mailbox_aliases(hq_admin):
    a = register(phone="0912000021", name="陳美玲")
    b = register(phone="0912000022", name="陳美玲")
    c = register(phone="0912000023", name="陳美玲")  # no birthday: not enough
    for m in (a, b):
        services.member_update(member=m, birthday=date(1990, 5, 1))
    d = register(email="mei.ling@gmail.com")
    e = register(email="meiling+shop@googlemail.com")
    f = register(email="meiling@example.com")
    g = register(email="meiling+tw@example.com")

    assert merging.duplicates_find() == 3
    assert merging.duplicates_find() == 0

    pairs = set(DuplicateCandidate.objects.values_list("first", "second", "reason"))
    assert pairs == {(a.pk, b.pk, "name_birthday"), (d.pk, e.pk, "email_alias"), (f.pk, g.pk, "email_alias")}
    assert c.pk not in {p for pair in pairs for p in pair[:2]}

    dismissed = DuplicateCandidate.objects.get(first=a)
    merging.duplicate_dismiss(candidate=dismissed, actor=hq_admin)
    DuplicateCandidate.objects.exclude(pk=dismissed.pk).delete()
    assert merging.duplicates_find() == 2  # the dismissed pair is not suggested again


def test_merging_settles_the_pair_and_moves_other_suspicions_to_the_survivor(hq_admin):
    a = register(phone="0912000031")
    b = register(phone="0912000032")
    c = register(phone="0912000033")
    merging.duplicate_candidates_record(member_ids=[a.pk, b.pk, c.pk], evidence={})

    merging.member_merge(survivor=a, merged=b, actor=hq_admin, choices={"phone": "survivor"})

    rows = set(DuplicateCandidate.objects.values_list("first", "second", "status"))
    assert rows == {(a.pk, b.pk, "merged"), (a.pk, c.pk, "open")}
