"""Personal data end to end: the flows that touch a member's phone, email and address log none of them
(every record of every logger, Celery's and Django's included, at DEBUG), a clerk sees them masked,
and the PDPA export holds everything (marketing too) while erasure removes the person everywhere and
keeps the money and points ledgers consistent."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Sum
from django.utils import timezone

from marketing import campaigns, engagement
from marketing import services as marketing_services
from marketing.models import CampaignRecipient, CategoryAffinity, EventAttendance, Review, SegmentMembership
from members import auth, privacy
from members import services as member_services
from members.models import Member, PointsEntry
from members.sms import FakeSmsProvider
from omo.core.errors import ApplicationError
from omo.events.models import OutboxEvent
from orders import services as order_services
from orders.models import Order
from tests.conftest import client_for
from tests.orders.conftest import shop  # noqa: F401  the orders tests' shop

PHONE, EMAIL = "0987654321", "chen.jiahui@example.org"
NAME = "陳家慧"
ADDRESS = {"name": NAME, "phone": "0987-654-321", "address": "台中市西屯區臺灣大道三段 99 號"}
# every way the phone may be written
PHONE_FORMS = ["0987654321", "+886987654321", "886987654321", "0987-654-321", "0987 654 321", "987654321"]
SECRETS = [*PHONE_FORMS, EMAIL, "chen.jiahui", ADDRESS["address"], "臺灣大道三段"]
LOGGERS = ["", "django", "django.request", "django.db.backends", "celery", "celery.app.trace", "celery.task"]


@pytest.fixture
def all_logs(caplog):
    """Every record at DEBUG, from the root logger and from the loggers that do not propagate to it."""
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    for name in ("celery", "celery.app.trace", "celery.task"):
        logger = logging.getLogger(name)
        if not logger.propagate and caplog.handler not in logger.handlers:
            logger.addHandler(caplog.handler)
    yield caplog
    for name in ("celery", "celery.app.trace", "celery.task"):
        if caplog.handler in logging.getLogger(name).handlers:
            logging.getLogger(name).removeHandler(caplog.handler)


def leaks(records) -> list[str]:
    found = []
    for record in records:
        text = " ".join(
            [
                str(record.msg),
                repr(record.args),
                record.getMessage() if record.args is not None else "",
                logging.Formatter().formatException(record.exc_info) if record.exc_info else "",
                str(getattr(record, "exc_text", "") or ""),
                repr(
                    {
                        k: v
                        for k, v in vars(record).items()
                        if k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
                    }
                ),
            ]
        )
        found += [f"{record.name}: {secret!r} in {text[:300]!r}" for secret in SECRETS if secret in text]
    return found


@pytest.fixture
def quiet_hours_off(settings):
    settings.MARKETING_QUIET_START = settings.MARKETING_QUIET_END = "00:00"
    settings.MARKETING_PROVIDERS = {
        **settings.MARKETING_PROVIDERS,
        "sms": "marketing.providers.SmsProvider",
        "email": "marketing.providers.EmailProvider",
    }
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    FakeSmsProvider.outbox.clear()


def the_member_s_life(shop, hq_admin, clerk_a):  # noqa: F811
    """Registration at the counter, log-in by code (a wrong code first), a POS sale and a web order with a
    delivery address, a review, an event, SMS and email campaigns: a member with something everywhere."""
    pos_api = client_for(clerk_a)
    registered = pos_api.post(
        "/api/v1/members/register/",
        {"phone": PHONE, "email": EMAIL, "name": NAME, "consents": {"sms": True, "email": True}},
        format="json",
    )
    assert registered.status_code == 201, registered.content
    # what the clerk gets back, and from the lookup: masked
    looked_up = pos_api.get("/api/v1/members/lookup/", {"phone": "0987-654-321"})
    for body in (registered.json(), looked_up.json()):
        assert (body["name"], body["phone"], body["email"]) == ("陳*慧", "0987-***-321", "c***@example.org")
    member = Member.objects.get(phone="+886987654321")

    auth.login_code_send(phone=PHONE)
    with pytest.raises(ApplicationError):
        auth.login_code_verify(phone="0987-654-321", code="not-it")
    code = re.search(r"\d{6}", FakeSmsProvider.outbox[-1].text).group(0)
    assert auth.login_code_verify(phone=PHONE, code=code, channel=shop.web)[0] == member
    with pytest.raises(ApplicationError):
        member_services.member_register(phone="09876", email="not an email")  # a bad phone: refused, not logged

    sale = order_services.order_place(
        channel=shop.pos, fulfilment="counter", store=shop.store_a, clerk=clerk_a, actor=clerk_a,
        lines=[(shop.tee.sku, 1)], member=member,
    )  # fmt: skip
    order_services.order_pay(order=sale, tenders=[{"tender": "cash", "amount": sale.total}], actor=clerk_a)
    web = order_services.order_place(
        channel=shop.web, fulfilment="ship", lines=[(shop.cap.sku, 2)], member=member, shipping_address=ADDRESS
    )
    order_services.order_pay(order=web, tenders=[{"tender": "card"}])

    engagement.review_submit(
        member=member, product=shop.tee.product, rating=5, channel=shop.web, title="很好穿", body=f"打 {PHONE} 找我"
    )
    now = timezone.now()
    event = engagement.event_create(
        actor=hq_admin, name="穿搭講座", store=shop.store_a, starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
    )  # fmt: skip
    engagement.event_register(member=member, event=event)
    engagement.event_check_in(actor=clerk_a, event=event, member=member)

    segment = marketing_services.segment_create(
        actor=hq_admin, name="Store A members", rules={"home_stores": [shop.store_a.code]}
    )
    for channel in ("sms", "email"):
        campaign = campaigns.campaign_create(
            actor=hq_admin, name=f"Hello by {channel}", segment=segment, channel=channel, subject="Hi",
            message="{name}, see you at store A", control_percent=0,
        )  # fmt: skip
        campaigns.campaign_launch(actor=hq_admin, campaign=campaign)
        campaigns.campaign_send_batch(campaign=campaign)
    member.refresh_from_db()
    return member, sale, web


@pytest.mark.django_db
def test_no_flow_writes_a_phone_email_or_address_to_the_logs(
    shop,  # noqa: F811
    hq_admin,
    clerk_a,
    all_logs,
    quiet_hours_off,
):
    member, _sale, _web = the_member_s_life(shop, hq_admin, clerk_a)
    assert [m.to for m in mail.outbox] == [[EMAIL]]
    assert FakeSmsProvider.outbox[-1].phone == "+886987654321"  # the fakes did send: the flows ran
    data = client_for(hq_admin).get(f"/api/v1/members/{member.member_no}/export/").json()
    assert data["member"]["email"] == EMAIL
    erased = client_for(hq_admin).post(f"/api/v1/members/{member.member_no}/erase/", {"reason": "PDPA #7"})
    assert erased.status_code in (200, 201), erased.content
    wrong = client_for(clerk_a).post("/api/v1/members/login/verify/", {"phone": PHONE, "code": "000000"})
    assert wrong.status_code in (400, 403, 422, 429)

    assert len(all_logs.records) > 0
    assert leaks(all_logs.records) == []


def test_the_scan_finds_a_leak():
    records = [
        logging.LogRecord("members", logging.INFO, "x", 1, "sent to %s", ("+886987654321",), None),
        logging.LogRecord("orders", logging.INFO, "x", 1, f"deliver to {ADDRESS['address']}", None, None),
    ]

    assert [line.split(":")[0] for line in leaks(records)] == ["members"] * 3 + ["orders"] * 2


@pytest.mark.django_db
def test_the_export_holds_everything_and_erasure_removes_the_person_everywhere(
    shop,  # noqa: F811
    hq_admin,
    clerk_a,
    quiet_hours_off,
):
    member, sale, web = the_member_s_life(shop, hq_admin, clerk_a)

    data = privacy.member_export(member=member)
    json.dumps(data, cls=DjangoJSONEncoder)
    assert (data["member"]["phone"], data["member"]["email"], data["member"]["name"]) == ("+886987654321", EMAIL, NAME)
    assert {row["number"] for row in data["other_records"]["orders.order"]} == {sale.number, web.number}
    assert [p["reference"] for p in data["purchases"]] == [sale.number, web.number]
    assert sum(e["points"] for e in data["points_entries"]) == member.points_balance > 0
    assert data["marketing"]["reviews"][0]["body"] == f"打 {PHONE} 找我"
    assert [(e["event"], e["status"]) for e in data["marketing"]["events"]] == [("穿搭講座", "attended")]
    assert sorted((m["campaign"], m["status"]) for m in data["marketing"]["campaign_messages"]) == [
        ("Hello by email", "sent"),
        ("Hello by sms", "sent"),
    ]
    assert [s["segment"] for s in data["marketing"]["segments"]] == ["Store A members"]
    assert "attribution.binding" in data["other_records"]  # the clerk's binding from the counter sale

    privacy.member_erase(member=member, actor=hq_admin, reason="PDPA #8")

    member.refresh_from_db()
    assert (member.name, member.phone, member.email, member.status, member.points_balance) == (
        "",
        None,
        None,
        "erased",
        0,
    )
    review = Review.objects.get(member=member)
    assert (review.rating, review.title, review.body) == (5, "", "")
    assert EventAttendance.objects.get(member=member).status == "attended"  # the event's figures stay
    assert sorted(CampaignRecipient.objects.filter(member=member).values_list("status", "provider_id", "detail")) == [
        ("sent", "", ""),
        ("sent", "", ""),
    ]
    assert not SegmentMembership.objects.filter(member=member).exists()
    assert not CategoryAffinity.objects.filter(member=member).exists()
    web.refresh_from_db()
    assert (web.shipping_address, web.total, web.status) == ({}, Decimal(600), "paid")
    # the ledgers stay whole: the balance is the sum of the entries, the orders' money unchanged
    assert PointsEntry.objects.filter(member=member).aggregate(s=Sum("points"))["s"] == 0
    assert Order.objects.filter(member=member).aggregate(s=Sum("paid_total"))["s"] == sale.total + web.total
    # nothing with the person in it is left in any table we write: scan every row of the apps' tables
    left = []
    from django.apps import apps

    for model in apps.get_models():
        if model._meta.app_label not in {"members", "orders", "marketing", "attribution", "events", "pos", "audit"}:
            continue
        if not model._meta.managed or model._meta.proxy:  # views over the tables scanned anyway
            continue
        for row in model._base_manager.values():
            text = json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False)
            left += [f"{model._meta.label}: {s}" for s in [*SECRETS, NAME] if s in text]
    assert left == []
    assert OutboxEvent.objects.filter(aggregate_id=member.member_no).exists()
