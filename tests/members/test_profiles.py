import threading
from collections import Counter
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from members import auth, profiles, selectors, services
from members.admin import ProfileFieldForm
from members.models import Member, ProfileEntry, ProfileField, ProfileGroup
from omo.core.errors import ApplicationError, BusinessRuleError, PermissionDeniedError
from omo.org import services as org
from tests.conftest import client_for
from tests.factories import SalesChannelFactory


def register(phone: str = "0912345678") -> Member:
    return services.member_register(phone=phone).member


def field(key: str, type: str, *, group=None, position: int = 0, **extra) -> ProfileField:
    return ProfileField.objects.create(
        group=group, key=key, label=key.replace("_", " ").title(), type=type, position=position, **extra
    )


@pytest.fixture
def top_fields(db) -> list[ProfileField]:
    """The member's own fields, of every type; one of them inactive."""
    fields = [
        field("nickname", "text", position=1, max_length=10),
        field("shoe_size", "number", position=2, min_value=Decimal("20"), max_value=Decimal("50")),
        field("wedding_day", "date", position=3),
        field("skin_type", "choice", position=4, required=True, choices=["dry", "oily", "mixed"]),
    ]
    field("old_code", "text", position=5, is_active=False)
    return fields


@pytest.fixture
def pets(db) -> ProfileGroup:
    group = ProfileGroup.objects.create(key="pets", label="Pets", max_entries=3, position=1)
    field("name", "text", group=group, position=1, required=True, max_length=20)
    field("species", "choice", group=group, position=2, required=True, choices=["dog", "cat"])
    field("weight_kg", "number", group=group, position=3, min_value=Decimal("0"), max_value=Decimal("200"))
    field("born", "date", group=group, position=4)
    return group


def refusal(call, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as error:
        call(**kwargs)
    return error.value


def problems(fields, values, *, partial=False) -> dict:
    error = refusal(profiles.profile_clean, fields=fields, values=values, partial=partial)
    assert (error.code, error.status_code) == ("invalid_profile", 400)
    return error.details["fields"]


# --- profile_clean: one type at a time --------------------------------------------------------------


def test_text_is_stripped_and_at_most_max_length(top_fields):
    cleaned = profiles.profile_clean(fields=top_fields, values={"nickname": "  小明  ", "skin_type": "dry"})

    assert cleaned == {"nickname": "小明", "skin_type": "dry"}
    assert problems(top_fields, {"nickname": "x" * 11}, partial=True) == {"nickname": "At most 10 characters."}
    assert problems(top_fields, {"nickname": 12}, partial=True) == {"nickname": "Enter text."}
    assert problems(top_fields, {"nickname": "a\x00b"}, partial=True) == {
        "nickname": "Enter text without control characters."
    }
    assert profiles.profile_clean(fields=top_fields, values={"nickname": "x" * 10}, partial=True) == {
        "nickname": "x" * 10
    }


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (42, 42),
        ("42", 42),
        (" 42.000 ", 42),
        (Decimal("42.50"), "42.5"),
        ("20.125", "20.125"),
        (30.5, "30.5"),
        ("４２", 42),  # full-width digits from a Chinese IME
        (Decimal("2E+1"), 20),
        ("50", 50),
    ],
)
def test_numbers_are_stored_as_int_when_whole_else_as_a_decimal_string(top_fields, given, stored):
    cleaned = profiles.profile_clean(fields=top_fields, values={"shoe_size": given}, partial=True)

    assert cleaned == {"shoe_size": stored}
    assert type(cleaned["shoe_size"]) is type(stored)


def test_small_fractions_are_written_without_an_exponent(db):
    weight = field("weight", "number")

    assert profiles.profile_clean(fields=[weight], values={"weight": "0.00001"}) == {"weight": "0.00001"}
    assert profiles.profile_clean(fields=[weight], values={"weight": 0.1}) == {"weight": "0.1"}
    assert profiles.profile_clean(fields=[weight], values={"weight": "-0"}) == {"weight": 0}


@pytest.mark.parametrize(
    "given", [True, False, "abc", "NaN", "Infinity", float("nan"), float("inf"), Decimal("NaN"), "1e3", "1_000", []]
)
def test_what_is_not_a_number_is_refused(top_fields, given):
    assert problems(top_fields, {"shoe_size": given}, partial=True) == {"shoe_size": "Enter a number."}


