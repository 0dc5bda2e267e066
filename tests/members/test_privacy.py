"""Personal data (Taiwan PDPA): export everything held, erase the person but keep the figures, delete
only a member with no history."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Sum

from members import auth, loyalty, merging, privacy, services
from members.models import (
    Consent,
    DuplicateCandidate,
    Identity,
    LoginCode,
    Member,
    MemberErasure,
    PointsEntry,
    Purchase,
    WishlistItem,
)
from omo.core.errors import BusinessRuleError, ConflictError, PermissionDeniedError
from omo.org import services as org
from tests.conftest import client_for
from tests.factories import SalesChannelFactory, make_variant


def register(**kwargs) -> Member:
    return services.member_register(**kwargs).member


@pytest.fixture
def pos(db):
    return SalesChannelFactory(code="POS", kind="pos")


@pytest.fixture
def person(pos, store_a):
    member = register(
        phone="0912345678",
        email="mei@example.com",
        name="林美華",
        identities={"line": "U123"},
        consents={"sms": True, "line": False},
    )
    services.member_update(member=member, birthday=date(1988, 3, 9))
    services.points_earn(member=member, points=300, reference="ORDER-1")
    loyalty.purchase_record(member=member, reference="ORDER-1", channel=pos, store=store_a, amount=Decimal(3000))
    services.wishlist_add(member=member, variant=make_variant(style_code="TEE"))
    member.refresh_from_db()
    return member


def test_the_export_holds_everything_about_the_person(person):
    data = privacy.member_export(member=person)

    assert data["member"]["phone"] == "+886912345678"
    assert data["member"]["name"] == "林美華"
    assert data["member"]["birthday"] == "1988-03-09"
    assert data["identities"][0]["provider"] == "line"
    assert [(c["purpose"], c["granted"]) for c in data["consents"]] == [("sms", True), ("line", False)]
    assert [(e["kind"], e["points"]) for e in data["points_entries"]] == [("earn", 300)]
    assert [(p["reference"], p["amount"]) for p in data["purchases"]] == [("ORDER-1", "3000.00")]
    assert len(data["wishlist"]) == 1
    json.dumps(data, cls=DjangoJSONEncoder)  # all plain data


def test_erasure_removes_the_person_and_keeps_the_figures(person, hq_admin):
    auth.login_code_send(phone="0912345678")
    other = register(phone="0912000999")
    merging.duplicate_candidates_record(member_ids=[person.pk, other.pk], evidence={})

    erasure = privacy.member_erase(member=person, actor=hq_admin, reason="PDPA request #42")

    person.refresh_from_db()
    assert (person.name, person.phone, person.email, person.birthday, person.profile) == ("", None, None, None, {})
    assert person.status == "erased"
    assert not Identity.objects.filter(member=person).exists()
    assert not Consent.objects.filter(member=person).exists()
    assert not WishlistItem.objects.filter(member=person).exists()
    assert not LoginCode.objects.filter(phone="+886912345678").exists()
    assert not DuplicateCandidate.objects.exists()
    # the figures stay: the purchase, and the points ledger with the forfeit
    assert Purchase.objects.get(reference="ORDER-1").member == person
    assert list(PointsEntry.objects.filter(member=person).order_by("id").values_list("kind", "points")) == [
        ("earn", 300),
        ("adjust", -300),
    ]
    assert person.points_balance == 0 == PointsEntry.objects.filter(member=person).aggregate(s=Sum("points"))["s"]
    assert (erasure.points_forfeited, erasure.erased_by, erasure.reason) == (300, hq_admin, "PDPA request #42")
    # the phone is free for someone new
    assert register(phone="0912345678").pk != person.pk


def test_erasure_also_erases_the_members_merged_into_the_person(person, hq_admin):
    old = register(phone="0912000111", name="林美華")
    merging.member_merge(survivor=person, merged=old, actor=hq_admin, choices={"phone": "survivor"})

    privacy.member_erase(member=person, actor=hq_admin, reason="PDPA")

    old.refresh_from_db()
    assert old.name == ""
    assert person.merges_in.get().merged_values == {"erased": True}


def test_erasure_refusals_change_nothing(person, hq_admin, clerk_a):
    with pytest.raises(PermissionDeniedError):
        privacy.member_erase(member=person, actor=clerk_a, reason="x")
    with pytest.raises(BusinessRuleError) as no_reason:
        privacy.member_erase(member=person, actor=hq_admin, reason="  ")
    person.refresh_from_db()
    assert (person.status, person.name, person.points_balance) == ("active", "林美華", 300)
    privacy.member_erase(member=person, actor=hq_admin, reason="PDPA")
    with pytest.raises(ConflictError) as twice:
        privacy.member_erase(member=person, actor=hq_admin, reason="PDPA")

    assert (no_reason.value.code, twice.value.code) == ("reason_required", "already_erased")
    assert MemberErasure.objects.count() == 1


def test_a_member_with_history_cannot_be_deleted_and_one_without_can(person, hq_admin):
    with pytest.raises(ConflictError) as error:
        privacy.member_delete(member=person, actor=hq_admin)
    assert error.value.code == "member_has_history"
    assert Member.objects.filter(pk=person.pk).exists()

    mistake = register(phone="0912000222", identities={"line": "U-mistake"})
    privacy.member_delete(member=mistake, actor=hq_admin)
    assert not Member.objects.filter(pk=mistake.pk).exists()


def test_member_can_download_their_data_and_hq_can_erase_by_api(person, hq_admin, clerk_a, api):
    channel = SalesChannelFactory(code="APP", kind="app")
    _credential, key = org.channel_credential_issue(channel=channel, name="test", created_by=None)
    api.credentials(HTTP_X_API_KEY=key)

    response = api.get("/api/v1/members/me/export/", HTTP_X_MEMBER_TOKEN=auth.member_token(person))
    assert response.status_code == 200
    assert response.json()["member"]["email"] == "mei@example.com"
    assert "attachment" in response["Content-Disposition"]

    refused = client_for(clerk_a).post(f"/api/v1/members/{person.member_no}/erase/", {"reason": "x"}, format="json")
    assert refused.status_code == 403
    done = client_for(hq_admin).post(f"/api/v1/members/{person.member_no}/erase/", {"reason": "PDPA #7"}, format="json")
    assert done.status_code == 200
    assert done.json()["points_forfeited"] == 300
    assert Member.objects.get(pk=person.pk).status == "erased"
