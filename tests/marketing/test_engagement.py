"""Effective member activity beyond purchases: reviews (moderated), events (capacity, check-in),
referrals made and coupons collected, as segment rules and on the member 360 page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from marketing import engagement
from marketing.models import EventAttendance, Review, StoreEvent
from marketing.rules import members_matching
from members import coupons
from members import services as member_services
from members.auth import member_token
from members.selectors import member_360
from omo.core.errors import ConflictError, NotFoundError
from omo.org import services as org
from tests.conftest import client_for
from tests.dashboard.conftest import TODAY, web_order
from tests.orders.conftest import shared_coupon


@pytest.fixture
def app(shop):
    """The web shop calling with its API key."""
    _credential, key = org.channel_credential_issue(channel=shop.web, name="test", created_by=None)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


def names(rules) -> set[str]:
    return set(members_matching(rules).values_list("name", flat=True))


def test_a_review_from_the_web_waits_for_moderation_then_shows(shop, app, hq_admin):
    mei = shop.member
    web_order(shop, [("TEE-M", 1)], day=TODAY, member=mei)
    token = member_token(mei)
    body = {"product": shop.tee.product.style_code, "rating": 5, "title": "Soft", "body": "Washes well."}
    written = app.post("/api/v1/marketing/reviews/", body, format="json", HTTP_X_MEMBER_TOKEN=token)
    assert written.status_code == 201, written.json()
    assert (written.json()["status"], written.json()["verified"], written.json()["channel"]) == ("pending", True, "WEB")
    again = app.post("/api/v1/marketing/reviews/", body, format="json", HTTP_X_MEMBER_TOKEN=token)
    assert again.status_code == 409 and again.json()["code"] == "review_exists"
    bad = app.post("/api/v1/marketing/reviews/", {**body, "rating": 6}, format="json", HTTP_X_MEMBER_TOKEN=token)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_review"
    listed = app.get("/api/v1/marketing/reviews/", {"product": shop.tee.product.style_code}).json()
    assert (listed["count"], listed["reviews"]) == (0, [])  # not shown before moderation
    staff = client_for(hq_admin)
    pending = staff.get("/api/v1/marketing/reviews/pending/").json()["results"]
    assert [r["title"] for r in pending] == ["Soft"]
    refused = staff.post(f"/api/v1/marketing/reviews/{pending[0]['id']}/moderate/", {"approve": False}, format="json")
    assert refused.status_code == 422 and refused.json()["code"] == "reason_required"
    assert (
        staff.post(
            f"/api/v1/marketing/reviews/{pending[0]['id']}/moderate/", {"approve": True}, format="json"
        ).status_code
        == 200
    )
    listed = app.get("/api/v1/marketing/reviews/", {"product": shop.tee.product.style_code}).json()
    assert (listed["count"], listed["average"], listed["reviews"][0]["body"]) == (1, "5.0", "Washes well.")
    review = Review.objects.get()
    assert (review.moderated_by, review.status) == (hq_admin, "approved")
    with pytest.raises(ConflictError):
        engagement.review_moderate(actor=hq_admin, review=review, approve=False, note="late")


def test_events_fill_up_and_the_last_place_goes_once(shop, app, hq_admin, clerk_a):
    start = timezone.now() + timedelta(days=3)
    event = engagement.event_create(
        actor=hq_admin, name="Denim care workshop", store=shop.store_a, starts_at=start,
        ends_at=start + timedelta(hours=2), capacity=1,
    )  # fmt: skip
    ken = member_services.member_register(phone="0922000111", name="Ken").member
    signed = app.post(f"/api/v1/marketing/events/{event.pk}/register/", HTTP_X_MEMBER_TOKEN=member_token(shop.member))
    assert signed.status_code == 200 and signed.json()["status"] == "registered"
    full = app.post(f"/api/v1/marketing/events/{event.pk}/register/", HTTP_X_MEMBER_TOKEN=member_token(ken))
    assert full.status_code == 409 and full.json()["code"] == "event_full"
    assert app.get("/api/v1/marketing/events/").json()[0]["taken"] == 1
    with time_machine.travel(start + timedelta(minutes=10), tick=False):  # check-in opens around the event
        came = client_for(clerk_a).post(
            f"/api/v1/marketing/events/{event.pk}/check-in/", {"member": shop.member.member_no}, format="json"
        )
        assert came.status_code == 200 and came.json()["status"] == "attended"
        with pytest.raises(ConflictError) as caught:  # a walk-in when the place is taken
            engagement.event_check_in(actor=clerk_a, event=event, member=ken)
    assert caught.value.code == "event_full"


def test_engagement_rules_and_the_member_360_page(shop, hq_admin, clerk_a):
    mei = shop.member
    ken = member_services.member_register(phone="0922000111", name="Ken").member
    ann = member_services.member_register(phone="0933000222", name="Ann", referral_code=mei.referral_code).member
    member_services.member_register(phone="0944000333", name="Bo", referral_code=mei.referral_code)
    low = engagement.review_submit(member=ken, product=shop.cap.product, rating=2, channel=shop.web, body="Too small")
    engagement.review_submit(member=ann, product=shop.cap.product, rating=5, channel=shop.web)
    rejected = engagement.review_submit(member=mei, product=shop.tee.product, rating=1, channel=shop.web)
    engagement.review_moderate(actor=hq_admin, review=rejected, approve=False, note="spam")
    start = timezone.now() - timedelta(hours=3)
    event = engagement.event_create(
        actor=hq_admin, name="Styling night", store=shop.store_a, starts_at=start, ends_at=start + timedelta(hours=5)
    )
    engagement.event_check_in(actor=clerk_a, event=event, member=ann)
    shared_coupon("WELCOME", 100)
    coupons.coupon_collect(member=ken, code="WELCOME", channel=shop.web)
    assert names({"reviewed": {"max_rating": 2}}) == {"Ken"}  # unhappy reviewers (a rejected one does not count)
    assert names({"reviewed": {"min_rating": 4}}) == {"Ann"}
    assert names({"attended_events": {"days": 30}}) == {"Ann"}
    assert names({"referred_members": {"min": 2}}) == {"林美華"}  # brought in Ann and Bo
    assert names({"referred_members": {"min": 3}}) == set()
    assert names({"collected_coupons": {"days": 7}}) == {"Ken"}
    sections = {s["key"]: s for s in member_360(ken)["sections"]}
    kinds = [row[1] for row in sections["engagement"]["rows"]]
    assert sorted(kinds) == ["coupon collected", "review"]
    assert low.product.name in sections["engagement"]["rows"][-1][2] or low.product.name in str(
        sections["engagement"]["rows"]
    )


# --- check-in: the clerk's own store, around the event's time -----------------------------------------


@pytest.fixture
def workshop(shop, hq_admin):
    """A workshop at store A tomorrow 14:00-16:00 (local time), and Ken, a member who did not sign up."""
    start = timezone.localtime().replace(hour=14, minute=0, second=0, microsecond=0) + timedelta(days=1)
    event = engagement.event_create(
        actor=hq_admin, name="Knit workshop", store=shop.store_a, starts_at=start, ends_at=start + timedelta(hours=2)
    )
    ken = member_services.member_register(phone="0922000111", name="Ken").member
    return event, ken


def test_another_store_s_staff_cannot_check_in_at_an_event_they_cannot_see(workshop, clerk_b, manager_b):
    event, ken = workshop
    during = event.starts_at + timedelta(minutes=30)
    for user in (clerk_b, manager_b):
        with time_machine.travel(during, tick=False):
            response = client_for(user).post(
                f"/api/v1/marketing/events/{event.pk}/check-in/", {"member": ken.member_no}, format="json"
            )
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
        with pytest.raises(NotFoundError):
            engagement.event_check_in(actor=user, event=event, member=ken, now=during)
    assert EventAttendance.objects.count() == 0


def test_check_in_opens_two_hours_before_the_start_and_closes_two_hours_after_the_end(workshop, clerk_a):
    event, ken = workshop
    too_early = event.starts_at - timedelta(hours=2, minutes=1)
    with time_machine.travel(too_early, tick=False):
        response = client_for(clerk_a).post(
            f"/api/v1/marketing/events/{event.pk}/check-in/", {"member": ken.member_no}, format="json"
        )
    assert (response.status_code, response.json()["code"]) == (409, "event_not_open")
    assert response.json()["details"] == {
        "opens_at": timezone.localtime(event.starts_at - timedelta(hours=2)).isoformat(),
        "closes_at": timezone.localtime(event.ends_at + timedelta(hours=2)).isoformat(),
    }
    too_late = event.ends_at + timedelta(hours=2, minutes=1)
    with pytest.raises(ConflictError) as caught:
        engagement.event_check_in(actor=clerk_a, event=event, member=ken, now=too_late)
    assert caught.value.code == "event_not_open"
    assert EventAttendance.objects.count() == 0  # refused: nothing recorded
    first = event.starts_at - timedelta(hours=2)
    came = engagement.event_check_in(actor=clerk_a, event=event, member=ken, now=first)
    assert (came.status, came.attended_at, came.checked_in_by) == ("attended", first, clerk_a)
    last = event.ends_at + timedelta(hours=2)
    bo = member_services.member_register(phone="0944000333", name="Bo").member
    assert engagement.event_check_in(actor=clerk_a, event=event, member=bo, now=last).attended_at == last


def test_online_events_are_hq_s_to_create_and_check_in(shop, hq_admin, manager_a, clerk_a):
    start = timezone.now() + timedelta(minutes=30)
    body = {"name": "Live styling", "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
    refused = client_for(manager_a).post("/api/v1/marketing/events/", body, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "store_out_of_scope")
    assert StoreEvent.objects.count() == 0
    created = client_for(hq_admin).post("/api/v1/marketing/events/", body, format="json")
    assert created.status_code == 201 and (created.json()["store"], created.json()["taken"]) == (None, 0)
    pk = created.json()["id"]
    member = {"member": shop.member.member_no}
    by_clerk = client_for(clerk_a).post(f"/api/v1/marketing/events/{pk}/check-in/", member, format="json")
    assert by_clerk.status_code == 404  # store staff have no online events
    assert EventAttendance.objects.count() == 0
    by_hq = client_for(hq_admin).post(f"/api/v1/marketing/events/{pk}/check-in/", member, format="json")
    assert (by_hq.status_code, by_hq.json()["status"]) == (200, "attended")
    in_store = client_for(manager_a).post(
        "/api/v1/marketing/events/", {**body, "store": shop.store_a.code}, format="json"
    )
    assert in_store.status_code == 201 and in_store.json()["store"] == shop.store_a.code
    other = client_for(manager_a).post("/api/v1/marketing/events/", {**body, "store": shop.store_b.code}, format="json")
    assert other.status_code == 404 and StoreEvent.objects.count() == 2


def test_the_event_list_counts_places_in_one_query_whatever_the_number_of_events(
    shop, app, hq_admin, django_assert_num_queries
):
    start = timezone.now() + timedelta(days=2)
    for n in range(3):
        event = engagement.event_create(
            actor=hq_admin, name=f"Night {n}", store=shop.store_a, starts_at=start + timedelta(hours=n),
            ends_at=start + timedelta(hours=n + 1), capacity=10,
        )  # fmt: skip
        for i in range(n):
            member = member_services.member_register(phone=f"09220001{n}{i}", name=f"M{n}{i}").member
            engagement.event_register(member=member, event=event)
    cancelled = EventAttendance.objects.filter(event__name="Night 2").first()
    cancelled.status = EventAttendance.Status.CANCELLED
    cancelled.save()
    app.get("/api/v1/marketing/events/")  # the channel key is looked up once
    with django_assert_num_queries(1):  # the events with their places (the channel key is cached)
        listed = app.get("/api/v1/marketing/events/").json()
    assert [(e["name"], e["taken"]) for e in listed] == [("Night 0", 0), ("Night 1", 1), ("Night 2", 1)]


def test_approved_reviews_are_listed_in_queries_that_do_not_grow_with_the_reviews(
    shop, app, hq_admin, django_assert_num_queries
):
    for n in range(3):
        member = member_services.member_register(phone=f"093300022{n}", name=f"R{n}").member
        review = engagement.review_submit(member=member, product=shop.tee.product, rating=4, channel=shop.web)
        engagement.review_moderate(actor=hq_admin, review=review, approve=True)
    style = shop.tee.product.style_code
    app.get("/api/v1/marketing/reviews/", {"product": style})
    with django_assert_num_queries(3):  # the product, the count and average, the reviews (the key is cached)
        listed = app.get("/api/v1/marketing/reviews/", {"product": style}).json()
    assert (listed["count"], listed["average"], len(listed["reviews"])) == (3, "4.0", 3)