def test_numbers_keep_to_the_fields_range_and_a_sane_length(top_fields, db):
    weight = field("weight", "number")

    assert problems(top_fields, {"shoe_size": 19}, partial=True) == {"shoe_size": "At least 20."}
    assert problems(top_fields, {"shoe_size": "50.5"}, partial=True) == {"shoe_size": "At most 50."}
    assert profiles.profile_clean(fields=top_fields, values={"shoe_size": "20"}, partial=True) == {"shoe_size": 20}
    too_long = "A number has at most 15 digits before and 10 after the decimal point."
    assert problems([weight], {"weight": "1234567890123456"}) == {"weight": too_long}
    assert problems([weight], {"weight": "0.12345678901"}) == {"weight": too_long}
    assert profiles.profile_clean(fields=[weight], values={"weight": "123456789012345"}) == {"weight": 123456789012345}


def test_a_fractional_range_is_shown_without_trailing_zeros(db):
    ratio = field("ratio", "number", min_value=Decimal("0.5"), max_value=Decimal("1.25"))

    assert problems([ratio], {"ratio": "0.4"}) == {"ratio": "At least 0.5."}
    assert problems([ratio], {"ratio": 2}) == {"ratio": "At most 1.25."}


def test_dates_are_iso_strings(top_fields):
    def clean(value):
        return profiles.profile_clean(fields=top_fields, values={"wedding_day": value}, partial=True)

    assert clean("2024-02-29") == {"wedding_day": "2024-02-29"}
    assert clean(date(2024, 1, 5)) == {"wedding_day": "2024-01-05"}
    assert clean(" 2024-01-05 ") == {"wedding_day": "2024-01-05"}


@pytest.mark.parametrize(
    "given", ["2023-02-29", "2024/01/05", "20240105", "5 Jan 2024", datetime(2024, 1, 5), 20240105]
)
def test_what_is_not_a_date_is_refused(top_fields, given):
    assert problems(top_fields, {"wedding_day": given}, partial=True) == {"wedding_day": "Enter a date as YYYY-MM-DD."}


def test_a_choice_is_one_of_the_fields_choices(top_fields):
    assert profiles.profile_clean(fields=top_fields, values={"skin_type": " oily "}, partial=True) == {
        "skin_type": "oily"
    }
    for wrong in ("normal", "Oily", 1, ["dry"]):
        assert problems(top_fields, {"skin_type": wrong}, partial=True) == {
            "skin_type": "Choose one of: dry, oily, mixed."
        }


def test_required_fields_must_have_a_value_unless_partial(top_fields):
    assert problems(top_fields, {"nickname": "Ming"}) == {"skin_type": "This field is required."}
    assert problems(top_fields, {"skin_type": ""}) == {"skin_type": "This field is required."}
    assert problems(top_fields, {"skin_type": "   "}, partial=True) == {"skin_type": "This field is required."}
    assert problems(top_fields, {"skin_type": None}, partial=True) == {"skin_type": "This field is required."}
    assert profiles.profile_clean(fields=top_fields, values={"nickname": "Ming"}, partial=True) == {"nickname": "Ming"}


def test_an_empty_value_clears_an_optional_field(top_fields):
    cleaned = profiles.profile_clean(
        fields=top_fields, values={"nickname": "", "shoe_size": None, "wedding_day": "", "skin_type": "dry"}
    )

    assert cleaned == {"nickname": None, "shoe_size": None, "wedding_day": None, "skin_type": "dry"}


def test_unknown_and_inactive_keys_are_refused(top_fields):
    error = refusal(
        profiles.profile_clean, fields=top_fields, values={"skin_type": "dry", "favourite": "x", "old_code": "y"}
    )

    assert (error.code, error.status_code) == ("unknown_profile_field", 400)
    assert error.message == "There is no profile field favourite, old_code."
    assert error.details == {"fields": {"favourite": "There is no such field.", "old_code": "There is no such field."}}


def test_inactive_fields_given_to_profile_clean_do_not_count(top_fields):
    all_fields = list(ProfileField.objects.filter(group=None))

    error = refusal(profiles.profile_clean, fields=all_fields, values={"skin_type": "dry", "old_code": "x"})

    assert len(all_fields) == 5
    assert error.code == "unknown_profile_field"
    assert profiles.profile_clean(fields=all_fields, values={"skin_type": "dry"}) == {"skin_type": "dry"}


