"""Reads of clerk attribution, with their queries spelled out: a member's binding history, the words
and data that explain a line, and a clerk's own figures for the POS "my performance" page."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from attribution.models import AttributionLine, Binding, Policy
from omo.org.access import scope_to_user


def binding_history(*, member, user=None) -> QuerySet[Binding]:
    """Every binding of ``member``, oldest first (ended and not counting ones too); staff of a store
    see those of their store."""
    qs = Binding.objects.filter(member=member).select_related(
        "clerk__staff_profile", "store", "blocked_by__clerk__staff_profile"
    )
    if user is not None:
        qs = scope_to_user(qs, user)
    return qs.order_by("started_at", "id")


def binding_state(binding: Binding, *, at=None) -> str:
    """``active``, ``expired``, ``ended`` or ``not_counting`` under the policy in force at ``at``."""
    from attribution.services import is_active, policy_at

    at = at or timezone.now()
    if not binding.counts:
        return "not_counting"
    if binding.ended_at is not None and binding.ended_at <= at:
        return "ended"
    policy = policy_at(at)
    return "active" if policy is not None and is_active(binding, policy, at) else "expired"


# what ``explain`` reads of a line, read with it (not one query per line)
EXPLAINED = ("order__channel", "store", "binding__clerk__staff_profile", "binding__store", "policy", "ret")


def line_list(*, user) -> QuerySet[AttributionLine]:
    return scope_to_user(
        AttributionLine.objects.select_related(*EXPLAINED, "clerk__staff_profile", "period"),
        user,
    ).order_by("-occurred_at", "-id")


def _name(user) -> str:
    profile = getattr(user, "staff_profile", None) if user is not None else None
    return profile.display_name if profile else (user.username if user else _("nobody (the store)"))


def explain_all(lines) -> list[dict]:
    """``explain`` of each of ``lines``, their order lines read in one query."""
    from orders.models import OrderLine

    lines = list(lines)
    ids = {i.line_id for line in lines for i in line.items}
    order_lines = OrderLine.objects.in_bulk(ids)
    return [explain(line, order_lines=order_lines) for line in lines]


def explain(line: AttributionLine, *, order_lines: dict | None = None) -> dict:
    """A line in words and data: which order and which of its lines, which binding, which policy
    version and rule, which amounts (each order line's too)."""
    from orders.models import OrderLine

    if order_lines is None:
        order_lines = OrderLine.objects.in_bulk([i.line_id for i in line.items])
    words = []
    order = line.order
    items = line.items
    parts = []
    for i in items:
        ol = order_lines.get(i.line_id)
        parts.append(
            {
                "line": i.line_id,
                "sku": ol.sku if ol else "-",
                "quantity": ol.quantity if ol else None,
                "net": f"{ol.net:.2f}" if ol else None,
                "base": f"{i.base:.2f}",
                "rate": str(i.rate),
                "commission": f"{i.commission:.2f}",
            }
        )
    skus = ", ".join(p["sku"] for p in parts)
    if line.kind == AttributionLine.Kind.CLAWBACK and line.ret_id is None:
        words.append(
            _("Order %(order)s was cancelled and refunded: what it credited for %(sku)s is taken back.")
            % {"order": order.number, "sku": skus}
        )
    elif line.kind == AttributionLine.Kind.CLAWBACK:
        words.append(
            _("Return %(ret)s of order %(order)s takes back the share credited for %(sku)s.")
            % {"ret": line.ret.number if line.ret_id else "-", "order": order.number, "sku": skus}
        )
    else:
        words.append(
            _("Order %(order)s (%(channel)s), paid %(at)s: %(lines)s.")
            % {
                "order": order.number,
                "channel": order.channel.code if order.channel_id else "-",
                "at": timezone.localtime(line.occurred_at).strftime("%Y-%m-%d %H:%M"),
                "lines": "; ".join(
                    _("%(sku)s x %(qty)s, the member paid %(net)s")
                    % {"sku": p["sku"], "qty": p["quantity"], "net": p["net"]}
                    for p in parts
                ),
            }
        )
    rule_words = {
        "pos_sale": _("Sold at the counter by this clerk: counts for them directly."),
        "referral_code": _("The clerk's referral code %(code)s was used on the order.") % {"code": order.referral_code},
        "referral_code_departed": _("The referral code belongs to a clerk who has left: the store is credited."),
        "latest_binding": _("The latest binding in force when the member paid wins."),
        "first_binding": _("The first binding in force when the member paid wins."),
        "split": _("Split equally between the bindings in force when the member paid."),
        "return": _("A return takes back what was credited, from whoever was credited."),
        "cancelled": _("A cancelled order takes back everything it credited."),
    }
    words.append(rule_words.get(line.rule, line.rule))
    if line.binding_id:
        b = line.binding
        days = line.policy.validity_days.get(b.source)
        words.append(
            _("Binding: %(source)s by %(clerk)s at %(store)s on %(start)s, counting %(days)s days.")
            % {
                "source": b.get_source_display(),
                "clerk": _name(b.clerk),
                "store": b.store.code,
                "start": timezone.localtime(b.started_at).strftime("%Y-%m-%d"),
                "days": days if days is not None else "-",
            }
        )
    if line.share != 1:
        words.append(_("This credit's share of each line: %(share)s.") % {"share": f"{line.share:.4f}"})
    words.append(
        _(
            "Policy v%(v)s: %(amounts)s; age factor %(factor)s: commission %(commission)s (store %(store)s, personal %(personal)s)."  # noqa: E501
        )
        % {
            "v": line.policy.version,
            "amounts": "; ".join(
                _("%(sku)s %(base)s x rate %(rate)s") % {"sku": p["sku"], "base": p["base"], "rate": p["rate"]}
                for p in parts
            ),
            "factor": f"{line.factor:.4f}",
            "commission": f"{line.commission:.2f}",
            "store": f"{line.store_amount:.2f}",
            "personal": f"{line.personal_amount:.2f}",
        }
    )
    if line.period_id:
        words.append(_("Settled in %(month)s.") % {"month": line.period})
    else:
        words.append(_("Enters settlement on %(day)s.") % {"day": line.eligible_on.strftime("%Y-%m-%d")})
    return {
        "id": line.pk,
        "kind": line.kind,
        "order": order.number,
        "skus": skus,
        "clerk": _name(line.clerk) if line.clerk_id else None,
        "store": line.store.code,
        "binding": line.binding_id,
        "binding_source": line.binding.source if line.binding_id else None,
        "policy_version": line.policy.version,
        "rule": line.rule,
        "share": str(line.share),
        "base": f"{line.base:.2f}",
        "rate": str(line.rate) if line.rate is not None else None,
        "factor": str(line.factor),
        "commission": f"{line.commission:.2f}",
        "store_amount": f"{line.store_amount:.2f}",
        "personal_amount": f"{line.personal_amount:.2f}",
        "eligible_on": line.eligible_on.isoformat(),
        "period": str(line.period) if line.period_id else None,
        "lines": parts,
        "explanation": " ".join(words),
    }


def month_bounds(day: date | None = None):
    day = day or timezone.localdate()
    start = day.replace(day=1)
    return start, start + relativedelta(months=1)


def clerk_performance(*, clerk, day: date | None = None) -> dict:
    """A clerk's month so far: members bound to them now, sales attributed to them in every channel
    and the estimated commission (personal part), with the lines that make it up."""
    from attribution.services import policy_at

    start, end = month_bounds(day)
    tz = timezone.get_current_timezone()
    since = timezone.make_aware(timezone.datetime(start.year, start.month, start.day), tz)
    until = timezone.make_aware(timezone.datetime(end.year, end.month, end.day), tz)
    lines = AttributionLine.objects.filter(clerk=clerk, occurred_at__gte=since, occurred_at__lt=until)
    figures = lines.aggregate(
        base=Sum("base"),
        commission=Sum("commission"),
        personal=Sum("personal_amount"),
        orders=Count("order", distinct=True),
    )
    by_channel = list(
        lines.values("order__channel__code")
        .annotate(base=Sum("base"), personal=Sum("personal_amount"))
        .order_by("order__channel__code")
    )
    now = timezone.now()
    policy = policy_at(now)
    bound = 0
    if policy is not None:
        from attribution.services import is_active

        recent = Binding.objects.filter(clerk=clerk, counts=True, ended_at__isnull=True).order_by("member_id")
        longest = max(policy.validity_days.values(), default=0)
        members = set()
        for b in recent.filter(started_at__gte=now - relativedelta(days=longest)):
            if is_active(b, policy, now):
                members.add(b.member_id)
        bound = len(members)
    return {
        "start": start,
        "bound_members": bound,
        "orders": figures["orders"] or 0,
        "attributed": figures["base"] or Decimal(0),
        "commission": figures["commission"] or Decimal(0),
        "personal": figures["personal"] or Decimal(0),
        "by_channel": by_channel,
        "policy": policy,
        "lines": list(lines.select_related(*EXPLAINED).order_by("-occurred_at", "-id")[:50]),
    }


def policy_list() -> QuerySet[Policy]:
    return Policy.objects.order_by("-version")


def referral_link(profile) -> str:
    """The clerk's referral link for the frontends: the shop's address with ``?ref=CODE``."""
    from urllib.parse import urlencode, urlsplit, urlunsplit

    from django.conf import settings

    parts = urlsplit(settings.STOREFRONT_URL)
    query = "&".join(q for q in (parts.query, urlencode({"ref": profile.referral_code})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


def referral_qr(profile, *, kind: str = "svg", scale: int = 6) -> bytes:
    """The referral link as a printable QR code (SVG or PNG, by segno)."""
    import io

    import segno

    out = io.BytesIO()
    segno.make(referral_link(profile), error="m").save(out, kind=kind, scale=scale, border=2)
    return out.getvalue()
