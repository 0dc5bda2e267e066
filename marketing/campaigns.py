"""Campaign writes: create, launch (the audience fixed, the control group drawn), and send in batches.

Sending is at most once per member: a recipient row exists once per campaign and member, and a
worker marks its batch ``sending`` (committed) before it calls the provider, so a second run, a retry
or a second worker never picks the same member again. A worker that dies mid-batch leaves those rows
``sending``: shown in the campaign's summary, never sent again by the job."""

from __future__ import annotations

import logging
import random
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketing.models import Campaign, CampaignRecipient, SegmentMembership
from marketing.providers import Message, ProviderError, provider_for
from marketing.services import segment_evaluate
from members.models import Consent, CouponCampaign, Identity, Member
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError
from omo.org.access import ensure_permission

R = CampaignRecipient
logger = logging.getLogger(__name__)
MAX_TEXT = {"sms": 335, "line": 5000, "push": 500, "email": 20000}
CONSENT = {"sms": Consent.Purpose.SMS, "email": Consent.Purpose.EMAIL, "line": Consent.Purpose.LINE}
WINDOW = timedelta(seconds=60)  # ``per_minute`` counts the members taken in any such window
STALE = timedelta(minutes=15)  # a batch taken longer ago than this died with its worker (time limit 11 min)


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
    if (campaign.quiet_start is None) != (campaign.quiet_end is None):
        problems["quiet_end" if campaign.quiet_end is None else "quiet_start"] = _(
            "Quiet hours need a start and an end (or neither: the default only)."
        )
    elif campaign.quiet_start is not None and campaign.quiet_start == campaign.quiet_end:
        problems["quiet_end"] = _("Quiet hours end at another time than they start (they add to the default).")
    elif campaign.quiet_start is not None and not _can_send_some_time(campaign):
        problems["quiet_end"] = _("With the default quiet hours, these leave no time of day to send.")
    cc = campaign.coupon_campaign
    if cc is not None and (cc.code_type != CouponCampaign.Codes.UNIQUE or not cc.is_active):
        problems["coupon_campaign"] = _("An active coupon campaign with a unique code per member.")
    elif cc is not None and cc.ends_at is not None and cc.ends_at <= timezone.now():
        problems["coupon_campaign"] = _("This coupon campaign has ended: the codes could not be used.")
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
    if actor is not None:  # None: the system (a scheduled job, the demo)
        ensure_permission(actor, "marketing.add_campaign")
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
    if actor is not None:  # None: the system (a scheduled job, the demo)
        ensure_permission(actor, "marketing.change_campaign")
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
    size = int((Decimal(len(members)) * campaign.control_percent / 100).quantize(Decimal(1), ROUND_HALF_UP))
    held_out = set(draw.sample(members, size))
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

    def wake():  # a broker that is down costs the launch nothing: the minute sweep wakes it later
        from marketing.tasks import campaign_send
        from omo.core.queue import enqueue

        enqueue(campaign_send, (campaign.pk,))

    transaction.on_commit(wake)
    return campaign


@transaction.atomic
def campaign_update(*, actor, campaign: Campaign, **fields) -> Campaign:
    """Edits a draft (under its row lock: a launch in between wins, and this is refused)."""
    if actor is not None:  # None: the system (a scheduled job, the demo)
        ensure_permission(actor, "marketing.change_campaign")
    allowed = {
        "name", "segment", "channel", "message", "subject", "coupon_campaign", "bonus_points", "control_percent",
        "attribution_days", "per_minute", "quiet_start", "quiet_end",
    }  # fmt: skip
    unknown = set(fields) - allowed
    if unknown:
        raise ApplicationError(_("Unknown fields: %(names)s.") % {"names": ", ".join(sorted(unknown))})
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise ConflictError(_("Only a draft campaign can be edited."), code="campaign_not_draft")
    for key, value in fields.items():
        setattr(campaign, key, value.strip() if key == "name" and isinstance(value, str) else value)
    check(campaign)
    campaign.save()
    return campaign