def test_every_problem_is_reported_at_once(top_fields):
    error = refusal(
        profiles.profile_clean,
        fields=top_fields,
        values={"nickname": "x" * 11, "shoe_size": 99, "wedding_day": "tomorrow", "skin_type": "normal"},
    )

    assert error.as_dict() == {
        "code": "invalid_profile",
        "message": "Some profile values are not valid.",
        "details": {
            "fields": {
                "nickname": "At most 10 characters.",
                "shoe_size": "At most 50.",
                "wedding_day": "Enter a date as YYYY-MM-DD.",
                "skin_type": "Choose one of: dry, oily, mixed.",
            }
        },
    }


def test_values_that_are_not_an_object_are_refused(top_fields):
    error = refusal(profiles.profile_clean, fields=top_fields, values=["skin_type", "dry"])

    assert (error.code, error.details) == ("invalid_profile", {})


# --- the member's own values ----------------------------------------------------------------------


def test_profile_update_merges_sets_and_clears(top_fields):
    member = register()

    profiles.member_profile_update(member=member, values={"skin_type": "dry", "nickname": " Ming ", "shoe_size": "42"})
    updated = profiles.member_profile_update(member=member, values={"shoe_size": 41.5, "nickname": ""})

    assert updated.profile == {"skin_type": "dry", "shoe_size": "41.5"}
    member.refresh_from_db()
    assert member.profile == {"skin_type": "dry", "shoe_size": "41.5"}


def test_profile_update_keeps_values_of_deactivated_fields(top_fields):
    member = register()
    Member.objects.filter(pk=member.pk).update(profile={"old_code": "A7", "skin_type": "dry"})

    updated = profiles.member_profile_update(member=member, values={"wedding_day": "2020-10-10"})

    assert updated.profile == {"old_code": "A7", "skin_type": "dry", "wedding_day": "2020-10-10"}


def test_profile_update_needs_every_required_field_after_the_merge(top_fields):
    member = register()
    before = Member.objects.get(pk=member.pk)

    error = refusal(profiles.member_profile_update, member=member, values={"nickname": "Ming", "shoe_size": 99})

    assert error.details == {"fields": {"shoe_size": "At most 50.", "skin_type": "This field is required."}}
    after = Member.objects.get(pk=member.pk)
    assert (after.profile, after.updated_at) == ({}, before.updated_at)


def test_refused_profile_update_changes_nothing(top_fields):
    member = register()
    profiles.member_profile_update(member=member, values={"skin_type": "dry", "nickname": "Ming"})
    before = Member.objects.get(pk=member.pk)

    for values in ({"skin_type": ""}, {"nickname": "x" * 11}, {"colour": "red"}):
        with pytest.raises(ApplicationError):
            profiles.member_profile_update(member=member, values=values)

    after = Member.objects.get(pk=member.pk)
    assert (after.profile, after.updated_at) == ({"skin_type": "dry", "nickname": "Ming"}, before.updated_at)


def test_a_merged_member_profile_cannot_change(top_fields):
    member = register()
    Member.objects.filter(pk=member.pk).update(status=Member.Status.MERGED)

    error = refusal(profiles.member_profile_update, member=member, values={"skin_type": "dry"})

    assert (error.code, error.status_code) == ("member_inactive", 422)
    assert Member.objects.get(pk=member.pk).profile == {}


def test_staff_need_the_change_member_permission(top_fields, clerk_a, hq_admin):
    member = register()

    with pytest.raises(PermissionDeniedError):
        profiles.member_profile_update(member=member, values={"skin_type": "dry"}, actor=clerk_a)
    profiles.member_profile_update(member=member, values={"skin_type": "oily"}, actor=hq_admin)

    assert Member.objects.get(pk=member.pk).profile == {"skin_type": "oily"}


# --- group entries ----------------------------------------------------------------------------------


def test_entries_are_added_merged_and_removed(pets):
    member = register()

    entry = profiles.profile_entry_add(
        member=member, group=pets, values={"name": " Mochi ", "species": "cat", "weight_kg": "4.20"}
    )
    updated = profiles.profile_entry_update(entry=entry, values={"weight_kg": 4, "born": "2021-03-01"})

    assert updated.values == {"name": "Mochi", "species": "cat", "weight_kg": 4, "born": "2021-03-01"}
    entry.refresh_from_db()
    assert entry.values == updated.values
    profiles.profile_entry_remove(entry=entry)
    assert ProfileEntry.objects.count() == 0


