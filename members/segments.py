"""Member segments as plain rules (a JSON object), turned into one query: used by the bulk coupon issue
and the member list. The precision-marketing issue builds saved segments on top of these rules.

Rules (all optional, all must hold):
``tiers`` tier codes · ``stores`` store codes (registered there or bought there) · ``omo``
``store_only`` / ``online_only`` / ``both`` / ``none`` · ``consent`` ``sms`` / ``email`` / ``line`` (in
force now) · ``joined_from`` / ``joined_to`` dates · ``birthday_month`` 1-12 · ``min_points`` ·
``member_nos`` a list of member numbers.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext as _

from members.models import Consent, Member, MemberTier, Purchase, Tier
from omo.core.errors import ApplicationError
from omo.org.models import Location, SalesChannel

RULES = ("tiers", "stores", "omo", "consent", "joined_from", "joined_to", "birthday_month", "min_points", "member_nos")
OMO_SEGMENTS = ("store_only", "online_only", "both", "none")


def segment_clean(spec) -> dict:
    """The rules checked and normalised; every problem at once in a 400 ``invalid_segment``."""
    if not isinstance(spec, dict):
        raise ApplicationError(_("A segment is an object of rules."), code="invalid_segment")
    problems: dict[str, str] = {}
    clean: dict = {}
    for key, value in spec.items():
        if key not in RULES:
            problems[key] = _("Unknown rule.")
        elif key in ("tiers", "stores", "member_nos"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or not value:
                problems[key] = _("A non-empty list of codes.")
            else:
                clean[key] = sorted(set(value))
        elif key == "omo":
            if value not in OMO_SEGMENTS:
                problems[key] = _("One of %(choices)s.") % {"choices": ", ".join(OMO_SEGMENTS)}
            else:
                clean[key] = value
        elif key == "consent":
            if value not in Consent.Purpose.values:
                problems[key] = _("One of %(choices)s.") % {"choices": ", ".join(Consent.Purpose.values)}
            else:
                clean[key] = value
        elif key in ("joined_from", "joined_to"):
            try:
                clean[key] = date.fromisoformat(str(value)).isoformat()
            except ValueError:
                problems[key] = _("A date like 2026-01-31.")
        elif key in ("birthday_month", "min_points"):
            low, high = (1, 12) if key == "birthday_month" else (0, 10**9)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                problems[key] = _("A whole number from %(low)d to %(high)d.") % {"low": low, "high": high}
            else:
                clean[key] = value
    if "tiers" in clean:
        unknown = set(clean["tiers"]) - set(Tier.objects.filter(code__in=clean["tiers"]).values_list("code", flat=True))
        if unknown:
            problems["tiers"] = _("Unknown: %(codes)s.") % {"codes": ", ".join(sorted(unknown))}
    if "stores" in clean:
        known = set(Location.objects.filter(code__in=clean["stores"]).values_list("code", flat=True))
        if set(clean["stores"]) - known:
            problems["stores"] = _("Unknown: %(codes)s.") % {"codes": ", ".join(sorted(set(clean["stores"]) - known))}
    if problems:
        raise ApplicationError(
            _("The segment's rules are not valid."), code="invalid_segment", details={"rules": problems}
        )
    return clean


def segment_members(spec: dict) -> QuerySet[Member]:
    """Active members matching the (cleaned) rules: one query, no rows fetched until iterated."""
    spec = segment_clean(spec)
    members = Member.objects.filter(status=Member.Status.ACTIVE)
    if "tiers" in spec:
        in_tier = Exists(MemberTier.objects.filter(member=OuterRef("pk"), tier__code__in=spec["tiers"]))
        entry = Tier.objects.order_by("rank").values_list("code", flat=True).first()
        if entry in spec["tiers"]:  # a member without a tier row yet is in the entry tier
            in_tier = in_tier | ~Exists(MemberTier.objects.filter(member=OuterRef("pk")))
        members = members.filter(in_tier)
    if "stores" in spec:
        members = members.filter(
            Q(registered_store__code__in=spec["stores"])
            | Exists(Purchase.objects.filter(member=OuterRef("pk"), store__code__in=spec["stores"]))
        )
    if "omo" in spec:
        in_store = Exists(Purchase.objects.filter(member=OuterRef("pk"), channel__kind=SalesChannel.Kind.POS))
        online = Exists(
            Purchase.objects.filter(member=OuterRef("pk"), channel__kind__in=list(SalesChannel.ONLINE_KINDS))
        )
        members = members.filter(
            {
                "both": in_store & online,
                "store_only": in_store & ~online,
                "online_only": ~in_store & online,
                "none": ~in_store & ~online,
            }[spec["omo"]]
        )
    if "consent" in spec:
        latest = Consent.objects.filter(member=OuterRef("pk"), purpose=spec["consent"]).order_by("-id")
        members = members.annotate(_consent=Subquery(latest.values("granted")[:1])).filter(_consent=True)
    if "joined_from" in spec:
        members = members.filter(created_at__date__gte=spec["joined_from"])
    if "joined_to" in spec:
        members = members.filter(created_at__date__lte=spec["joined_to"])
    if "birthday_month" in spec:
        members = members.filter(birthday__month=spec["birthday_month"])
    if "min_points" in spec:
        members = members.filter(points_balance__gte=spec["min_points"])
    if "member_nos" in spec:
        members = members.filter(member_no__in=spec["member_nos"])
    return members.order_by("pk")
