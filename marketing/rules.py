"""Segment rules over the unified member data, turned into one query.

The member rules of ``members.segments`` (``tiers``, ``stores`` registered or bought there, ``omo``,
``consent``, ``joined_from`` / ``joined_to``, ``birthday_month``, ``min_points``, ``member_nos``), and:

- ``rfm``: ``{"r": [1, 2], "f": [4, 5], "m": [3, 5]}``, each a score range from 0 to 5 (0: no purchase
  in the RFM window), any of the three;
- ``last_purchase_days``: ``{"min": 90, "max": 180}`` days since the last purchase in any channel
  (either bound; a member who never bought has no last purchase and never matches; a purchase refunded
  in full or whose order was cancelled or returned does not count);
- ``categories``: ``{"paths": ["women/knits"], "days": 365}`` bought a product of those categories (or
  below them) in any channel within the last ``days`` (default 365);
- ``home_stores``: store codes the member registered at;
- ``visited_stores``: ``{"stores": ["S-TPE01"], "days": 365}`` bought at those stores' POS or picked up
  an order there within ``days``;
- ``points_expiring``: ``{"days": 30, "min_points": 1}`` points due to expire within ``days`` (at least
  ``min_points`` of them in one lot or more);
- ``coupons``: ``{"unused": true, "campaigns": [3]}`` holds a collected coupon not used up yet (of those
  campaigns, or any); ``{"unused": false}``: holds none;
- ``profile``: a list of conditions on the brand-defined profile, all of which must hold:
  ``{"field": "skin_type", "op": "eq", "value": "dry"}``, ``op`` one of ``eq``, ``in`` (a list),
  ``gte``, ``lte`` (numbers and dates), ``exists``; with ``"group": "pets"`` the condition is on one
  entry of that repeatable group (a pet that is a cat); the field must be one the brand defined
  (``members.ProfileField``);
- ``bound_clerk``: ``{"clerks": ["E001"]}`` (employee codes) or ``{"any": true}``: a binding to that
  clerk (to any clerk) active now under the attribution policy in force;
- engagement: ``reviewed`` ``{"days": 365, "min_rating": 1, "max_rating": 5}`` wrote a review (not
  rejected) rated in that range; ``attended_events``, ``referred_members``, ``collected_coupons``
  ``{"days": 365, "min": 1}`` came to at least ``min`` events, brought in ``min`` new members with
  their referral code, collected ``min`` coupons in the last ``days``.

Every problem is reported at once, by rule, in a 400 ``invalid_segment``: a value of the wrong type or
shape (at any depth), an unknown key inside a rule, a text a query cannot take, an unknown store, group
or profile field. Whatever ``rules_clean`` accepts evaluates without error.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual, Regex
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Member, PointsLot, ProfileEntry, ProfileField, ProfileGroup, Purchase, WalletCoupon
from members.segments import RULES as MEMBER_RULES
from members.segments import segment_clean, segment_members
from omo.core.errors import ApplicationError
from omo.org.models import Location
from orders.models import Order, OrderStatus

RULES = (
    "rfm", "last_purchase_days", "categories", "home_stores", "visited_stores", "points_expiring", "coupons",
    "profile", "bound_clerk", "reviewed", "attended_events", "referred_members", "collected_coupons",
)  # fmt: skip
ACTIVITY = ("attended_events", "referred_members", "collected_coupons")  # {"min": n, "days": d}
ALL_RULES = (*MEMBER_RULES, *RULES)
PROFILE_OPS = ("eq", "in", "gte", "lte", "exists")
DEFAULT_DAYS = 365
CODE_RULES = ("tiers", "stores", "member_nos")  # member rules that are lists of codes
TEXT_MAX = 200  # the longest code, path or profile text a rule takes
JSON_INT = 2**53  # whole numbers in profile conditions stay within what JSON carries exactly
NUMBER = re.compile(r"^-?[0-9]{1,20}(\.[0-9]{1,10})?$")  # a number a gte / lte compares with (and its stored form)
JSON_LOOKUPS = JSONField()  # a profile key that is one of its lookup names would be read as the lookup
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# orders that were undone: their purchase is no purchase for RFM and the last-purchase rule
UNDONE_ORDER_STATUSES = (OrderStatus.CANCELLED, OrderStatus.RETURNED)


def _problem(problems: dict, key: str, message: str) -> None:
    problems.setdefault(key, message)


def _text(value) -> bool:
    """A non-empty text a query can take as a parameter (PostgreSQL refuses NUL characters)."""
    return isinstance(value, str) and 0 < len(value) <= TEXT_MAX and "\x00" not in value


def _unknown_keys(value: dict, allowed: tuple[str, ...], key: str, problems: dict) -> bool:
    unknown = set(value) - set(allowed)
    if unknown:
        _problem(problems, key, _("Unknown: %(keys)s.") % {"keys": ", ".join(sorted(map(str, unknown)))})
    return bool(unknown)


def _int(value, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def _codes(value) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(_text(v) for v in value):
        return None
    return sorted(set(value))


def _clean_rfm(value, problems: dict) -> dict | None:
    if not isinstance(value, dict) or not value or set(value) - {"r", "f", "m"}:
        _problem(problems, "rfm", _("An object with r, f and/or m, each [lowest, highest] from 0 to 5."))
        return None
    out = {}
    for key, bounds in value.items():
        ok = isinstance(bounds, list) and len(bounds) == 2 and all(_int(b, 0, 5) is not None for b in bounds)
        if not ok or bounds[0] > bounds[1]:
            _problem(problems, "rfm", _("%(key)s: [lowest, highest] from 0 to 5.") % {"key": key})
            return None
        out[key] = list(bounds)
    return out


def _clean_days(value, key: str, problems: dict, *, allowed: tuple[str, ...] = ()) -> dict | None:
    """``{"days": n, ...}``: an object of ``days`` (default 365) and the ``allowed`` keys only."""
    if not isinstance(value, dict):
        _problem(problems, key, _("An object."))
        return None
    if _unknown_keys(value, ("days", *allowed), key, problems):
        return None
    days = value.get("days", DEFAULT_DAYS)
    if _int(days, 1, 3660) is None:
        _problem(problems, key, _("days: a whole number from 1 to 3660."))
        return None
    return {"days": days}


def _days_and_codes(value, key: str, field: str, problems: dict, message: str) -> dict | None:
    """``{"<field>": [codes], "days": n}`` checked: the days (default 365) and a non-empty list."""
    got = _clean_days(value, key, problems, allowed=(field,))
    codes = _codes(value.get(field)) if isinstance(value, dict) else None
    if got is not None and codes is None:
        _problem(problems, key, message)
        return None
    if got is not None:
        got[field] = codes
    return got


def _clean_profile(value, problems: dict) -> list[dict] | None:
    """Conditions on fields the brand defined (``members.ProfileField``): an unknown field, or a key
    the ORM would read as a lookup (with ``__``, or ``contains``, ``exact`` ...), is a problem."""
    if not isinstance(value, list) or not value:
        _problem(problems, "profile", _("A non-empty list of conditions."))
        return None
    out = []
    groups = set(ProfileGroup.objects.values_list("key", flat=True))
    defined = set(ProfileField.objects.values_list("group__key", "key"))  # (None, key): the member's own
    for i, cond in enumerate(value, start=1):
        where = _("Condition %(n)d: ") % {"n": i}
        if not isinstance(cond, dict) or not _text(cond.get("field")):
            _problem(problems, "profile", where + _("give the field's key."))
            return None
        if _unknown_keys(cond, ("field", "op", "value", "group"), "profile", problems):
            return None
        field, op, group = cond["field"], cond.get("op", "eq"), cond.get("group")
        if not isinstance(op, str) or op not in PROFILE_OPS:
            _problem(problems, "profile", where + _("op is one of %(ops)s.") % {"ops": ", ".join(PROFILE_OPS)})
            return None
        if group is not None and not (isinstance(group, str) and group in groups):
            _problem(problems, "profile", where + _("no profile group %(key)s.") % {"key": group})
            return None
        if "__" in field or JSON_LOOKUPS.get_lookup(field) is not None or (group, field) not in defined:
            _problem(problems, "profile", where + _("no profile field %(key)s.") % {"key": field})
            return None
        clean = {"field": field, "op": op}
        if group is not None:
            clean["group"] = group
        if op != "exists":
            v = cond.get("value")
            if op == "in" and not (isinstance(v, list) and v and all(_json_scalar(x, booleans=False) for x in v)):
                _problem(problems, "profile", where + _("in: a non-empty list of values."))
                return None
            if op in ("gte", "lte"):
                v = _comparable(v)
                if v is None:
                    _problem(problems, "profile", where + _("gte and lte take a number or a date (2026-01-31)."))
                    return None
            elif op == "eq" and not _json_scalar(v, booleans=True):
                _problem(problems, "profile", where + _("eq takes a text, a whole number or true / false."))
                return None
            clean["value"] = v
        out.append(clean)
    return out


def _clean_coupons(value, problems: dict) -> dict | None:
    unused = value.get("unused", True) if isinstance(value, dict) else None
    campaigns = value.get("campaigns") if isinstance(value, dict) else None
    ok = isinstance(value, dict) and not set(value) - {"unused", "campaigns"} and isinstance(unused, bool)
    if ok and campaigns is not None:
        ok = isinstance(campaigns, list) and bool(campaigns) and all(_int(c, 1, 2**62) is not None for c in campaigns)
    if not ok:
        _problem(problems, "coupons", _('An object: {"unused": true or false, "campaigns": [campaign ids]}.'))
        return None
    return {"unused": unused, **({"campaigns": sorted(set(campaigns))} if campaigns else {})}


def _json_scalar(value, *, booleans: bool) -> bool:
    """A text (as codes are) or a whole number JSON carries exactly (or true / false, if ``booleans``)."""
    if isinstance(value, bool):
        return booleans
    if isinstance(value, int):
        return -JSON_INT <= value <= JSON_INT
    return _text(value)


def _comparable(value):
    """What a gte / lte condition compares with: a date (2026-01-31) or a number of up to 20 digits and
    10 decimals (a whole number, or its text); ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(10**20) < value < 10**20 else None
    if isinstance(value, str) and (_is_date(value) or NUMBER.match(value)):
        return value
    return None