def test_an_entry_is_checked_against_its_groups_fields_only(pets, top_fields):
    member = register()

    error = refusal(
        profiles.profile_entry_add,
        member=member,
        group=pets,
        values={"name": "Mochi", "species": "cat", "nickname": "M"},
    )
    problems_ = refusal(profiles.profile_entry_add, member=member, group=pets, values={"weight_kg": -1})

    assert error.code == "unknown_profile_field"
    assert problems_.details == {
        "fields": {
            "name": "This field is required.",
            "species": "This field is required.",
            "weight_kg": "At least 0.",
        }
    }
    assert ProfileEntry.objects.count() == 0


def test_text_with_a_line_break_is_kept(pets):
    member = register()

    entry = profiles.profile_entry_add(member=member, group=pets, values={"name": "Mo\nchi", "species": "cat"})

    assert ProfileEntry.objects.get(pk=entry.pk).values == {"name": "Mo\nchi", "species": "cat"}


def test_updating_an_entry_removed_meanwhile_is_not_found(pets):
    member = register()
    entry = profiles.profile_entry_add(member=member, group=pets, values={"name": "Mochi", "species": "cat"})
    ProfileEntry.objects.filter(pk=entry.pk).delete()

    error = refusal(profiles.profile_entry_update, entry=entry, values={"name": "Kinako"})

    assert (error.code, error.status_code) == ("profile_entry_not_found", 404)
    assert ProfileEntry.objects.count() == 0


def test_a_refused_entry_update_changes_nothing(pets):
    member = register()
    entry = profiles.profile_entry_add(member=member, group=pets, values={"name": "Mochi", "species": "cat"})
    before = ProfileEntry.objects.get(pk=entry.pk)

    error = refusal(profiles.profile_entry_update, entry=entry, values={"species": "fish", "name": ""})

    assert error.details == {"fields": {"name": "This field is required.", "species": "Choose one of: dog, cat."}}
    after = ProfileEntry.objects.get(pk=entry.pk)
    assert (after.values, after.updated_at) == ({"name": "Mochi", "species": "cat"}, before.updated_at)


def test_a_group_holds_at_most_max_entries(pets):
    member, other = register(), register("0922333444")
    for name in ("A", "B", "C"):
        profiles.profile_entry_add(member=member, group=pets, values={"name": name, "species": "dog"})

    error = refusal(profiles.profile_entry_add, member=member, group=pets, values={"name": "D", "species": "dog"})
    profiles.profile_entry_add(member=other, group=pets, values={"name": "E", "species": "dog"})

    assert (error.code, error.status_code, error.details) == ("profile_group_full", 422, {"max_entries": 3})
    assert error.message == "Pets holds at most 3 entries."
    assert sorted(ProfileEntry.objects.filter(member=member).values_list("values__name", flat=True)) == ["A", "B", "C"]
    assert ProfileEntry.objects.filter(member=other).count() == 1


def test_an_inactive_group_takes_no_new_or_changed_entries_but_entries_can_be_removed(pets):
    member = register()
    entry = profiles.profile_entry_add(member=member, group=pets, values={"name": "Mochi", "species": "cat"})
    pets.is_active = False
    pets.save()
    entry = ProfileEntry.objects.select_related("group").get(pk=entry.pk)

    added = refusal(profiles.profile_entry_add, member=member, group=pets, values={"name": "B", "species": "dog"})
    changed = refusal(profiles.profile_entry_update, entry=entry, values={"name": "Kinako"})

    assert (added.code, added.status_code) == ("profile_group_inactive", 422)
    assert (changed.code, changed.status_code) == ("profile_group_inactive", 422)
    assert list(ProfileEntry.objects.values_list("values", flat=True)) == [{"name": "Mochi", "species": "cat"}]
    profiles.profile_entry_remove(entry=entry)
    assert ProfileEntry.objects.count() == 0


