import threading
from collections import Counter
from datetime import date, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from members import selectors, services
from members.models import Consent, Identity, Member, PointsEntry, PointsLot
from omo.core.errors import ApplicationError, ConflictError
from tests.conftest import client_for
from tests.factories import SalesChannelFactory


def register(**kwargs) -> Member:
    return services.member_register(**kwargs).member


def books_balance(member: Member) -> None:
    member.refresh_from_db()
    assert member.points_balance == (PointsEntry.objects.filter(member=member).aggregate(s=Sum("points"))["s"] or 0)
    assert member.points_balance >= 0
    open_points = PointsLot.objects.filter(member=member).aggregate(s=Sum("remaining"))["s"] or 0
    assert open_points == member.points_balance


# --- identity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0912-345-678", "+886912345678"),
        ("0912 345 678", "+886912345678"),
        ("+886 912 345 678", "+886912345678"),
        ("(02) 2722-0101", "+886227220101"),
        ("+81 90-1234-5678", "+819012345678"),
    ],
)
def test_phones_are_normalised_to_e164(raw, e164):
    assert services.normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["12345", "0912-345", "not a phone", ""])
def test_malformed_phones_are_refused(raw):
    with pytest.raises(ApplicationError) as error:
        services.normalize_phone(raw)
    assert error.value.code == "invalid_phone"


def test_one_person_through_every_door_is_one_member(db, store_a, clerk_a):
    web = SalesChannelFactory(code="WEB", kind="web")
    first = services.member_register(
        phone="0912-345-678", name="王小明", store=store_a, clerk=clerk_a, consents={"sms": True}
    )

    by_email = services.member_register(email="Ming@Example.COM ", phone="+886912345678", channel=web)
    by_line = services.member_register(phone="0912345678", identities={"line": "U1234"})
    again = services.member_register(identities={"line": "U1234"}, email="ming@example.com")

    member = first.member
    assert first.created and not by_email.created and not by_line.created and not again.created
    assert {by_email.member.pk, by_line.member.pk, again.member.pk} == {member.pk}
    member.refresh_from_db()
    assert (member.phone, member.email, member.registered_store, member.registered_by) == (
        "+886912345678",
        "ming@example.com",
        store_a,
        clerk_a,
    )
    assert list(member.identities.values_list("provider", "external_id")) == [("line", "U1234")]
    assert Consent.objects.get(member=member).granted is True
    assert Member.objects.count() == 1


def test_details_of_two_different_members_are_a_conflict_and_change_nothing(db):
    register(phone="0912-345-678")
    register(email="other@example.com")

    with pytest.raises(ConflictError) as error:
        services.member_register(phone="0912345678", email="other@example.com", identities={"line": "U9"})

    assert error.value.code == "duplicate_members"
    assert len(error.value.details["members"]) == 2
    assert Identity.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"identities": {"myspace": "x"}}, "unknown_identity_provider"),
        ({"email": "not-an-email"}, "invalid_email"),
        ({}, "contact_required"),
        ({"phone": "0912345678", "consents": {"fax": True}}, "unknown_consent"),
    ],
)
def test_bad_registrations_are_refused_and_create_nothing(db, kwargs, code):
    with pytest.raises(ApplicationError) as error:
        services.member_register(**kwargs)

    assert error.value.code == code
    assert Member.objects.count() == 0


def test_database_refuses_two_members_with_one_phone(db):
    register(phone="0912345678")

    with pytest.raises(IntegrityError), transaction.atomic():
        Member.objects.create(member_no="M1", referral_code="AAAAAAAA", phone="+886912345678")


def test_masks_for_the_counter():
    assert selectors.mask_phone("+886912345678") == "0912-***-678"
    assert selectors.mask_email("ming@example.com") == "m***@example.com"
    assert selectors.mask_name("王小明") == "王*明"
    assert selectors.mask_name("林瑋") == "林*"


# --- points -----------------------------------------------------------------------------------------


def test_redemption_takes_the_earliest_expiring_points_first_and_partially(db):
    member = register(phone="0912345678")
    today = timezone.localdate()
    services.points_earn(member=member, points=100, reference="order:2", expires_on=today + timedelta(days=300))
    services.points_earn(member=member, points=50, reference="order:1", expires_on=today + timedelta(days=10))

    services.points_redeem(member=member, points=70, reference="order:3")

    lots = list(PointsLot.objects.filter(member=member).order_by("expires_on").values_list("remaining", flat=True))
    assert lots == [0, 80]
    member.refresh_from_db()
    assert member.points_balance == 80
    books_balance(member)


def test_redeeming_more_than_held_is_refused_and_changes_nothing(db):
    member = register(phone="0912345678")
    services.points_earn(member=member, points=30, reference="order:1")

    with pytest.raises(ConflictError) as error:
        services.points_redeem(member=member, points=31, reference="order:2")

    assert (error.value.code, error.value.details) == ("insufficient_points", {"available": 30, "requested": 31})
    assert PointsEntry.objects.count() == 1
    books_balance(member)


def test_points_past_their_date_cannot_be_spent_and_the_job_expires_them(db):
    member = register(phone="0912345678")
    today = timezone.localdate()
    services.points_earn(member=member, points=40, reference="a", expires_on=today)
    PointsLot.objects.filter(member=member).update(expires_on=today - timedelta(days=1))  # a day passes
    services.points_earn(member=member, points=10, reference="b")

    with pytest.raises(ConflictError):
        services.points_redeem(member=member, points=11, reference="c")
    expired = services.points_expire_due()

    assert expired == 40
    member.refresh_from_db()
    assert member.points_balance == 10
    assert PointsEntry.objects.filter(kind="expire").get().points == -40
    assert services.points_expire_due() == 0
    books_balance(member)


