"""Segment rules and RFM scores against a hand-made set of members; saved segments keep their history;
the API answers HQ CRM and refuses the others."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from attribution import services as attribution
from marketing import services
from marketing.models import MemberRFM, Segment, SegmentMembership
from marketing.rules import members_matching
from members import coupons
from members import services as member_services
from members.models import Member, PointsLot, ProfileField, ProfileGroup
from members.profiles import member_profile_update, profile_entry_add
from omo.core.errors import ApplicationError, PermissionDeniedError
from omo.org.roles import Role
from tests.conftest import client_for
from tests.dashboard.conftest import TODAY, at, counter_sale, web_order
from tests.factories import make_staff
from tests.inventory.conftest import receive
from tests.orders.conftest import shared_coupon

NOW = at(TODAY, 20)


def days_ago(n: int):
    return TODAY - timedelta(days=n)


@pytest.fixture
def crowd(shop, clerk_a, hq_admin):
    """Purchases (days before TODAY), in any channel:

    - Mei: a tee at store A's counter 2 days ago (520); her profile: skin type dry, shoe size 24.5;
    - Ken: jeans online 40 days ago (1,200) and a cap 100 days ago (300); 80 points due in 10 days;
      bound to clerk A by HQ 10 days ago;
    - Ann (registered at store B): a tee at store B 5 days ago (520), jeans there 200 days ago (1,200);
    - Lin: a cap online 300 days ago (300); holds an unused coupon;
    - Wu: a cap online 400 days ago (outside the year of RFM);
    - Bo: never bought; born in November, SMS consent; has a cat."""
    receive(shop.store_b, shop.tee, 5)
    receive(shop.store_b, shop.jeans, 5)
    mei = shop.member
    ken = member_services.member_register(phone="0922000111", name="Ken").member
    ann = member_services.member_register(phone="0933000222", name="Ann", store=shop.store_b).member
    lin = member_services.member_register(phone="0955000444", name="Lin").member
    wu = member_services.member_register(phone="0966000555", name="Wu").member
    bo = member_services.member_register(phone="0944000333", name="Bo").member
    counter_sale(shop, [("TEE-M", 1)], day=days_ago(2), clerk=clerk_a, member=mei)
    web_order(shop, [("JEANS-M", 1)], day=days_ago(40), member=ken)
    web_order(shop, [("CAP-M", 1)], day=days_ago(100), member=ken)
    counter_sale(shop, [("TEE-M", 1)], day=days_ago(5), store=shop.store_b, member=ann)
    counter_sale(shop, [("JEANS-M", 1)], day=days_ago(200), store=shop.store_b, member=ann)
    web_order(shop, [("CAP-M", 1)], day=days_ago(300), member=lin)
    web_order(shop, [("CAP-M", 1)], day=days_ago(400), member=wu)
    PointsLot.objects.filter(member=ken).delete()
    PointsLot.objects.create(member=ken, earned=80, remaining=80, expires_on=TODAY + timedelta(days=10))
    member_services.member_update(member=bo, birthday=TODAY.replace(year=1990), consents={"sms": True})
    skin = ProfileField.objects.create(key="skin_type", label="Skin", type="choice", choices=["dry", "oily"])
    size = ProfileField.objects.create(key="shoe_size", label="Shoe size", type="number")
    pets = ProfileGroup.objects.create(key="pets", label="Pets")
    ProfileField.objects.create(group=pets, key="species", label="Species", type="choice", choices=["cat", "dog"])
    member_profile_update(member=mei, values={skin.key: "dry", size.key: "24.5"})
    profile_entry_add(member=bo, group=pets, values={"species": "cat"})
    shared_coupon("LIN100", 100)
    coupons.coupon_collect(member=lin, code="LIN100", channel=shop.web)
    with time_machine.travel(at(days_ago(500)), tick=False):  # a policy is put in force from now, never before
        policy = attribution.policy_create(
            actor=hq_admin, name="Standard", validity_days={"pos_sale": 30, "hq_manual": 180}, conflict="latest",
            default_rate="0.05", store_share="0.4", lockup_days=7,
        )  # fmt: skip
        attribution.policy_adopt(actor=hq_admin, policy=policy)
    attribution.binding_assign(
        actor=hq_admin, member=ken, clerk=clerk_a, store=shop.store_a, reason="VIP", at=at(days_ago(10))
    )
    return {"mei": mei, "ken": ken, "ann": ann, "lin": lin, "wu": wu, "bo": bo}


def names(rules, now=NOW) -> set[str]:
    return set(members_matching(rules, now=now).values_list("name", flat=True))


def test_rfm_scores_are_quintiles_of_the_year_s_buyers_and_equal_values_share_one(crowd):
    assert services.rfm_refresh(now=NOW) == 4  # Wu bought more than a year ago; Bo never
    got = {r.member.name: (r.r, r.f, r.m, r.recency_days, r.frequency, r.monetary) for r in MemberRFM.objects.all()}
    # 4 buyers: score = 1 + (rank - 1) x 5 / 4; Mei and Lin bought once (rank 1), Ken and Ann twice (rank 3)
    assert got == {
        "林美華": (4, 1, 2, 2, 1, Decimal("520.00")),
        "Ken": (2, 3, 3, 40, 2, Decimal("1500.00")),
        "Ann": (3, 3, 4, 5, 2, Decimal("1720.00")),
        "Lin": (1, 1, 1, 300, 1, Decimal("300.00")),
    }
    assert services.rfm_refresh(now=NOW) == 4 and MemberRFM.objects.count() == 4  # replaced, not added


def test_each_rule_selects_the_members_computed_by_hand(crowd, shop, clerk_a):
    services.rfm_refresh(now=NOW)
    assert names({"rfm": {"r": [4, 5]}}) == {"林美華"}
    assert names({"rfm": {"f": [0, 1]}}) == {"林美華", "Lin", "Wu", "Bo"}  # no purchase in the year: 0
    assert names({"rfm": {"r": [2, 5], "m": [3, 5]}}) == {"Ken", "Ann"}
    assert names({"last_purchase_days": {"min": 30, "max": 120}}) == {"Ken"}
    assert names({"last_purchase_days": {"min": 365}}) == {"Wu"}  # lapsed; Bo never bought
    assert names({"categories": {"paths": ["women"], "days": 30}}) == {"林美華", "Ann"}  # tees: women/tops
    assert names({"categories": {"paths": ["women/bottoms"]}}) == {"Ken", "Ann"}
    assert names({"categories": {"paths": ["wom"]}}) == set()  # a path, not a prefix of a name
    assert names({"home_stores": [shop.store_b.code]}) == {"Ann"}
    assert names({"visited_stores": {"stores": [shop.store_b.code], "days": 30}}) == {"Ann"}
    assert names({"visited_stores": {"stores": [shop.store_a.code]}}) == {"林美華"}
    assert names({"points_expiring": {"days": 30}}) == {"Ken"}
    assert names({"points_expiring": {"days": 30, "min_points": 81}}) == set()
    assert names({"coupons": {"unused": True}}) == {"Lin"}
    assert "Lin" not in names({"coupons": {"unused": False}})
    assert names({"profile": [{"field": "skin_type", "op": "eq", "value": "dry"}]}) == {"林美華"}
    assert names({"profile": [{"field": "shoe_size", "op": "gte", "value": "24"}]}) == {"林美華"}
    assert names({"profile": [{"field": "shoe_size", "op": "lte", "value": 24}]}) == set()
    assert names({"profile": [{"group": "pets", "field": "species", "op": "in", "value": ["cat"]}]}) == {"Bo"}
    assert names({"profile": [{"field": "skin_type", "op": "exists"}]}) == {"林美華"}
    assert names({"bound_clerk": {"clerks": [clerk_a.staff_profile.employee_code]}}) == {"Ken"}
    assert names({"bound_clerk": {"any": True}}) == {"Ken"}
    assert names({"bound_clerk": {"any": True}}, now=at(TODAY + timedelta(days=200))) == set()  # 180 days passed
    # with the member rules: all must hold
    assert names({"birthday_month": 11, "consent": "sms"}) == {"Bo"}
    assert names({"omo": "online_only", "categories": {"paths": ["accessories"]}}) == {"Ken", "Lin"}


def test_bad_rules_are_named_one_by_one(crowd):
    from omo.core.errors import ApplicationError

    with pytest.raises(ApplicationError) as caught:
        members_matching({
            "rfm": {"r": [5, 1]}, "categories": {"paths": []}, "tiers": "GOLD", "colour": "red",
            "profile": [{"field": "x", "op": "like"}], "visited_stores": {"stores": ["NOPE"]},
        })  # fmt: skip
    assert caught.value.code == "invalid_segment"
    assert set(caught.value.details["rules"]) == {"rfm", "categories", "tiers", "colour", "profile", "visited_stores"}


def test_a_saved_segment_keeps_who_entered_and_left_over_time(crowd, shop, hq_admin):
    segment = services.segment_create(actor=hq_admin, name="Store B", rules={"home_stores": [shop.store_b.code]})
    assert (segment.members_count, segment.runs.get().entered) == (1, 1)
    newcomer = member_services.member_register(phone="0977000666", name="Yu", store=shop.store_b).member
    run = services.segment_evaluate(segment=segment)
    assert (run.members, run.entered, run.left, run.by) == (2, 1, 0, None)
    run = services.segment_evaluate(segment=segment)
    assert (run.members, run.entered, run.left) == (2, 0, 0)  # evaluating again changes nothing
    services.segment_update(
        actor=hq_admin, segment=segment, rules={"home_stores": [shop.store_b.code], "omo": "store_only"}
    )
    segment.refresh_from_db()
    assert segment.members_count == 1  # Yu never bought: left
    stays = {(s.member.name, s.left_at is None) for s in SegmentMembership.objects.filter(segment=segment)}
    assert stays == {("Ann", True), ("Yu", False)}
    services.segment_update(actor=hq_admin, segment=segment, rules={"home_stores": [shop.store_b.code]})
    # Yu is back: a new stay, the old one kept
    assert SegmentMembership.objects.filter(segment=segment, member=newcomer).count() == 2
    assert [r.members for r in segment.runs.order_by("at", "id")] == [1, 2, 2, 1, 2]
    from members.selectors import member_360

    stays = {s["key"]: s for s in member_360(newcomer)["sections"]}["segments"]["rows"]
    assert [(row[0], row[2] == "still in") for row in stays] == [("Store B", True), ("Store B", False)]


def test_the_nightly_job_scores_then_evaluates_the_daily_segments_only(crowd, shop, hq_admin):
    daily = services.segment_create(actor=hq_admin, name="Recent", rules={"rfm": {"r": [4, 5]}})
    manual = services.segment_create(actor=hq_admin, name="Hand", rules={"rfm": {"r": [4, 5]}}, schedule="manual")
    assert daily.members_count == manual.members_count == 0  # no scores yet
    from marketing.tasks import segments_refresh

    segments_refresh.delay()  # eager here; a worker runs the same function
    daily.refresh_from_db()
    manual.refresh_from_db()
    assert (daily.members_count, manual.members_count) == (1, 0)


def test_the_api_previews_saves_and_lists_for_hq_crm_only(crowd, shop, clerk_a):
    crm = make_staff(Role.HQ_CRM).user
    api = client_for(crm)
    rules = {"home_stores": [shop.store_b.code]}
    response = api.post("/api/v1/marketing/segments/preview/", {"rules": rules}, format="json")
    assert response.status_code == 200
    assert response.json()["count"] == 1 and response.json()["sample"][0]["name"] == "Ann"
    response = api.post("/api/v1/marketing/segments/", {"name": "B", "rules": rules}, format="json")
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    assert response.json()["members_count"] == 1
    members = api.get(f"/api/v1/marketing/segments/{pk}/members/").json()
    assert [m["name"] for m in members["results"]] == ["Ann"]
    assert api.post(f"/api/v1/marketing/segments/{pk}/evaluate/").json()["members"] == 1
    assert [r["members"] for r in api.get(f"/api/v1/marketing/segments/{pk}/runs/").json()["results"]] == [1, 1]
    bad = api.post("/api/v1/marketing/segments/", {"name": "X", "rules": {"rfm": {"r": [9, 9]}}}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_segment"
    assert set(bad.json()["details"]["rules"]) == {"rfm"}
    assert Segment.objects.count() == 1  # nothing saved
    taken = api.post("/api/v1/marketing/segments/", {"name": "B", "rules": rules}, format="json")
    assert (taken.status_code, taken.json()["code"]) == (409, "segment_exists")
    assert Segment.objects.count() == 1
    changed = api.patch(
        f"/api/v1/marketing/segments/{pk}/", {"rules": {"home_stores": [shop.store_a.code]}}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["members_count"] == 0
    assert client_for(clerk_a).get("/api/v1/marketing/segments/").status_code == 403
    finance = client_for(make_staff(Role.HQ_FINANCE).user)
    assert finance.get("/api/v1/marketing/segments/").status_code == 200
    assert finance.post("/api/v1/marketing/segments/", {"name": "F", "rules": rules}, format="json").status_code == 403


# --- who may change segments ------------------------------------------------------------------------


def test_a_view_only_hq_role_can_neither_save_nor_evaluate_a_segment(crowd, shop, hq_admin):
    segment = services.segment_create(actor=hq_admin, name="Store B", rules={"home_stores": [shop.store_b.code]})
    member_services.member_register(phone="0977000666", name="Yu", store=shop.store_b)  # would enter
    finance = make_staff(Role.HQ_FINANCE).user
    with pytest.raises(PermissionDeniedError):
        services.segment_evaluate(segment=segment, actor=finance)
    with pytest.raises(PermissionDeniedError):
        services.segment_update(actor=finance, segment=segment, rules={"home_stores": [shop.store_a.code]})
    with pytest.raises(PermissionDeniedError):
        services.segment_create(actor=finance, name="Mine", rules={"home_stores": [shop.store_b.code]})
    refused = client_for(finance).post(f"/api/v1/marketing/segments/{segment.pk}/evaluate/")
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    segment.refresh_from_db()
    assert (segment.rules, segment.members_count, segment.runs.count()) == ({"home_stores": [shop.store_b.code]}, 1, 1)
    assert [s.member.name for s in SegmentMembership.objects.filter(segment=segment)] == ["Ann"]
    assert list(Segment.objects.values_list("name", flat=True)) == ["Store B"]


# --- bad rules are a 400, never a 500 ---------------------------------------------------------------

WRONG = [True, None, 3, "x", [], [1], {"x": 1}, [{"a": None}], {"days": [30]}, [["S-A"]]]


@pytest.mark.parametrize(
    "rule", ["rfm", "last_purchase_days", "categories", "home_stores", "visited_stores", "points_expiring", "coupons",
             "profile", "bound_clerk", "reviewed", "attended_events", "referred_members", "collected_coupons",
             "tiers", "stores", "member_nos", "omo", "consent", "joined_from", "birthday_month", "min_points"],
)  # fmt: skip
def test_a_rule_of_the_wrong_type_is_named_as_a_problem(rule, db):
    for value in WRONG:
        if value == 3 and rule in ("birthday_month", "min_points"):
            continue  # a fine value for those
        with pytest.raises(ApplicationError) as caught:
            members_matching({rule: value})
        assert (caught.value.code, set(caught.value.details["rules"])) == ("invalid_segment", {rule}), value


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("coupons", {"unused": "yes"}), ("coupons", {"campaigns": 5}), ("coupons", {"campaigns": [{"a": 1}]}),
        ("coupons", {"campaigns": [True]}), ("coupons", {"unused": True, "colour": 1}),
        ("categories", {"paths": ["women"], "day": 30}), ("categories", {"paths": [["women"]]}),
        ("categories", {"paths": ["wo\x00men"]}), ("home_stores", ["S-A\x00"]), ("tiers", ["GOLD\x00"]),
        ("visited_stores", {"stores": ["S-A"], "days": True}), ("points_expiring", {"min_points": 1.5}),
        ("reviewed", {"min_rating": "1"}), ("reviewed", {"min_rating": 4, "max_rating": 2}),
        ("attended_events", {"min": None}), ("rfm", {"r": [1, "5"]}), ("rfm", {"r": {"a": 1}}),
        ("last_purchase_days", {"min": [1]}), ("bound_clerk", {"clerks": [1]}), ("bound_clerk", {"any": 1}),
        ("profile", [{"field": "skin_type", "group": ["pets"]}]), ("profile", [{"field": "skin_type", "op": ["eq"]}]),
        ("profile", [{"field": "skin_type", "value": {"a": 1}}]), ("profile", [{"field": "skin_type", "value": None}]),
        ("profile", [{"field": "skin_type", "op": "in", "value": [["dry"]]}]),
        ("profile", [{"field": "shoe_size", "op": "gte", "value": "1e999999"}]),
        ("profile", [{"field": "shoe_size", "op": "gte", "value": "NaN"}]),
        ("profile", [{"field": "shoe_size", "op": "gte", "value": 10**30}]),
        ("profile", [{"field": "shoe_size", "op": "eq", "value": 10**30}]),
        ("profile", [{"field": "birthday", "op": "gte", "value": "2026-02-30"}]),
        ("profile", [{"field": "skin_type", "value": "dry", "colour": 1}]),
        ("profile", [{"field": "colour", "value": "red"}]),  # no such profile field
        ("profile", [{"field": "skin_type__contains", "value": "dry"}]),  # an ORM lookup, not a key
        ("profile", [{"field": "contains", "value": "dry"}]),  # a lookup name of the JSON column
        ("profile", [{"group": "pets", "field": "skin_type", "value": "dry"}]),  # not a field of the group
        ("profile", [{"field": "species", "value": "cat"}]),  # a field of a group, not of the member
    ],
)  # fmt: skip
def test_nested_values_of_the_wrong_type_or_unknown_keys_are_named_as_problems(rule, value, profile_fields):
    with pytest.raises(ApplicationError) as caught:
        members_matching({rule: value})
    assert (caught.value.code, set(caught.value.details["rules"])) == ("invalid_segment", {rule})


@pytest.fixture
def profile_fields(db):
    ProfileField.objects.create(key="skin_type", label="Skin", type="choice", choices=["dry", "oily"])
    ProfileField.objects.create(key="shoe_size", label="Shoe size", type="number")
    ProfileField.objects.create(key="birthday", label="Birthday", type="date")
    ProfileField.objects.create(key="contains", label="Contains", type="text")
    pets = ProfileGroup.objects.create(key="pets", label="Pets")
    ProfileField.objects.create(group=pets, key="species", label="Species", type="choice", choices=["cat", "dog"])


def test_the_api_answers_a_wrong_type_with_400_and_saves_nothing(crowd):
    api = client_for(make_staff(Role.HQ_CRM).user)
    for rules in ({"coupons": True}, {"coupons": {"campaigns": 5}}, {"profile": [{"field": "x__y", "value": 1}]}):
        preview = api.post("/api/v1/marketing/segments/preview/", {"rules": rules}, format="json")
        assert (preview.status_code, preview.json()["code"]) == (400, "invalid_segment"), rules
        saved = api.post("/api/v1/marketing/segments/", {"name": "X", "rules": rules}, format="json")
        assert (saved.status_code, saved.json()["code"]) == (400, "invalid_segment"), rules
    assert Segment.objects.count() == 0


def test_a_gte_on_a_number_too_long_for_the_comparison_never_matches_and_never_fails(crowd):
    # a value stored before the field had its limits (imported): 25 digits
    Member.objects.filter(pk=crowd["ken"].pk).update(profile={"shoe_size": "1" * 25})
    assert names({"profile": [{"field": "shoe_size", "op": "gte", "value": 1}]}) == {"林美華"}
    assert names({"profile": [{"field": "shoe_size", "op": "gte", "value": "99999999999999999999.5"}]}) == set()


# --- the nightly job --------------------------------------------------------------------------------


def test_the_nightly_job_records_a_broken_segment_and_evaluates_the_others(crowd, shop, hq_admin, caplog):
    broken = services.segment_create(
        actor=hq_admin, name="Dry skin", rules={"profile": [{"field": "skin_type", "op": "eq", "value": "dry"}]}
    )
    good = services.segment_create(actor=hq_admin, name="Store B", rules={"home_stores": [shop.store_b.code]})
    ProfileField.objects.filter(key="skin_type").delete()  # HQ dropped the field the segment reads
    member_services.member_register(phone="0977000666", name="Yu", store=shop.store_b)
    with caplog.at_level("ERROR", logger="marketing.services"):
        assert services.segments_refresh() == 1
    failed = broken.runs.order_by("id").last()
    assert (failed.members, failed.entered, failed.left, failed.by) == (1, 0, 0, None)  # members kept
    assert failed.error.startswith("invalid_segment: The segment's rules are not valid.")
    assert "skin_type" in failed.error
    assert [r.message for r in caplog.records] == [f"Segment {broken.pk} (Dry skin) could not be evaluated"]
    good.refresh_from_db()
    assert (good.members_count, good.runs.order_by("id").last().error) == (2, "")  # Ann and Yu
    runs = client_for(hq_admin).get(f"/api/v1/marketing/segments/{broken.pk}/runs/").json()["results"]
    assert [bool(r["error"]) for r in runs] == [True, False]


# --- RFM counts purchases that stand ----------------------------------------------------------------


def test_rfm_leaves_out_a_purchase_refunded_in_full(shop):
    from orders.services import order_cancel

    mei = shop.member
    ken = member_services.member_register(phone="0922000111", name="Ken").member
    kept = web_order(shop, [("TEE-M", 1)], day=days_ago(10), member=mei)
    order_cancel(order=web_order(shop, [("JEANS-M", 1)], day=days_ago(2), member=mei), reason="changed mind")
    order_cancel(order=web_order(shop, [("CAP-M", 1)], day=days_ago(3), member=ken))
    assert services.rfm_refresh(now=NOW) == 1  # Ken's only purchase was refunded: he is not a buyer
    got = MemberRFM.objects.get()
    assert (got.member, got.frequency, got.recency_days, got.last_purchase_at, got.monetary) == (
        mei, 1, 10, at(days_ago(10)), kept.total
    )  # fmt: skip
    assert names({"last_purchase_days": {"max": 5}}) == set()  # the cancelled orders were the recent ones
    assert names({"last_purchase_days": {"max": 30}}) == {"林美華"}
