"""The dashboard's filters: a date range with its comparison period, a store and a channel, narrowed to
what the user may see (a store manager always sees their own store only)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from omo.core.errors import ApplicationError, PermissionDeniedError
from omo.org.access import ALL_STORES, is_hq, roles_of, store_ids_for
from omo.org.models import Location, SalesChannel
from omo.org.roles import Role

MAX_DAYS = 731
COMPARE_CHOICES = ("previous", "last_year", "none")


def day_start(day: date) -> datetime:
    """Local midnight at the start of ``day``, aware."""
    return timezone.make_aware(datetime.combine(day, time.min))


def days_q(path: str, first: date, last: date) -> Q:
    """``path`` (a datetime) within the local days [first, last]."""
    return Q(**{f"{path}__gte": day_start(first), f"{path}__lt": day_start(last + timedelta(days=1))})


def ids_q(path: str, ids) -> Q:
    """``path`` among ``ids``; no condition when ``ids`` is None (every store, every channel)."""
    return Q() if ids is None else Q(**{f"{path}__in": ids})


def sql_in(column: str, ids) -> tuple[str, list]:
    """``column IN (%s, …)`` with its parameters, for hand-written SQL; false for no ids."""
    ids = sorted(ids)
    return (f"{column} IN ({', '.join(['%s'] * len(ids))})", ids) if ids else ("1 = 0", [])


def months_between(first: date, last: date) -> list[date]:
    """The 1st of each month from ``first``'s to ``last``'s."""
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month += relativedelta(months=1)
    return months


def last_months(end: date, n: int = 12) -> list[date]:
    """The 1st of the ``n`` months up to ``end``'s, oldest first."""
    return months_between(end.replace(day=1) - relativedelta(months=n - 1), end)


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    compare: str = "previous"
    store_ids: frozenset[int] | None = None  # None: every store and online
    channel_ids: frozenset[int] | None = None  # None: every channel
    today: date = field(default_factory=timezone.localdate)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """[from, until) as aware datetimes."""
        return day_start(self.start), day_start(self.end + timedelta(days=1))

    def comparison(self) -> Filters | None:
        """The same filters over the comparison period, or None."""
        if self.compare == "none":
            return None
        if self.compare == "last_year":
            return replace(self, start=self.start - relativedelta(years=1), end=self.end - relativedelta(years=1))
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def day_list(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def during(self, path: str) -> Q:
        """``path`` (a datetime) within the period."""
        return days_q(path, self.start, self.end)


def dashboard_allowed(user) -> bool:
    """HQ staff see every store; store managers their own; clerks use the POS pages."""
    return is_hq(user) or (Role.STORE_MANAGER in roles_of(user) and bool(store_ids_for(user)))


def filters_from(params, user) -> Filters:
    """``params`` (a QueryDict or dict: ``from``, ``to``, ``compare``, ``store``, ``channel``) checked
    against what ``user`` may see. Bad values are one 400 ``invalid_filters`` naming each."""
    if not dashboard_allowed(user):
        raise PermissionDeniedError(_("The dashboard is for HQ staff and store managers."))
    today = timezone.localdate()
    problems: dict[str, str] = {}

    def parse_day(name: str, default: date) -> date:
        raw = (params.get(name) or "").strip()
        if not raw:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError:
            problems[name] = _("A date like 2026-01-31.")
            return default

    end = parse_day("to", today)
    start = parse_day("from", end - timedelta(days=29))
    if start > end:
        problems["from"] = _("The start is after the end.")
    elif (end - start).days + 1 > MAX_DAYS:
        problems["from"] = _("At most %(days)d days at once.") % {"days": MAX_DAYS}
    compare = params.get("compare") or "previous"
    if compare not in COMPARE_CHOICES:
        problems["compare"] = _("One of %(choices)s.") % {"choices": ", ".join(COMPARE_CHOICES)}

    allowed = store_ids_for(user)
    store_ids = None if allowed is ALL_STORES else allowed
    store_code = (params.get("store") or "").strip()
    if store_code:
        store = Location.objects.filter(code=store_code, kind=Location.Kind.STORE).first()
        if store is None or (allowed is not ALL_STORES and store.pk not in allowed):
            problems["store"] = _("No such store.")
        else:
            store_ids = frozenset({store.pk})
    channel_ids = None
    channel_code = (params.get("channel") or "").strip()
    if channel_code:
        channel = SalesChannel.objects.filter(code=channel_code).first()
        if channel is None:
            problems["channel"] = _("No such channel.")
        else:
            channel_ids = frozenset({channel.pk})
    if problems:
        raise ApplicationError(_("Some filters are not valid."), code="invalid_filters", details=problems)
    return Filters(start=start, end=end, compare=compare, store_ids=store_ids, channel_ids=channel_ids, today=today)