def test_default_expiry_is_the_end_of_the_following_year(settings):
    assert services.default_points_expiry(date(2026, 3, 1)) == date(2027, 12, 31)
    settings.MEMBER_POINTS_EXPIRY = "days:365"
    assert services.default_points_expiry(date(2026, 3, 1)) == date(2027, 3, 1)


def test_reversing_an_order_takes_back_earned_points_and_gives_back_redeemed_ones_once(db):
    member = register(phone="0912345678")
    services.points_earn(member=member, points=100, reference="order:1")
    services.points_redeem(member=member, points=60, reference="order:2")
    services.points_earn(member=member, points=12, reference="order:2")

    first = services.points_reverse(member=member, reference="order:2")
    second = services.points_reverse(member=member, reference="order:2")

    assert [e.points for e in first] == [48]  # 60 redeemed given back, 12 earned taken back
    assert second == []
    member.refresh_from_db()
    assert member.points_balance == 100
    books_balance(member)


def test_adjustment_needs_a_reason_and_the_role(db, clerk_a, hq_admin):
    member = register(phone="0912345678")

    with pytest.raises(ApplicationError) as no_reason:
        services.points_adjust(member=member, points=5, reason=" ", actor=hq_admin)
    with pytest.raises(ApplicationError) as clerk:
        services.points_adjust(member=member, points=5, reason="goodwill", actor=clerk_a)
    services.points_adjust(member=member, points=5, reason="goodwill", actor=hq_admin)

    assert (no_reason.value.code, clerk.value.code) == ("reason_required", "permission_denied")
    assert PointsEntry.objects.get().created_by == hq_admin
    books_balance(member)


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["earn", "redeem", "expire", "reverse", "adjust"]), st.integers(-5, 80), st.integers(0, 3)
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_any_sequence_of_points_operations_keeps_balance_equal_to_the_ledger(db, operations):
    savepoint = transaction.savepoint()
    try:
        member = register(phone="0912345678")
        today = timezone.localdate()
        for kind, points, ref in operations:
            before = (Member.objects.get(pk=member.pk).points_balance, PointsEntry.objects.count())
            try:
                with transaction.atomic():
                    if kind == "earn":
                        services.points_earn(
                            member=member,
                            points=points,
                            reference=f"o{ref}",
                            expires_on=today + timedelta(days=ref * 10),
                        )
                    elif kind == "redeem":
                        services.points_redeem(member=member, points=points, reference=f"o{ref}")
                    elif kind == "expire":
                        services.points_expire_due(today=today + timedelta(days=ref * 10))
                    elif kind == "reverse":
                        services.points_reverse(member=member, reference=f"o{ref}")
                    else:
                        services.points_adjust(member=member, points=points, reason="test", actor=None)
            except ApplicationError:
                assert (Member.objects.get(pk=member.pk).points_balance, PointsEntry.objects.count()) == before
            books_balance(member)
    finally:
        transaction.savepoint_rollback(savepoint)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_50_concurrent_redemptions_never_take_the_balance_below_zero(require_postgres):
    member = register(phone="0912345678")
    services.points_earn(member=member, points=100, reference="order:1")
    barrier, lock, outcomes = threading.Barrier(50), threading.Lock(), Counter()

    def redeem(i):
        try:
            barrier.wait(timeout=30)
            services.points_redeem(member=member, points=7, reference=f"order:{i}")
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

    assert outcomes == Counter({"ok": 14, "insufficient_points": 36})  # 14 x 7 = 98 of 100
    member.refresh_from_db()
    assert member.points_balance == 2
    books_balance(member)


# --- API --------------------------------------------------------------------------------------------


def test_clerk_registers_at_the_counter_and_a_second_time_links_instead(clerk_a, store_a):
    api = client_for(clerk_a)

    first = api.post("/api/v1/members/register/", {"phone": "0912-345-678", "name": "王小明"}, format="json")
    second = api.post("/api/v1/members/register/", {"phone": "0912345678", "identities": {"line": "U7"}}, format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["phone"] == "0912-***-678"
    assert first.json()["name"] == "王*明"
    assert second.json()["member_no"] == first.json()["member_no"]
    member = Member.objects.get()
    assert (member.registered_store, member.registered_by) == (store_a, clerk_a)


def test_clerk_lookup_by_phone_or_qr_is_masked_and_unknown_is_404(clerk_a):
    member = register(phone="0912345678", email="ming@example.com", name="王小明")
    services.points_earn(member=member, points=25, reference="order:1")
    api = client_for(clerk_a)

    by_phone = api.get("/api/v1/members/lookup/", {"phone": "0912-345-678"}).json()
    by_qr = api.get("/api/v1/members/lookup/", {"code": member.member_no}).json()
    unknown = api.get("/api/v1/members/lookup/", {"phone": "0987654321"})
    bad = api.get("/api/v1/members/lookup/", {"phone": "12"})

    assert (
        by_phone
        == by_qr
        == {
            "member_no": member.member_no,
            "name": "王*明",
            "phone": "0912-***-678",
            "email": "m***@example.com",
            "points_balance": 25,
            "points_available": 25,
            "status": "active",
        }
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "member_not_found")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_phone")