def test_clerks_may_add_entries_but_not_remove_them(pets, clerk_a, manager_a):
    member = register()
    entry = profiles.profile_entry_add(member=member, group=pets, values={"name": "A", "species": "dog"}, actor=clerk_a)

    with pytest.raises(PermissionDeniedError):
        profiles.profile_entry_remove(entry=entry, actor=clerk_a)
    assert ProfileEntry.objects.count() == 1
    profiles.profile_entry_remove(entry=entry, actor=manager_a)
    assert ProfileEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_adds_never_exceed_the_groups_limit(require_postgres):
    group = ProfileGroup.objects.create(key="pets", label="Pets", max_entries=3)
    field("name", "text", group=group, required=True)
    member = register()
    barrier, lock, outcomes = threading.Barrier(12), threading.Lock(), Counter()

    def add(i):
        try:
            barrier.wait(timeout=30)
            profiles.profile_entry_add(member=member, group=group, values={"name": f"pet {i}"})
            result = "ok"
        except BusinessRuleError as error:
            result = error.code
        finally:
            connection.close()
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=add, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert outcomes == Counter({"ok": 3, "profile_group_full": 9})
    assert ProfileEntry.objects.filter(member=member, group=group).count() == 3


# --- definitions and display ------------------------------------------------------------------------


def test_definitions_are_the_active_groups_and_fields_in_position_order_in_two_queries(
    top_fields, pets, django_assert_num_queries
):
    ProfileGroup.objects.create(key="closed", label="Closed", is_active=False)
    field("hidden", "text", group=ProfileGroup.objects.get(key="closed"))
    glasses = ProfileGroup.objects.create(key="glasses", label="Glasses", position=0)
    field("left", "number", group=glasses, position=2)
    field("right", "number", group=glasses, position=1)
    field("retired", "text", group=pets, position=0, is_active=False)

    with django_assert_num_queries(2):
        definitions = selectors.profile_definitions()
        shape = (
            [f.key for f in definitions.fields],
            [(g.key, [f.key for f in g.active_fields]) for g in definitions.groups],
        )

    assert shape == (
        ["nickname", "shoe_size", "wedding_day", "skin_type"],
        [("glasses", ["right", "left"]), ("pets", ["name", "species", "weight_kg", "born"])],
    )


def test_values_are_displayed_for_people(top_fields):
    shown = profiles.profile_display(
        fields=top_fields,
        values={"skin_type": "dry", "shoe_size": "1234.5", "wedding_day": "2020-10-10", "old_code": "x"},
    )

    assert shown == [("Shoe Size", "1,234.5"), ("Wedding Day", "Oct. 10, 2020"), ("Skin Type", "dry")]


# --- API --------------------------------------------------------------------------------------------


@pytest.fixture
def app(db) -> APIClient:
    channel = SalesChannelFactory(code="APP", kind="app")
    _credential, key = org.channel_credential_issue(channel=channel, name="test", created_by=None)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


def as_member(app: APIClient, member: Member) -> dict:
    return {"HTTP_X_MEMBER_TOKEN": auth.member_token(member)}


def test_definitions_for_frontends_and_staff(app, clerk_a, top_fields, pets):
    by_channel = app.get("/api/v1/members/profile/definitions/")
    by_staff = client_for(clerk_a).get("/api/v1/members/profile/definitions/")
    anonymous = APIClient().get("/api/v1/members/profile/definitions/")

    assert (by_channel.status_code, by_staff.status_code, anonymous.status_code) == (200, 200, 401)
    body = by_channel.json()
    assert by_staff.json() == body
    assert body["fields"][1] == {
        "key": "shoe_size",
        "label": "Shoe Size",
        "type": "number",
        "required": False,
        "choices": [],
        "max_length": 200,
        "min_value": "20",
        "max_value": "50",
    }
    assert [f["key"] for f in body["fields"]] == ["nickname", "shoe_size", "wedding_day", "skin_type"]
    assert [(g["key"], g["max_entries"], [f["key"] for f in g["fields"]]) for g in body["groups"]] == [
        ("pets", 3, ["name", "species", "weight_kg", "born"])
    ]


def test_member_reads_and_patches_their_profile(app, top_fields):
    member = register()
    Member.objects.filter(pk=member.pk).update(profile={"old_code": "A7"})
    me = as_member(app, member)

    empty = app.get("/api/v1/members/me/profile/", **me)
    patched = app.patch(
        "/api/v1/members/me/profile/",
        {"values": {"skin_type": "mixed", "shoe_size": 38.5, "wedding_day": "2020-10-10"}},
        format="json",
        **me,
    )
    cleared = app.patch("/api/v1/members/me/profile/", {"values": {"wedding_day": None}}, format="json", **me)
    read = app.get("/api/v1/members/me/profile/", **me)

    assert (empty.status_code, empty.json()) == (200, {"values": {}})
    assert patched.json() == {"values": {"skin_type": "mixed", "shoe_size": "38.5", "wedding_day": "2020-10-10"}}
    assert cleared.json() == {"values": {"skin_type": "mixed", "shoe_size": "38.5"}}
    assert read.json() == cleared.json()
    assert Member.objects.get(pk=member.pk).profile == {"old_code": "A7", "skin_type": "mixed", "shoe_size": "38.5"}