def rules_clean(spec) -> dict:
    """The rules checked and normalised (member rules by ``members.segments``); every problem at once in
    a 400 ``invalid_segment`` with ``details.rules`` by rule."""
    if not isinstance(spec, dict):
        raise ApplicationError(_("A segment is an object of rules."), code="invalid_segment")
    problems: dict[str, str] = {}
    base = {k: v for k, v in spec.items() if k not in RULES}
    for key in CODE_RULES:  # codes the members app looks up: none a query cannot take
        if isinstance(base.get(key), list) and not all(_text(v) for v in base[key]):
            _problem(problems, key, _("A non-empty list of codes."))
            del base[key]
    clean: dict = {}
    try:
        clean.update(segment_clean(base))
    except ApplicationError as error:
        member_problems = (error.details or {}).get("rules", {})
        if not member_problems:
            raise
        problems.update(member_problems)
    for key in (k for k in RULES if k in spec):
        value = spec[key]
        if key == "rfm":
            got = _clean_rfm(value, problems)
        elif key == "last_purchase_days":
            ok = isinstance(value, dict) and value and not set(value) - {"min", "max"}
            ok = ok and all(_int(v, 0, 36600) is not None for v in value.values())
            got = dict(value) if ok and value.get("min", 0) <= value.get("max", 36600) else None
            if got is None:
                _problem(problems, key, _("An object with min and/or max, whole days (min <= max)."))
        elif key == "categories":
            got = _days_and_codes(value, key, "paths", problems, _("paths: a non-empty list of category paths."))
        elif key == "home_stores":
            got = _codes(value)
            if got is None:
                _problem(problems, key, _("A non-empty list of store codes."))
        elif key == "visited_stores":
            got = _days_and_codes(value, key, "stores", problems, _("stores: a non-empty list of store codes."))
        elif key == "points_expiring":
            got = _clean_days(value, key, problems, allowed=("min_points",))
            if got is not None:
                least = value.get("min_points", 1)
                if _int(least, 1, 10**9) is None:
                    _problem(problems, key, _("min_points: a whole number, 1 or more."))
                    got = None
                else:
                    got["min_points"] = least
        elif key == "coupons":
            got = _clean_coupons(value, problems)
        elif key == "profile":
            got = _clean_profile(value, problems)
        elif key == "reviewed":
            got = _clean_days(value, key, problems, allowed=("min_rating", "max_rating"))
            if got is not None:
                low, high = value.get("min_rating", 1), value.get("max_rating", 5)
                if _int(low, 1, 5) is None or _int(high, 1, 5) is None or low > high:
                    _problem(problems, key, _("min_rating and max_rating: from 1 to 5, min <= max."))
                    got = None
                else:
                    got.update(min_rating=low, max_rating=high)
        elif key in ACTIVITY:
            got = _clean_days(value, key, problems, allowed=("min",))
            if got is not None:
                least = value.get("min", 1)
                if _int(least, 1, 10**6) is None:
                    _problem(problems, key, _("min: a whole number, 1 or more."))
                    got = None
                else:
                    got["min"] = least
        else:  # bound_clerk
            if isinstance(value, dict) and value.get("any") is True and set(value) == {"any"}:
                got = {"any": True}
            elif isinstance(value, dict) and set(value) == {"clerks"} and _codes(value["clerks"]):
                got = {"clerks": _codes(value["clerks"])}
            else:
                got = None
                _problem(problems, key, _('{"clerks": [employee codes]} or {"any": true}.'))
        if got is not None:
            clean[key] = got
    for key in ("home_stores",):
        if key in clean:
            unknown = set(clean[key]) - set(Location.objects.filter(code__in=clean[key]).values_list("code", flat=True))
            if unknown:
                _problem(problems, key, _("Unknown: %(codes)s.") % {"codes": ", ".join(sorted(unknown))})
    if "visited_stores" in clean:
        stores = clean["visited_stores"]["stores"]
        unknown = set(stores) - set(Location.objects.filter(code__in=stores).values_list("code", flat=True))
        if unknown:
            _problem(problems, "visited_stores", _("Unknown: %(codes)s.") % {"codes": ", ".join(sorted(unknown))})
    if problems:
        raise ApplicationError(
            _("The segment's rules are not valid."), code="invalid_segment", details={"rules": problems}
        )
    return clean