@transaction.atomic
def campaign_cancel(*, actor, campaign: Campaign) -> Campaign:
    """Stops a campaign: what was not sent yet never will be (already sent stays sent; a batch already
    taken by a worker, at most ``per_minute`` members, still goes)."""
    if actor is not None:  # None: the system (a scheduled job, the demo)
        ensure_permission(actor, "marketing.change_campaign")
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.SENDING):
        raise ConflictError(_("The campaign has ended already."), code="campaign_ended")
    campaign.status, campaign.finished_at = Campaign.Status.CANCELLED, timezone.now()
    campaign.save(update_fields=["status", "finished_at"])
    return campaign


def _windows(campaign: Campaign) -> list[tuple[time, time]]:
    """The quiet hours in force: the default (``MARKETING_QUIET_START``/``_END``; the same time twice
    switches it off for the whole installation) and the campaign's own, which only add to it."""
    out = []
    start, end = _clock(None, settings.MARKETING_QUIET_START), _clock(None, settings.MARKETING_QUIET_END)
    if start != end:
        out.append((start, end))
    if campaign.quiet_start is not None and campaign.quiet_end is not None:
        start, end = _clock(campaign.quiet_start, ""), _clock(campaign.quiet_end, "")
        if start != end:
            out.append((start, end))
    return out


def _can_send_some_time(campaign: Campaign) -> bool:
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(), time(0)))
    return any(quiet_until(campaign, midnight + timedelta(minutes=m)) is None for m in range(0, 24 * 60, 5))


def quiet_until(campaign: Campaign, now: datetime) -> datetime | None:
    """When the quiet hours around ``now`` end (local time; windows that meet or overlap are followed
    to the end of the last), or None outside them."""
    at = timezone.localtime(now)
    windows = _windows(campaign)
    for _step in range(len(windows) + 1):
        for start, end in windows:
            clock = at.time()
            inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
            if inside:
                day = at.date() + timedelta(days=1) if start > end and clock >= start else at.date()
                at = timezone.make_aware(datetime.combine(day, end))
                break
        else:
            break
    return None if at == timezone.localtime(now) else at


def _addresses(members: list[Member], channel: str) -> dict[int, str]:
    """Where to send to each member (one query for LINE and push: their latest id)."""
    if channel == Campaign.Channel.SMS:
        return {m.pk: m.phone or "" for m in members}
    if channel == Campaign.Channel.EMAIL:
        return {m.pk: m.email or "" for m in members}
    provider = Identity.Provider.LINE if channel == Campaign.Channel.LINE else Identity.Provider.APP_INSTALL
    out: dict[int, str] = {}
    for member_id, external_id in (
        Identity.objects.filter(member__in=members, provider=provider)
        .order_by("id")
        .values_list("member_id", "external_id")
    ):
        out[member_id] = external_id  # the latest wins
    return out


def _consenting(members: list[Member], channel: str) -> set[int]:
    """The members whose latest answer for the channel's marketing consent is yes (one query). SMS,
    email and LINE need it; app push needs none here: the phone asks when the app is installed."""
    if channel not in CONSENT:
        return {m.pk for m in members}
    latest: dict[int, bool] = {}
    for member_id, granted in (
        Consent.objects.filter(member__in=members, purpose=CONSENT[channel])
        .order_by("id")
        .values_list("member_id", "granted")
    ):
        latest[member_id] = granted
    return {pk for pk, granted in latest.items() if granted}


def _text(template: str, member: Member, code: str, points: int) -> str:
    return template.replace("{name}", member.name or "").replace("{code}", code).replace("{points}", str(points))