def test_refused_profile_patch_answers_every_problem_in_the_common_shape(app, top_fields):
    member = register()
    me = as_member(app, member)

    response = app.patch(
        "/api/v1/members/me/profile/", {"values": {"nickname": "x" * 11, "shoe_size": "big"}}, format="json", **me
    )
    unknown = app.patch("/api/v1/members/me/profile/", {"values": {"colour": "red"}}, format="json", **me)
    not_an_object = app.patch("/api/v1/members/me/profile/", {"values": "dry"}, format="json", **me)

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_profile",
        "message": "Some profile values are not valid.",
        "details": {
            "fields": {
                "nickname": "At most 10 characters.",
                "shoe_size": "Enter a number.",
                "skin_type": "This field is required.",
            }
        },
    }
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_profile_field")
    assert unknown.json()["details"] == {"fields": {"colour": "There is no such field."}}
    assert (not_an_object.status_code, not_an_object.json()["code"]) == (400, "invalid")
    assert Member.objects.get(pk=member.pk).profile == {}


def test_profile_pages_need_a_logged_in_member(app, clerk_a, top_fields):
    member = register()

    assert app.get("/api/v1/members/me/profile/").status_code == 403
    assert app.get("/api/v1/members/me/profile/pets/").status_code == 403
    assert client_for(clerk_a).get("/api/v1/members/me/profile/", **as_member(app, member)).status_code == 403


def test_member_adds_lists_changes_and_removes_group_entries(app, pets):
    member = register()
    me = as_member(app, member)

    added = app.post(
        "/api/v1/members/me/profile/pets/", {"values": {"name": "Mochi", "species": "cat"}}, format="json", **me
    )
    entry_id = added.json()["id"]
    changed = app.patch(
        f"/api/v1/members/me/profile/pets/{entry_id}/", {"values": {"weight_kg": "4.5"}}, format="json", **me
    )
    listed = app.get("/api/v1/members/me/profile/pets/", **me)
    removed = app.delete(f"/api/v1/members/me/profile/pets/{entry_id}/", **me)
    after = app.get("/api/v1/members/me/profile/pets/", **me)

    assert (added.status_code, added.json()["values"]) == (201, {"name": "Mochi", "species": "cat"})
    assert (changed.status_code, changed.json()["values"]) == (
        200,
        {"name": "Mochi", "species": "cat", "weight_kg": "4.5"},
    )
    assert [(e["id"], e["values"]) for e in listed.json()] == [
        (entry_id, {"name": "Mochi", "species": "cat", "weight_kg": "4.5"})
    ]
    assert (removed.status_code, after.json()) == (204, [])
    assert ProfileEntry.objects.count() == 0


def test_another_members_entry_is_not_found_and_stays_as_it_was(app, pets):
    owner, intruder = register(), register("0922333444")
    entry = profiles.profile_entry_add(member=owner, group=pets, values={"name": "Mochi", "species": "cat"})
    intruder_token = as_member(app, intruder)

    changed = app.patch(
        f"/api/v1/members/me/profile/pets/{entry.pk}/", {"values": {"name": "Stolen"}}, format="json", **intruder_token
    )
    removed = app.delete(f"/api/v1/members/me/profile/pets/{entry.pk}/", **intruder_token)
    listed = app.get("/api/v1/members/me/profile/pets/", **intruder_token)

    assert (changed.status_code, removed.status_code) == (404, 404)
    assert changed.json() == {
        "code": "profile_entry_not_found",
        "message": "There is no such profile entry.",
        "details": {},
    }
    assert listed.json() == []
    assert ProfileEntry.objects.get(pk=entry.pk).values == {"name": "Mochi", "species": "cat"}