def members_matching(spec: dict, *, now=None) -> QuerySet[Member]:
    """Active members matching the rules: one query (subqueries per rule), nothing fetched until
    iterated. ``now``: the moment the relative rules (days ago, active bindings) count from."""
    from marketing.models import MemberRFM

    spec = rules_clean(spec)
    now = now or timezone.now()
    members = segment_members({k: v for k, v in spec.items() if k not in RULES})
    if "rfm" in spec:
        scores = MemberRFM.objects.filter(member=OuterRef("pk"))
        for key, (low, high) in spec["rfm"].items():
            matched = Exists(scores.filter(**{f"{key}__range": (max(low, 1), high)})) if high >= 1 else Q(pk__in=[])
            if low == 0:  # no purchase in the window scores 0: no row
                matched = matched | ~Exists(scores)
            members = members.filter(matched)
    if "last_purchase_days" in spec:
        bounds = spec["last_purchase_days"]
        bought = kept_purchases().filter(member=OuterRef("pk"))
        if "min" in bounds:  # nothing bought in the last ``min`` days, something before
            members = members.filter(
                Exists(bought), ~Exists(bought.filter(paid_at__gt=now - timedelta(days=bounds["min"])))
            )
        if "max" in bounds:
            members = members.filter(Exists(bought.filter(paid_at__gte=now - timedelta(days=bounds["max"]))))
    if "categories" in spec:
        members = members.filter(Exists(_bought_in(spec["categories"], now)))
    if "home_stores" in spec:
        members = members.filter(registered_store__code__in=spec["home_stores"])
    if "visited_stores" in spec:
        rule = spec["visited_stores"]
        members = members.filter(
            Exists(
                Purchase.objects.filter(
                    member=OuterRef("pk"),
                    store__code__in=rule["stores"],
                    paid_at__gte=now - timedelta(days=rule["days"]),
                )
            )
        )
    if "points_expiring" in spec:
        rule = spec["points_expiring"]
        today = timezone.localdate(now)
        members = members.filter(
            Exists(
                PointsLot.objects.filter(
                    member=OuterRef("pk"),
                    remaining__gte=rule["min_points"],
                    expires_on__gte=today,
                    expires_on__lte=today + timedelta(days=rule["days"]),
                )
            )
        )
    if "coupons" in spec:
        rule = spec["coupons"]
        held = WalletCoupon.objects.filter(member=OuterRef("pk"), coupon__campaign__ends_at__gt=now).filter(
            Q(coupon__max_uses__isnull=True) | Q(coupon__times_used__lt=F("coupon__max_uses"))
        )
        if "campaigns" in rule:
            held = held.filter(coupon__campaign_id__in=rule["campaigns"])
        members = members.filter(Exists(held) if rule["unused"] else ~Exists(held))
    for cond in spec.get("profile", []):
        members = members.filter(_profile_q(cond))
    if "bound_clerk" in spec:
        members = members.filter(_bound(spec["bound_clerk"], now))
    if "reviewed" in spec:
        from marketing.models import Review

        rule = spec["reviewed"]
        members = members.filter(
            Exists(
                Review.objects.filter(
                    member=OuterRef("pk"), rating__range=(rule["min_rating"], rule["max_rating"]),
                    created_at__gte=now - timedelta(days=rule["days"]),
                ).exclude(status=Review.Status.REJECTED)
            )
        )  # fmt: skip
    for key in ACTIVITY:
        if key in spec:
            members = members.filter(
                _at_least(_activity(key, now - timedelta(days=spec[key]["days"])), spec[key]["min"])
            )
    return members.order_by("pk")