def campaign_send_batch(*, campaign: Campaign, now: datetime | None = None, limit: int | None = None) -> dict:
    """Sends the next batch: at most ``MARKETING_BATCH`` members, and no more than ``per_minute`` taken
    in the last minute (over every worker: the count and the claim happen under the campaign's row
    lock, which a cancel also takes). Per member: consent, an address, the coupon code and the bonus
    points, the send, the outcome. Any error fails that member only.
    Returns {claimed, sent, skipped, failed, remaining, wait_until, done}; ``wait_until`` is set in
    quiet hours, or when this minute's allowance is used up."""
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
    with transaction.atomic():
        if not Campaign.objects.select_for_update().filter(pk=campaign.pk, status=Campaign.Status.SENDING).exists():
            out["done"] = True  # cancelled since it was read
            return out
        taken = R.objects.filter(campaign=campaign, claimed_at__gt=now - WINDOW).count()
        size = max(0, min(limit or settings.MARKETING_BATCH, campaign.per_minute - taken))
        claimed = (
            list(
                campaign.recipients.filter(status=R.Status.PENDING)
                .order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:size]
            )
            if size
            else []
        )
        R.objects.filter(pk__in=claimed).update(status=R.Status.SENDING, claimed_at=now)
    out["claimed"] = len(claimed)
    batch = list(R.objects.filter(pk__in=claimed).select_related("member").order_by("pk"))
    if batch:
        _send(campaign, batch, now, out)
    out["remaining"] = campaign.recipients.filter(status=R.Status.PENDING).count()
    if out["remaining"] and not size:
        first = R.objects.filter(campaign=campaign, claimed_at__gt=now - WINDOW).order_by("claimed_at").first()
        out["wait_until"] = (first.claimed_at if first else now) + WINDOW
    if not out["remaining"] and not campaign.recipients.filter(status=R.Status.SENDING).exists():
        Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
            status=Campaign.Status.SENT, finished_at=timezone.now()
        )
        out["done"] = True
    return out


def _send(campaign: Campaign, batch: list[CampaignRecipient], now: datetime, out: dict) -> None:
    provider = provider_for(campaign.channel)
    members = [r.member for r in batch]
    consenting, addresses = _consenting(members, campaign.channel), _addresses(members, campaign.channel)
    done: list[CampaignRecipient] = []  # outcomes written together at the end (one UPDATE)
    for recipient in batch:
        member = recipient.member
        try:
            if member.status != Member.Status.ACTIVE or member.pk not in consenting:
                recipient.status, recipient.detail = R.Status.NO_CONSENT, _("No consent for this channel.")
            elif not addresses.get(member.pk):
                recipient.status, recipient.detail = R.Status.NO_ADDRESS, _("Nowhere to send it.")
            elif campaign.coupon_campaign_id or campaign.bonus_points:
                _send_with_gifts(campaign, recipient, addresses[member.pk], provider, now)  # written at once
                out["sent" if recipient.status == R.Status.SENT else "failed"] += 1
                continue
            else:
                text = _text(campaign.message, member, "", 0)
                message = Message(to=addresses[member.pk], text=text, subject=campaign.subject)
                recipient.provider_id = _deliver(provider, message)[:100]
                recipient.status, recipient.sent_at = R.Status.SENT, now
        except ProviderError as error:
            recipient.status, recipient.detail = R.Status.FAILED, str(error)[:200]
        except Exception as error:  # a bug or a database error: this member fails, the batch goes on
            logger.exception("campaign %s: member %s not sent", campaign.pk, member.pk)
            recipient.status, recipient.detail = R.Status.FAILED, f"{type(error).__name__}"[:200]
            recipient.coupon_code = ""  # the gifts' transaction rolled back
        out[{R.Status.SENT: "sent", R.Status.FAILED: "failed"}.get(recipient.status, "skipped")] += 1
        done.append(recipient)
    _record(done)


