"""Marketing writes: the nightly RFM scores, saved segments and their evaluation."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketing.models import MemberRFM, Segment, SegmentMembership, SegmentRun
from marketing.rules import UNDONE_ORDER_STATUSES, members_matching, rules_clean
from members.models import Member, Purchase
from omo.core.errors import ApplicationError, ConflictError
from omo.core.locks import advisory_lease, advisory_xact_lock
from omo.org.access import ensure_permission

logger = logging.getLogger(__name__)

SEGMENT_FIELDS = ("name", "description", "rules", "schedule", "is_active")


def _check(actor, perm: str) -> None:
    """The role of ``actor`` must grant ``perm``; no actor: the system itself (the nightly job)."""
    if actor is not None:
        ensure_permission(actor, perm)


# --- RFM ----------------------------------------------------------------------------------------------


def rfm_refresh(*, now=None) -> int:
    """Scores every member who bought in the ``RFM_DAYS`` days up to ``now`` (paid purchases in every
    channel, spend less refunds), set-based in one statement; returns how many were scored. Recency:
    whole days from the last purchase to ``now``. A purchase refunded in full, or whose order was
    cancelled or returned whole, is no purchase: it counts neither in the frequency nor as the last
    purchase (``marketing.rules.kept_purchases``, which the ``last_purchase_days`` rule reads too).

    Each score is the member's quintile among those members: ``1 + (rank - 1) * 5 / n`` with ``rank``
    from the lowest value (RANK: equal values share it, so equal members always share a score), recency
    ranked from the oldest last purchase, so 5 is the most recent, the most frequent, the biggest."""
    from orders.models import Order

    now = now or timezone.now()
    since = now - timedelta(days=settings.RFM_DAYS)
    today = timezone.localdate(now)
    p, r, m, o = Purchase._meta.db_table, MemberRFM._meta.db_table, Member._meta.db_table, Order._meta.db_table
    score = "1 + ((RANK() OVER (ORDER BY {x}) - 1) * 5) / COUNT(*) OVER ()"
    sql = f"""
        INSERT INTO {r} (member_id, last_purchase_at, recency_days, frequency, monetary, r, f, m, computed_on)
        SELECT s.member_id, s.last_at, s.recency, s.n, s.spend,
               {score.format(x="s.last_at")}, {score.format(x="s.n")}, {score.format(x="s.spend")}, %s
        FROM (
            SELECT p.member_id, MAX(p.paid_at) AS last_at, COUNT(*) AS n, SUM(p.amount - p.refunded) AS spend,
                   CAST(FLOOR(EXTRACT(EPOCH FROM (%s - MAX(p.paid_at))) / 86400) AS INTEGER) AS recency
            FROM {p} p JOIN {m} mem ON mem.id = p.member_id AND mem.status = %s
            WHERE p.paid_at >= %s AND p.paid_at < %s
              AND NOT (p.amount > 0 AND p.refunded >= p.amount)
              AND NOT EXISTS (SELECT 1 FROM {o} o WHERE o.number = p.reference AND o.status IN (%s, %s))
            GROUP BY p.member_id
        ) s
    """  # noqa: S608 (the models' tables; values are parameters)
    if connection.vendor != "postgresql":  # SQLite: whole days by julianday
        sql = sql.replace(
            "CAST(FLOOR(EXTRACT(EPOCH FROM (%s - MAX(p.paid_at))) / 86400) AS INTEGER)",
            "CAST(julianday(%s) - julianday(MAX(p.paid_at)) AS INTEGER)",
        )
    with transaction.atomic():
        advisory_xact_lock("marketing-rfm")
        MemberRFM.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(sql, [today, now, Member.Status.ACTIVE, since, now, *UNDONE_ORDER_STATUSES])
            return cursor.rowcount


# --- segments -----------------------------------------------------------------------------------------


def _clean_segment(fields: dict) -> dict:
    unknown = set(fields) - set(SEGMENT_FIELDS)
    if unknown:
        raise ApplicationError(_("Unknown fields: %(names)s.") % {"names": ", ".join(sorted(unknown))})
    out = dict(fields)
    if "name" in out:
        out["name"] = str(out["name"]).strip()
        if not out["name"]:
            raise ApplicationError(
                _("A segment needs a name."), code="invalid_segment", details={"name": _("Required.")}
            )
    if "schedule" in out and out["schedule"] not in Segment.Schedule.values:
        raise ApplicationError(
            _("Schedule is one of %(choices)s.") % {"choices": ", ".join(Segment.Schedule.values)},
            code="invalid_segment",
            details={"schedule": _("Unknown.")},
        )
    if "rules" in out:
        out["rules"] = rules_clean(out["rules"])
    return out


def _name_taken() -> ConflictError:
    return ConflictError(_("A segment of that name exists."), code="segment_exists", details={"name": _("Taken.")})


@transaction.atomic
def segment_create(*, actor, name: str, rules: dict, description: str = "", schedule: str = "daily") -> Segment:
    """A saved segment, evaluated at once (its first members and its first run). A name in use is a 409
    ``segment_exists``, also when another request saves the same name at the same moment."""
    _check(actor, "marketing.add_segment")
    fields = _clean_segment({"name": name, "rules": rules, "description": description, "schedule": schedule})
    if Segment.objects.filter(name=fields["name"]).exists():
        raise _name_taken()
    try:
        with transaction.atomic():  # the unique name decides a race between two creates
            segment = Segment.objects.create(created_by=actor, updated_by=actor, **fields)
    except IntegrityError:
        raise _name_taken() from None
    _evaluate(segment=segment, actor=actor)
    segment.refresh_from_db()
    return segment


@transaction.atomic
def segment_update(*, actor, segment: Segment, **changes) -> Segment:
    """Changes a segment; new rules are evaluated at once (members who no longer match leave now)."""
    _check(actor, "marketing.change_segment")
    fields = _clean_segment(changes)
    if "name" in fields and Segment.objects.filter(name=fields["name"]).exclude(pk=segment.pk).exists():
        raise _name_taken()
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    for key, value in fields.items():
        setattr(segment, key, value)
    segment.updated_by = actor
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:
        raise _name_taken() from None
    if "rules" in fields:
        _evaluate(segment=segment, actor=actor)
        segment.refresh_from_db()
    return segment


@transaction.atomic
def segment_evaluate(*, segment: Segment, actor=None, now=None) -> SegmentRun:
    """Evaluates the rules now, set-based: members newly matching enter (a stay begins), members no
    longer matching leave (their stay ends); one run recorded. Two evaluations of one segment run one
    after the other (the segment's row is locked). ``actor``: whoever asked (their role must allow
    changing segments); none: the nightly job."""
    _check(actor, "marketing.change_segment")
    return _evaluate(segment=segment, actor=actor, now=now)


def _evaluate(*, segment: Segment, actor=None, now=None) -> SegmentRun:
    now = now or timezone.now()
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    sql, params = members_matching(segment.rules, now=now).values("pk").query.sql_with_params()
    stays, found = SegmentMembership._meta.db_table, f"segment_now_{segment.pk}"
    with connection.cursor() as cursor:
        # the rules are evaluated once, into a temporary table; who leaves and who enters are set
        # operations against it
        cursor.execute(f"DROP TABLE IF EXISTS {found}")
        cursor.execute(f"CREATE TEMPORARY TABLE {found} AS SELECT q.pk AS member_id FROM ({sql}) q", params)  # noqa: S608 (Django's compiled query)
        try:
            cursor.execute(f"ANALYZE {found}")  # its size, for the plans below
            cursor.execute(f"SELECT COUNT(*) FROM {found}")  # noqa: S608
            count = cursor.fetchone()[0]
            cursor.execute(
                f"UPDATE {stays} SET left_at = %s WHERE segment_id = %s AND left_at IS NULL "  # noqa: S608 (the model's table)
                f"AND NOT EXISTS (SELECT 1 FROM {found} f WHERE f.member_id = {stays}.member_id)",
                [now, segment.pk],
            )
            left = cursor.rowcount
            # those in already are taken out of the found set; the rest enter (an INSERT that read the
            # table it writes would read its own new rows' pages again and again)
            cursor.execute(
                f"DELETE FROM {found} WHERE member_id IN (SELECT s.member_id FROM {stays} s "  # noqa: S608
                f"WHERE s.segment_id = %s AND s.left_at IS NULL)",
                [segment.pk],
            )
            cursor.execute(
                f"INSERT INTO {stays} (segment_id, member_id, entered_at, left_at) "  # noqa: S608
                f"SELECT %s, f.member_id, %s, NULL FROM {found} f",
                [segment.pk, now],
            )
            entered = cursor.rowcount
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {found}")
    segment.members_count = count
    segment.evaluated_at = now
    segment.save(update_fields=["members_count", "evaluated_at"])
    return SegmentRun.objects.create(
        segment=segment, at=now, rules=segment.rules, members=count, entered=entered, left=left, by=actor
    )


def segments_refresh() -> int:
    """The nightly job: the RFM scores and the recommendations, then every active daily segment; returns the segments
    evaluated (0 when another run holds the lease). A segment that cannot be evaluated (rules no longer valid, a
    database error) is logged and recorded as a failed run (``SegmentRun.error``; its members stay as they were),
    and the job goes on with the next one."""
    with advisory_lease("marketing-segments") as got:
        if not got:
            return 0
        rfm_refresh()
        from marketing.recommendations import recommendations_refresh

        recommendations_refresh()
        done = 0
        for segment in Segment.objects.filter(is_active=True, schedule=Segment.Schedule.DAILY).order_by("pk"):
            try:
                segment_evaluate(segment=segment)
            except Exception as error:  # one broken segment must not stop the others
                logger.exception("Segment %s (%s) could not be evaluated", segment.pk, segment.name)
                _record_failure(segment, error)
            else:
                done += 1
        return done


def _record_failure(segment: Segment, error: Exception) -> None:
    """A failed run: when, the rules tried and why; the members unchanged (as the last evaluation found them)."""
    if isinstance(error, ApplicationError):
        why = f"{error.code}: {error.message}"
        if error.details:
            why = f"{why} {error.details}"
    else:
        why = f"{type(error).__name__}: {error}"
    try:
        current = Segment.objects.filter(pk=segment.pk).values_list("members_count", flat=True).first()
        SegmentRun.objects.create(
            segment=segment, at=timezone.now(), rules=segment.rules, members=current or 0, entered=0, left=0,
            error=why[:1000],
        )  # fmt: skip
    except Exception:  # the database itself is failing: the log above is all there is
        logger.exception("The failed run of segment %s could not be recorded", segment.pk)
