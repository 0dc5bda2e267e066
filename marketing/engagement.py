"""Effective member activity beyond purchases: product reviews (from any channel, moderated by HQ) and
events in stores (sign-up, capacity, check-in). With referrals made and coupons collected (kept by the
members app) they feed segment rules and the member 360 page."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketing.models import EventAttendance, Review, StoreEvent
from members.models import Member
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError, PermissionDeniedError
from omo.org.access import ensure_permission, ensure_store_allowed, get_scoped, is_hq

CHECK_IN_GRACE = timedelta(hours=2)  # check-in opens this long before the start and closes this long after the end


@transaction.atomic
def review_submit(
    *, member: Member, product, rating: int, channel, title: str = "", body: str = "", store=None
) -> Review:
    """A member's review, waiting for moderation; one per member and product (409 ``review_exists``)."""
    from orders.models import OrderLine

    problems = {}
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        problems["rating"] = _("A whole number from 1 to 5.")
    if len(title) > 100:
        problems["title"] = _("At most %(n)d characters.") % {"n": 100}
    if len(body) > 2000:
        problems["body"] = _("At most %(n)d characters.") % {"n": 2000}
    if problems:
        raise ApplicationError(_("The review is not valid."), code="invalid_review", details=problems)
    verified = OrderLine.objects.filter(
        order__member=member, order__paid_at__isnull=False, variant__product=product
    ).exists()
    try:
        with transaction.atomic():
            return Review.objects.create(
                member=member, product=product, rating=rating, title=title.strip(), body=body.strip(),
                channel=channel, store=store, verified=verified,
            )  # fmt: skip
    except IntegrityError:
        raise ConflictError(_("You have reviewed this product already."), code="review_exists") from None


@transaction.atomic
def review_moderate(*, actor, review: Review, approve: bool, note: str = "") -> Review:
    """HQ approves (shown) or rejects (with a reason) a waiting review."""
    ensure_permission(actor, "marketing.change_review")
    review = Review.objects.select_for_update().get(pk=review.pk)
    if review.status != Review.Status.PENDING:
        raise ConflictError(_("This review has been moderated already."), code="review_moderated")
    if not approve and not note.strip():
        raise BusinessRuleError(_("Say why the review is rejected."), code="reason_required")
    review.status = Review.Status.APPROVED if approve else Review.Status.REJECTED
    review.moderated_by, review.moderated_at, review.moderation_note = actor, timezone.now(), note.strip()[:200]
    review.save(update_fields=["status", "moderated_by", "moderated_at", "moderation_note"])
    return review


@transaction.atomic
def event_create(*, actor, name: str, starts_at, ends_at, store=None, capacity: int | None = None) -> StoreEvent:
    """An event in ``store`` (a store manager: their own store only) or online (no store: HQ only)."""
    ensure_permission(actor, "marketing.add_storeevent")
    if store is not None:
        ensure_store_allowed(actor, store.pk)
    elif not is_hq(actor):
        raise PermissionDeniedError(_("Only HQ creates online events."), code="store_out_of_scope")
    problems = {}
    if not name.strip():
        problems["name"] = _("Required.")
    if ends_at <= starts_at:
        problems["ends_at"] = _("After the start.")
    if capacity is not None and capacity < 1:
        problems["capacity"] = _("1 or more, or empty.")
    if problems:
        raise ApplicationError(_("The event is not valid."), code="invalid_event", details=problems)
    return StoreEvent.objects.create(
        name=name.strip(), store=store, starts_at=starts_at, ends_at=ends_at, capacity=capacity, created_by=actor
    )


@transaction.atomic
def event_register(*, member: Member, event: StoreEvent) -> EventAttendance:
    """Signs the member up (again after cancelling); the places are counted under the event's lock, so
    two last sign-ups never both get the last place (409 ``event_full``)."""
    event = StoreEvent.objects.select_for_update().get(pk=event.pk)
    if event.ends_at <= timezone.now():
        raise BusinessRuleError(_("The event is over."), code="event_over")
    existing = EventAttendance.objects.filter(event=event, member=member).first()
    if existing is not None and existing.status != EventAttendance.Status.CANCELLED:
        return existing
    taken = event.attendances.exclude(status=EventAttendance.Status.CANCELLED).count()
    if event.capacity is not None and taken >= event.capacity:
        raise ConflictError(_("The event is full."), code="event_full")
    if existing is not None:
        existing.status = EventAttendance.Status.REGISTERED
        existing.save(update_fields=["status"])
        return existing
    return EventAttendance.objects.create(event=event, member=member)


@transaction.atomic
def event_check_in(*, actor, event: StoreEvent, member: Member, now=None) -> EventAttendance:
    """A clerk checks the member in (a walk-in without a sign-up too, places allowing).

    Store staff check in only at their own store's events (another store's, or an online one, is not
    found: 404); HQ at any, and HQ alone at online events (whoever hosts them records who came). Check-in
    is open from ``CHECK_IN_GRACE`` before the start to ``CHECK_IN_GRACE`` after the end; outside that
    a 409 ``event_not_open``."""
    ensure_permission(actor, "marketing.change_eventattendance")
    event = get_scoped(StoreEvent.objects.select_for_update(), actor, pk=event.pk)
    now = now or timezone.now()
    opens, closes = event.starts_at - CHECK_IN_GRACE, event.ends_at + CHECK_IN_GRACE
    if not opens <= now <= closes:
        raise ConflictError(
            _("Check-in for this event is open from %(opens)s to %(closes)s.")
            % {"opens": _local(opens), "closes": _local(closes)},
            code="event_not_open",
            details={
                "opens_at": timezone.localtime(opens).isoformat(),
                "closes_at": timezone.localtime(closes).isoformat(),
            },
        )
    attendance = EventAttendance.objects.filter(event=event, member=member).first()
    if attendance is None or attendance.status == EventAttendance.Status.CANCELLED:
        taken = event.attendances.exclude(status=EventAttendance.Status.CANCELLED).count()
        if event.capacity is not None and taken >= event.capacity:
            raise ConflictError(_("The event is full."), code="event_full")
        attendance = attendance or EventAttendance(event=event, member=member)
    attendance.status, attendance.attended_at, attendance.checked_in_by = (
        EventAttendance.Status.ATTENDED,
        attendance.attended_at or now,
        actor,
    )
    attendance.save()
    return attendance


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")