def test_an_entry_under_another_groups_key_or_an_unknown_group_is_not_found(app, pets):
    ProfileGroup.objects.create(key="glasses", label="Glasses")
    member = register()
    entry = profiles.profile_entry_add(member=member, group=pets, values={"name": "Mochi", "species": "cat"})
    me = as_member(app, member)

    wrong_group = app.delete(f"/api/v1/members/me/profile/glasses/{entry.pk}/", **me)
    unknown = app.post("/api/v1/members/me/profile/horses/", {"values": {}}, format="json", **me)

    assert wrong_group.status_code == 404
    assert (unknown.status_code, unknown.json()["code"]) == (404, "profile_group_not_found")
    assert ProfileEntry.objects.count() == 1


def test_a_full_group_or_a_bad_entry_is_refused_over_the_api(app, pets):
    member = register()
    me = as_member(app, member)
    for name in ("A", "B", "C"):
        app.post("/api/v1/members/me/profile/pets/", {"values": {"name": name, "species": "dog"}}, format="json", **me)

    full = app.post(
        "/api/v1/members/me/profile/pets/", {"values": {"name": "D", "species": "dog"}}, format="json", **me
    )
    bad = app.patch(
        f"/api/v1/members/me/profile/pets/{ProfileEntry.objects.first().pk}/",
        {"values": {"species": "fish"}},
        format="json",
        **me,
    )

    assert (full.status_code, full.json()["code"], full.json()["details"]) == (
        422,
        "profile_group_full",
        {"max_entries": 3},
    )
    assert (bad.status_code, bad.json()["details"]) == (400, {"fields": {"species": "Choose one of: dog, cat."}})
    assert ProfileEntry.objects.filter(member=member).count() == 3


# --- admin ------------------------------------------------------------------------------------------


def form_data(**extra) -> dict:
    return {"key": "size", "label": "Size", "type": "choice", "max_length": 200, "position": 0, **extra}


@pytest.mark.parametrize(
    ("choices", "error"),
    [
        ("[]", 'A choice field needs a list of choices, like ["S", "M", "L"].'),
        ('"S, M"', 'A choice field needs a list of choices, like ["S", "M", "L"].'),
        ('["S", ""]', "Every choice is a text that is not empty."),
        ('["S", 1]', "Every choice is a text that is not empty."),
        ('["S", "M", " S "]', "Each choice is given once: S repeated."),
    ],
)
def test_admin_refuses_bad_choices(db, choices, error):
    form = ProfileFieldForm(data=form_data(choices=choices))

    assert not form.is_valid()
    assert form.errors["choices"] == [error]


def test_admin_strips_choices_and_drops_them_from_other_types(db):
    choice = ProfileFieldForm(data=form_data(choices='[" S ", "M"]'))
    text = ProfileFieldForm(data=form_data(key="note", type="text", choices='["x"]'))

    assert choice.is_valid() and text.is_valid()
    assert (choice.save().choices, text.save().choices) == (["S", "M"], [])


def test_admin_group_page_adds_fields_inline_and_entries_show_readable_values(client, hq_admin, pets):
    client.force_login(hq_admin)
    member = register()
    profiles.profile_entry_add(member=member, group=pets, values={"name": "Mochi", "species": "cat", "weight_kg": 4})
    prefix = "fields"

    response = client.post(
        reverse("admin:members_profilegroup_add"),
        {
            "key": "glasses",
            "label": "Glasses",
            "max_entries": 2,
            "is_active": "on",
            "position": 2,
            f"{prefix}-TOTAL_FORMS": 1,
            f"{prefix}-INITIAL_FORMS": 0,
            f"{prefix}-0-key": "lens",
            f"{prefix}-0-label": "Lens",
            f"{prefix}-0-type": "choice",
            f"{prefix}-0-choices": '["soft", "hard", "soft"]',
            f"{prefix}-0-max_length": 200,
            f"{prefix}-0-position": 0,
            f"{prefix}-0-is_active": "on",
        },
    )
    listing = client.get(reverse("admin:members_profileentry_changelist")).content.decode()

    assert response.status_code == 200  # the form again, with the error
    assert "Each choice is given once: soft repeated." in response.content.decode()
    assert not ProfileGroup.objects.filter(key="glasses").exists()
    assert "Name: Mochi; Species: cat; Weight Kg: 4" in listing
    entry_page = client.get(reverse("admin:members_profileentry_change", args=[ProfileEntry.objects.get().pk]))
    assert entry_page.status_code == 200
    assert "Name: Mochi; Species: cat; Weight Kg: 4" in entry_page.content.decode()
