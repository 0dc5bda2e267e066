"""Effective member activity beyond purchases: reviews (moderated), events (capacity, check-in),
referrals made and coupons collected, as segment rules and on the member 360 page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from marketing import engagement
from marketing.models import Review
from marketing.rules import members_matching
from members import coupons
from members import services as member_services
from members.auth import member_token
from members.selectors import member_360
from omo.core.errors import ConflictError
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
    came = client_for(clerk_a).post(
        f"/api/v1/marketing/events/{event.pk}/check-in/", {"member": shop.member.member_no}, format="json"
    )
    assert came.status_code == 200 and came.json()["status"] == "attended"
    with pytest.raises(ConflictError):  # a walk-in when the place is taken
        engagement.event_check_in(actor=clerk_a, event=event, member=ken)


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