def kept_purchases() -> QuerySet[Purchase]:
    """The purchases that stand: not refunded in full, their order neither cancelled nor returned whole
    (a free order cancelled has nothing refunded). RFM and the ``last_purchase_days`` rule count these."""
    undone = Order.objects.filter(number=OuterRef("reference"), status__in=UNDONE_ORDER_STATUSES)
    return Purchase.objects.exclude(amount__gt=0, refunded__gte=F("amount")).exclude(Exists(undone))


def _activity(key: str, since):
    """Rows of the activity, one per occurrence, with the member in ``member_id``."""
    from marketing.models import EventAttendance

    if key == "attended_events":
        return EventAttendance.objects.filter(status=EventAttendance.Status.ATTENDED, attended_at__gte=since)
    if key == "referred_members":
        return Member.objects.filter(referred_by__isnull=False, created_at__gte=since).annotate(
            owner=F("referred_by_id")
        )
    return WalletCoupon.objects.filter(collected_at__gte=since)


def _at_least(rows, n: int):
    """The outer member has at least ``n`` of ``rows`` (EXISTS for one, a counted subquery for more)."""
    owner = "owner" if "owner" in rows.query.annotations else "member_id"
    mine = rows.filter(**{owner: OuterRef("pk")})
    if n == 1:
        return Exists(mine)
    counted = mine.order_by().values(owner).annotate(n=Count("pk")).values("n")[:1]
    return GreaterThanOrEqual(Coalesce(Subquery(counted), 0), n)


