"""Campaign writes: create, launch (the audience fixed, the control group drawn), and send in batches.

Sending is at most once per member: a recipient row exists once per campaign and member, and a
worker marks its batch ``sending`` (committed) before it calls the provider, so a second run, a retry
or a second worker never picks the same member again. A worker that dies mid-batch leaves those rows
``sending``: shown in the campaign's summary, never sent again by the job."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketing.models import Campaign, CampaignRecipient, SegmentMembership
from marketing.providers import Message, ProviderError, provider_for
from marketing.services import segment_evaluate
from members.models import Consent, CouponCampaign, Identity, Member
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError

R = CampaignRecipient
MAX_TEXT = {"sms": 335, "line": 5000, "push": 500, "email": 20000}
CONSENT = {"sms": Consent.Purpose.SMS, "email": Consent.Purpose.EMAIL, "line": Consent.Purpose.LINE}


def _clock(value, default: str) -> time:
    if value is None or value == "":
        return time.fromisoformat(default)
    return value if isinstance(value, time) else time.fromisoformat(str(value))


def check(campaign: Campaign) -> None:
    """The campaign's fields checked; every problem at once in a 400 ``invalid_campaign``."""
    problems = {}
    if not campaign.name.strip():
        problems["name"] = _("Required.")
    if campaign.channel not in Campaign.Channel.values:
        problems["channel"] = _("One of %(choices)s.") % {"choices": ", ".join(Campaign.Channel.values)}
    if not campaign.message.strip():
        problems["message"] = _("Required.")
    elif campaign.channel in MAX_TEXT and len(campaign.message) > MAX_TEXT[campaign.channel]:
        problems["message"] = _("At most %(n)d characters for this channel.") % {"n": MAX_TEXT[campaign.channel]}
    if campaign.channel == Campaign.Channel.EMAIL and not campaign.subject.strip():
        problems["subject"] = _("An email needs a subject.")
    if not 0 <= campaign.control_percent <= 50:
        problems["control_percent"] = _("From 0 to 50.")
    if not 1 <= campaign.attribution_days <= 90:
        problems["attribution_days"] = _("From 1 to 90.")
    if campaign.per_minute < 1:
        problems["per_minute"] = _("1 or more.")
    cc = campaign.coupon_campaign
    if cc is not None and (cc.code_type != CouponCampaign.Codes.UNIQUE or not cc.is_active):
        problems["coupon_campaign"] = _("An active coupon campaign with a unique code per member.")
    if "{code}" in campaign.message and cc is None:
        problems["message"] = _("{code} needs a coupon.")
    if problems:
        raise ApplicationError(_("The campaign is not valid."), code="invalid_campaign", details=problems)


@transaction.atomic
def campaign_create(*, actor, name: str, segment, channel: str, message: str, **options) -> Campaign:
    """A draft campaign (nothing is sent until it is launched)."""
    allowed = {
        "subject", "coupon_campaign", "bonus_points", "control_percent", "attribution_days", "per_minute",
        "quiet_start", "quiet_end",
    }  # fmt: skip
    unknown = set(options) - allowed
    if unknown:
        raise ApplicationError(_("Unknown fields: %(names)s.") % {"names": ", ".join(sorted(unknown))})
    campaign = Campaign(name=name.strip(), segment=segment, channel=channel, message=message, created_by=actor)
    for key, value in options.items():
        if value is not None:
            setattr(campaign, key, value)
    check(campaign)
    campaign.save()
    return campaign


@transaction.atomic
def campaign_launch(*, actor, campaign: Campaign, now: datetime | None = None) -> Campaign:
    """Fixes the audience: the segment evaluated now, a random ``control_percent`` of it held out (the
    draw is reproducible: seeded by the campaign), the rest waiting to be sent; the workers are woken
    after the commit."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT or campaign.recipients.exists():
        raise ConflictError(_("Only a draft campaign can be launched, once."), code="campaign_not_draft")
    check(campaign)
    segment_evaluate(segment=campaign.segment, actor=actor, now=now)
    members = list(
        SegmentMembership.objects.filter(segment=campaign.segment, left_at__isnull=True)
        .order_by("member_id")
        .values_list("member_id", flat=True)
    )
    draw = random.Random(f"campaign-{campaign.pk}")  # noqa: S311 (a fair, reproducible draw, not a secret)
    held_out = set(draw.sample(members, round(len(members) * campaign.control_percent / 100)))
    R.objects.bulk_create(
        [
            R(campaign=campaign, member_id=pk, group=R.Group.CONTROL, status=R.Status.HELD_OUT)
            if pk in held_out
            else R(campaign=campaign, member_id=pk, group=R.Group.TARGET, status=R.Status.PENDING)
            for pk in members
        ],
        batch_size=5000,
    )
    campaign.status, campaign.audience = Campaign.Status.SENDING, len(members)
    campaign.launched_at, campaign.launched_by = now, actor
    campaign.save(update_fields=["status", "audience", "launched_at", "launched_by"])

    def wake():
        from marketing.tasks import campaign_send

        campaign_send.delay(campaign.pk)

    transaction.on_commit(wake)
    return campaign


@transaction.atomic
def campaign_cancel(*, actor, campaign: Campaign) -> Campaign:
    """Stops a campaign: what was not sent yet never will be (already sent stays sent)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.SENDING):
        raise ConflictError(_("The campaign has ended already."), code="campaign_ended")
    campaign.status, campaign.finished_at = Campaign.Status.CANCELLED, timezone.now()
    campaign.save(update_fields=["status", "finished_at"])
    return campaign