def campaigns_sweep(*, now: datetime | None = None) -> list[int]:
    """Every minute (beat): members taken by a worker that died (``sending`` for longer than the task's
    time limit) become ``unknown``, never sent again; returns the campaigns still sending, for the
    task to wake (so nothing depends on a worker staying alive or on a delayed message)."""
    now = now or timezone.now()
    stale = R.objects.filter(
        status=R.Status.SENDING, claimed_at__lt=now - STALE, campaign__status=Campaign.Status.SENDING
    ).update(status=R.Status.UNKNOWN, detail=_("The worker stopped while sending: not sent again."))
    if stale:
        logger.warning("campaigns: %d members left mid-send by a worker are marked unknown", stale)
    return list(Campaign.objects.filter(status=Campaign.Status.SENDING).order_by("pk").values_list("pk", flat=True))


def _record(recipients: list[CampaignRecipient]) -> None:
    """The outcomes of a batch in one statement: ``UPDATE … FROM (VALUES …)`` on PostgreSQL (Django's
    ``bulk_update`` builds a CASE per column and row, several times slower on a thousand rows)."""
    if not recipients:
        return
    if connection.vendor != "postgresql":
        R.objects.bulk_update(recipients, ["status", "detail", "provider_id", "sent_at"], batch_size=500)
        return
    from psycopg2.extras import execute_values

    rows = [(r.pk, r.status, r.detail, r.provider_id, r.sent_at) for r in recipients]
    with connection.cursor() as cursor:
        execute_values(
            cursor.cursor,
            f"UPDATE {R._meta.db_table} AS r SET status = v.status, detail = v.detail, provider_id = v.pid, "  # noqa: S608 (the model's table)
            "sent_at = v.sent_at::timestamptz FROM (VALUES %s) AS v (id, status, detail, pid, sent_at) "
            "WHERE r.id = v.id",
            rows,
            page_size=1000,
        )


def _deliver(provider, message: Message) -> str:
    """The provider's send; whatever it raises is that message's failure, not the batch's."""
    try:
        return provider.send(message)
    except ProviderError:
        raise
    except Exception as error:  # the outside world: any error fails this one message
        logger.warning("campaign message not sent: %s", type(error).__name__)
        raise ProviderError(f"{type(error).__name__}: {error}") from error


def _send_with_gifts(campaign: Campaign, recipient: CampaignRecipient, to: str, provider, now: datetime) -> None:
    """Issues the coupon code, sends, then credits the bonus points, in one transaction: a refused
    message leaves no code and no points. The member's row is locked for the points only after the
    provider answered, so a slow provider never holds up the member's purchases at the counter. Points
    refused after the send (rare: the member was closed meanwhile) leave the message sent, with why."""
    from members.coupons import coupons_issue
    from members.services import points_earn

    member = recipient.member
    try:
        with transaction.atomic():
            code = ""
            if campaign.coupon_campaign_id:
                code = coupons_issue(campaign=campaign.coupon_campaign, members=[member])[0].code
            text = _text(campaign.message, member, code, campaign.bonus_points)
            provider_id = _deliver(provider, Message(to=to, text=text, subject=campaign.subject))
            recipient.status, recipient.provider_id, recipient.coupon_code, recipient.sent_at = (
                R.Status.SENT, provider_id[:100], code, now,
            )  # fmt: skip
            if campaign.bonus_points:
                try:
                    points_earn(
                        member=member,
                        points=campaign.bonus_points,
                        reference=f"campaign-{campaign.pk}",
                        reason=campaign.name,
                    )  # fmt: skip (its own savepoint: a refusal leaves the code and the send)
                except (BusinessRuleError, ApplicationError) as error:
                    recipient.detail = (_("Sent; the bonus points were not credited: %(why)s") % {"why": error})[:200]
            recipient.save(update_fields=["status", "provider_id", "coupon_code", "sent_at", "detail"])
    except (ProviderError, BusinessRuleError, ApplicationError) as error:  # the code rolls back
        recipient.status, recipient.detail, recipient.coupon_code = R.Status.FAILED, str(error)[:200], ""
        recipient.save(update_fields=["status", "detail"])