def _bought_in(rule: dict, now):
    from orders.models import OrderLine

    paths = Q()
    for path in rule["paths"]:
        paths |= Q(variant__product__category__path=path) | Q(variant__product__category__path__startswith=f"{path}/")
    return OrderLine.objects.filter(
        paths, order__member=OuterRef("pk"), order__paid_at__gte=now - timedelta(days=rule["days"])
    )


def _profile_q(cond: dict):
    """A profile condition as a filter on members: on ``Member.profile`` or on an entry of a group."""
    if "group" in cond:
        entries = ProfileEntry.objects.filter(member=OuterRef("pk"), group__key=cond["group"])
        return Exists(entries.filter(_value_q("values", cond)))
    return _value_q("profile", cond)


def _value_q(column: str, cond: dict):
    """One condition on a JSON column of profile values (``Member.profile`` or an entry's ``values``)."""
    field, op, value = cond["field"], cond["op"], cond.get("value")
    if op == "exists":
        return Q(**{f"{column}__has_key": field})
    if op == "eq":
        return Q(**{f"{column}__{field}": value})
    if op == "in":
        return Q(**{f"{column}__{field}__in": value})
    # gte / lte on a date (stored as YYYY-MM-DD) or a number (stored as a whole number or the text of a
    # decimal); a value of another form never matches (CASE: the cast only sees what passed the check)
    text = KT(f"{column}__{field}")
    compare = GreaterThanOrEqual if op == "gte" else LessThanOrEqual
    if isinstance(value, str) and _is_date(value):
        dated = Case(When(Regex(text, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), then=text), default=None)
        return compare(dated, Value(value))
    # at most 20 digits before the point: what the cast below holds (a longer number never matches)
    numeric = Case(When(Regex(text, r"^-?[0-9]{1,20}(\.[0-9]+)?$"), then=text), default=None)
    return compare(Cast(numeric, DecimalField(max_digits=30, decimal_places=10)), Value(Decimal(str(value))))


def _is_date(value: str) -> bool:
    """A date written as profile dates are stored: YYYY-MM-DD (not the other ISO forms)."""
    if not ISO_DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _bound(rule: dict, now) -> Q:
    """A binding to the clerk(s) active now under the policy in force (within its source's window,
    counting, not ended)."""
    if "clerks" in rule:
        return Exists(active_bindings(now).filter(clerk__staff_profile__employee_code__in=rule["clerks"]))
    return Exists(active_bindings(now).filter(clerk__isnull=False))


def active_bindings(now, *, member=None):
    """The bindings of ``member`` (by default the outer query's member) active at ``now`` under the
    policy in force then: counting, not ended, within their source's validity window."""
    from attribution.models import Binding
    from attribution.services import policy_at

    policy = policy_at(now)
    if policy is None:
        return Binding.objects.none()
    windows = Q()
    for source, days in policy.validity_days.items():
        windows |= Q(source=source, started_at__gt=now - timedelta(days=days), started_at__lte=now)
    member = OuterRef("pk") if member is None else member
    return Binding.objects.filter(windows, member=member, counts=True).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=now)
    )