def quiet_until(campaign: Campaign, now: datetime) -> datetime | None:
    """When the quiet hours around ``now`` end (local time), or None outside them."""
    start = _clock(campaign.quiet_start, settings.MARKETING_QUIET_START)
    end = _clock(campaign.quiet_end, settings.MARKETING_QUIET_END)
    local = timezone.localtime(now)
    at = local.time()
    if start == end:
        return None
    inside = (start <= at or at < end) if start > end else (start <= at < end)
    if not inside:
        return None
    day = local.date() + timedelta(days=1) if start > end and at >= start else local.date()
    return timezone.make_aware(datetime.combine(day, end))


def _address(member: Member, channel: str) -> str:
    if channel == Campaign.Channel.SMS:
        return member.phone or ""
    if channel == Campaign.Channel.EMAIL:
        return member.email or ""
    provider = Identity.Provider.LINE if channel == Campaign.Channel.LINE else Identity.Provider.APP_INSTALL
    ident = Identity.objects.filter(member=member, provider=provider).order_by("-id").first()
    return ident.external_id if ident else ""


def _consents(member: Member, channel: str) -> bool:
    """SMS, email and LINE need the member's marketing consent for that channel (the latest they
    gave); app push needs none here: the phone asks for it when the app is installed."""
    if channel not in CONSENT:
        return True
    latest = Consent.objects.filter(member=member, purpose=CONSENT[channel]).order_by("-id").first()
    return bool(latest and latest.granted)


def _text(template: str, member: Member, code: str, points: int) -> str:
    return template.replace("{name}", member.name or "").replace("{code}", code).replace("{points}", str(points))


def campaign_send_batch(*, campaign: Campaign, now: datetime | None = None, limit: int | None = None) -> dict:
    """Sends the next batch (at most ``per_minute`` and ``MARKETING_BATCH``): claims it, then per member
    checks consent and an address, issues the coupon code and the bonus points, sends, and records
    the outcome. Returns {claimed, sent, skipped, failed, remaining, wait_until, done}."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_related("coupon_campaign").get(pk=campaign.pk)
    out = {"claimed": 0, "sent": 0, "skipped": 0, "failed": 0, "remaining": 0, "wait_until": None, "done": False}
    if campaign.status != Campaign.Status.SENDING:
        out["done"] = True
        return out
    wait = quiet_until(campaign, now)
    if wait is not None:
        out["wait_until"] = wait
        out["remaining"] = campaign.recipients.filter(status=R.Status.PENDING).count()
        return out
    size = min(limit or settings.MARKETING_BATCH, campaign.per_minute)
    with transaction.atomic():
        claimed = list(
            campaign.recipients.filter(status=R.Status.PENDING)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:size]
        )
        R.objects.filter(pk__in=claimed).update(status=R.Status.SENDING)
    out["claimed"] = len(claimed)
    provider = provider_for(campaign.channel)
    for recipient in R.objects.filter(pk__in=claimed).select_related("member").order_by("pk"):
        outcome = _send_one(campaign, recipient, provider, now)
        out[{"sent": "sent", "failed": "failed"}.get(outcome, "skipped")] += 1
    out["remaining"] = campaign.recipients.filter(status=R.Status.PENDING).count()
    if not out["remaining"] and not campaign.recipients.filter(status=R.Status.SENDING).exists():
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
            status=Campaign.Status.SENT, finished_at=timezone.now()
        )
        out["done"] = True
    return out


def _send_one(campaign: Campaign, recipient: CampaignRecipient, provider, now: datetime) -> str:
    from members.coupons import coupons_issue
    from members.services import points_earn

    member = recipient.member
    if member.status != Member.Status.ACTIVE or not _consents(member, campaign.channel):
        R.objects.filter(pk=recipient.pk).update(status=R.Status.NO_CONSENT, detail=_("No consent for this channel."))
        return "skipped"
    to = _address(member, campaign.channel)
    if not to:
        R.objects.filter(pk=recipient.pk).update(status=R.Status.NO_ADDRESS, detail=_("Nowhere to send it."))
        return "skipped"
    try:
        with transaction.atomic():
            code = ""
            if campaign.coupon_campaign_id:
                code = coupons_issue(campaign=campaign.coupon_campaign, members=[member])[0].code
            if campaign.bonus_points:
                points_earn(
                    member=member, points=campaign.bonus_points, reference=f"campaign-{campaign.pk}",
                    reason=campaign.name,
                )  # fmt: skip
            text = _text(campaign.message, member, code, campaign.bonus_points)
            provider_id = provider.send(Message(to=to, text=text, subject=campaign.subject))
            R.objects.filter(pk=recipient.pk).update(
                status=R.Status.SENT, provider_id=provider_id[:100], coupon_code=code, sent_at=now
            )
    except (ProviderError, BusinessRuleError, ApplicationError) as error:  # the code and points roll back
        R.objects.filter(pk=recipient.pk).update(status=R.Status.FAILED, detail=str(error)[:200])
        return "failed"
    return "sent"
