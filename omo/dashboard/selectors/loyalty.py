"""Coupons and points: coupons issued into wallets against coupons redeemed, by channel, store and
campaign; points earned, redeemed, expired and adjusted; and the points liability with what expires
in the next three months.

Store scope: coupons by where they were collected and redeemed; points (entries and liability) by
the store the member registered at, since a points entry carries no channel or store.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils.translation import gettext as _

from members.models import CouponCampaign, CouponRedemption, Member, PointsEntry, PointsLot, WalletCoupon
from omo.dashboard.figures import Column, Figure, Kpi, Page, ratio
from omo.dashboard.filters import Filters, months_between
from omo.dashboard.selectors.common import channel_names, store_names

TOP = 20
EXPIRY_MONTHS = 3
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
KINDS = [k for k, _label in PointsEntry.Kind.choices]


def points_value(points) -> Decimal:
    """What ``points`` are worth (``ORDER_POINT_VALUE`` each), to the cent."""
    return (Decimal(points or 0) * settings.ORDER_POINT_VALUE).quantize(CENT)


# --- coupons --------------------------------------------------------------------------------------------


def _coupon_querysets(filters: Filters):
    """The period's wallet coupons (by where they were collected) and redemptions not given back (by
    where they were used), narrowed to the stores and channels of the filters."""
    wallets = WalletCoupon.objects.filter(filters.during("collected_at"))
    redemptions = CouponRedemption.objects.filter(
        filters.during("redeemed_at"), status=CouponRedemption.Status.REDEEMED
    )
    if filters.store_ids is not None:
        wallets = wallets.filter(collected_store_id__in=filters.store_ids)
        redemptions = redemptions.filter(store_id__in=filters.store_ids)
    if filters.channel_ids is not None:
        wallets = wallets.filter(collected_channel_id__in=filters.channel_ids)
        redemptions = redemptions.filter(channel_id__in=filters.channel_ids)
    return wallets.order_by(), redemptions.order_by()


def coupon_rows(filters: Filters) -> dict:
    """The period's coupons: ``issued`` {(channel, store, campaign): n} (wallet coupons created then,
    by where they were collected) and ``redeemed`` {(channel, store, campaign): (n, discount)}
    (redemptions then that were not given back, by where they were used). Two queries."""
    wallets, redemptions = _coupon_querysets(filters)
    issued = {
        (r["ch"], r["st"], r["cp"]): r["n"]
        for r in wallets.values(
            ch=F("collected_channel_id"), st=F("collected_store_id"), cp=F("coupon__campaign_id")
        ).annotate(n=Count("id"))
    }
    redeemed = {
        (r["ch"], r["st"], r["cp"]): (r["n"], r["discount"] or ZERO)
        for r in redemptions.values(ch=F("channel_id"), st=F("store_id"), cp=F("coupon__campaign_id")).annotate(
            n=Count("id"), discount=Sum("discount")
        )
    }
    return {"issued": issued, "redeemed": redeemed}


def _by(data: dict, position: int | None) -> dict:
    """{key: {"issued", "redeemed", "discount"}} with key the ``position`` of (channel, store, campaign)
    (None: one total under the key None)."""
    out: dict = defaultdict(lambda: {"issued": 0, "redeemed": 0, "discount": ZERO})
    for key, n in data.get("issued", {}).items():
        out[key[position] if position is not None else None]["issued"] += n
    for key, (n, discount) in data.get("redeemed", {}).items():
        row = out[key[position] if position is not None else None]
        row["redeemed"] += n
        row["discount"] += discount
    return out


def coupon_totals(filters: Filters | None) -> dict:
    """Issued, redeemed, discount and rate of the period in two aggregates (for the comparison period)."""
    if filters is None:
        return {}
    wallets, redemptions = _coupon_querysets(filters)
    issued = wallets.aggregate(n=Count("id"))["n"]
    used = redemptions.aggregate(n=Count("id"), discount=Sum("discount"))
    return {
        "issued": issued,
        "redeemed": used["n"],
        "discount": used["discount"] or ZERO,
        "rate": ratio(used["n"], issued),
    }


def _coupon_columns(first: Column) -> list[Column]:
    return [
        first,
        Column("issued", _("Issued"), "int"),
        Column("redeemed", _("Redeemed"), "int"),
        Column("rate", _("Redemption rate"), "pct"),
        Column("discount", _("Discount given"), "money"),
    ]


def _coupon_figure(key: str, title: str, first: Column, grouped: dict, names: dict, missing: str, **extra) -> Figure:
    rows = [
        {
            "name": names.get(k, str(k)) if k is not None else missing, "issued": v["issued"],
            "redeemed": v["redeemed"], "rate": ratio(v["redeemed"], v["issued"]), "discount": v["discount"],
        }
        for k, v in grouped.items()
    ]  # fmt: skip
    rows.sort(key=lambda r: (-r["redeemed"], -r["issued"], r["name"]))
    total = {
        "name": _("Total"),
        "issued": sum(r["issued"] for r in rows),
        "redeemed": sum(r["redeemed"] for r in rows),
        "discount": sum((r["discount"] for r in rows), ZERO),
    }
    total["rate"] = ratio(total["redeemed"], total["issued"])
    return Figure(
        key,
        title,
        _coupon_columns(first),
        rows,
        chart={"type": "bar", "x": "name", "series": ["issued", "redeemed"], **extra},
        total=total,
        note=_(
            "Issued: coupons put in a member's wallet in the period (collected, or issued to a segment), where they "
            "were collected. Redeemed: coupons used on an order in the period and not given back, where they were "
            "used, whenever they were collected; a shared code can be used without being collected, so the rate "
            "can pass 100%."
        ),
    )


def coupons_by_channel(data: dict) -> Figure:
    return _coupon_figure(
        "coupons_by_channel",
        _("Coupons by channel"),
        Column("name", _("Channel")),
        _by(data, 0),
        channel_names(),
        _("No channel recorded"),
    )


def coupons_by_store(data: dict, names: dict) -> Figure:
    return _coupon_figure(
        "coupons_by_store",
        _("Coupons by store"),
        Column("name", _("Store")),
        _by(data, 1),
        names,
        _("Not in a store"),
        horizontal=True,
        limit=25,
    )


def coupons_by_campaign(data: dict) -> Figure:
    grouped = _by(data, 2)
    top = sorted(grouped.items(), key=lambda kv: (-kv[1]["redeemed"], -kv[1]["issued"], kv[0]))[:TOP]
    names = dict(CouponCampaign.objects.filter(pk__in=[k for k, _v in top]).values_list("pk", "name"))
    figure = _coupon_figure(
        "coupons_by_campaign",
        _("Coupons by campaign"),
        Column("name", _("Campaign")),
        dict(top),
        names,
        "",
        horizontal=True,
    )
    figure.note = _("The %(n)d campaigns with the most redemptions in the period.") % {"n": TOP}
    figure.total = None  # the top campaigns only: their sum is not the period's total
    return figure


# --- points ---------------------------------------------------------------------------------------------


def _entries(filters: Filters):
    entries = PointsEntry.objects.filter(filters.during("created_at"))
    if filters.store_ids is not None:
        entries = entries.filter(member__registered_store_id__in=filters.store_ids)
    return entries.order_by()


def points_day_rows(filters: Filters | None) -> list[dict]:
    """The period's points entries per day and kind: entries, points in and points out (positive), one
    query."""
    if filters is None:
        return []
    return [
        {"day": r["day"], "kind": r["kind"], "entries": r["n"], "in": r["pin"] or 0, "out": -(r["pout"] or 0)}
        for r in _entries(filters)
        .values("kind", day=TruncDate("created_at"))
        .annotate(n=Count("id"), pin=Sum("points", filter=Q(points__gt=0)), pout=Sum("points", filter=Q(points__lt=0)))
    ]


def points_rows(day_rows: list[dict] | None) -> dict:
    """{kind: {"entries", "in", "out"}} summed over the days ({} for no period)."""
    if day_rows is None:
        return {}
    rows = {k: {"entries": 0, "in": 0, "out": 0} for k in KINDS}
    for r in day_rows:
        for key in ("entries", "in", "out"):
            rows[r["kind"]][key] += r[key]
    return rows


def _flow(rows: dict, kind: str, direction: str):
    return rows[kind][direction] if rows else None


def points_by_kind(now: dict, before: dict, compare: Filters | None) -> Figure:
    labels = dict(PointsEntry.Kind.choices)
    rows = []
    for kind in KINDS:
        r, o = now[kind], before.get(kind, {}) if before else {}
        rows.append({
            "kind": str(labels[kind]), "entries": r["entries"], "in": r["in"], "out": r["out"],
            "net": r["in"] - r["out"], "compare_net": (o.get("in", 0) - o.get("out", 0)) if compare else None,
        })  # fmt: skip
    columns = [
        Column("kind", _("Kind")),
        Column("entries", _("Entries"), "int"),
        Column("in", _("Points in"), "int"),
        Column("out", _("Points out"), "int"),
        Column("net", _("Net points"), "int"),
    ]
    if compare:
        columns.append(Column("compare_net", _("Net points then"), "int"))
    total = {"kind": _("Total"), **{k: sum(r[k] for r in rows) for k in ("entries", "in", "out", "net")}}
    if compare:
        total["compare_net"] = sum(r["compare_net"] for r in rows)
    return Figure(
        "points_by_kind",
        _("Points by kind"),
        columns,
        rows,
        chart={"type": "bar", "x": "kind", "series": ["in", "out"]},
        note=_(
            "Points entries in the period. An entry carries no channel or store, so there is no split by "
            "channel, and a store sees the entries of the members registered there; the channel filter does not "
            "apply. Reversed: points of cancelled or returned orders given back or taken back; merge: moved "
            "between merged members."
        ),
        total=total,
    )


def points_by_day(filters: Filters, day_rows: list[dict]) -> Figure:
    by_day: dict = defaultdict(lambda: {"earned": 0, "redeemed": 0, "expired": 0, "other": 0})
    main = {PointsEntry.Kind.EARN: "earned", PointsEntry.Kind.REDEEM: "redeemed", PointsEntry.Kind.EXPIRE: "expired"}
    for r in day_rows:
        if r["kind"] in main:
            by_day[r["day"]][main[r["kind"]]] += r["in"] + r["out"]
        else:
            by_day[r["day"]]["other"] += r["in"] - r["out"]
    rows = [{"day": day, **by_day[day]} for day in filters.day_list()]
    return Figure(
        "points_by_day",
        _("Points by day"),
        [
            Column("day", _("Day"), "date"),
            Column("earned", _("Earned"), "int"),
            Column("redeemed", _("Redeemed"), "int"),
            Column("expired", _("Expired"), "int"),
            Column("other", _("Adjusted, reversed, merged (net)"), "int"),
        ],
        rows,
        chart={"type": "line", "x": "day", "series": ["earned", "redeemed", "expired"]},
    )


# --- liability ------------------------------------------------------------------------------------------


def _members(filters: Filters):
    members = Member.objects.filter(points_balance__gt=0)
    if filters.store_ids is not None:
        members = members.filter(registered_store_id__in=filters.store_ids)
    return members.order_by()


def liability_by_store(filters: Filters, names: dict) -> Figure:
    nowhere = _("Not registered at a store")
    grouped = (
        _members(filters).values("registered_store_id").annotate(members=Count("id"), points=Sum("points_balance"))
    )
    rows = [
        {
            "name": names.get(r["registered_store_id"], "") if r["registered_store_id"] else nowhere,
            "members": r["members"], "points": r["points"], "value": points_value(r["points"]),
        }
        for r in grouped
    ]  # fmt: skip
    rows.sort(key=lambda r: (-r["points"], r["name"]))
    total = {"name": _("Total"), "members": sum(r["members"] for r in rows), "points": sum(r["points"] for r in rows)}
    total["value"] = points_value(total["points"])
    return Figure(
        "liability",
        _("Points liability by registration store"),
        [
            Column("name", _("Store")),
            Column("members", _("Members with points"), "int"),
            Column("points", _("Points outstanding"), "int"),
            Column("value", _("Liability"), "money"),
        ],
        rows,
        chart={"type": "doughnut", "x": "name", "series": ["value"], "limit": 10},
        note=_("Now: every member's points balance (their open points lots) x %(value)s, the value of a point.")
        % {"value": settings.ORDER_POINT_VALUE},
        total=total,
    )


def liability_expiry(filters: Filters) -> Figure:
    """Open points lots by the month they expire, from today to three months on, and those past their
    date that the nightly job has not expired yet."""
    today = filters.today
    horizon = today + relativedelta(months=EXPIRY_MONTHS)
    lots = PointsLot.objects.filter(remaining__gt=0)
    if filters.store_ids is not None:
        lots = lots.filter(member__registered_store_id__in=filters.store_ids)
    lots = lots.order_by()
    upcoming = {
        r["month"]: r
        for r in lots.filter(expires_on__gte=today, expires_on__lte=horizon)
        .values(month=TruncMonth("expires_on"))
        .annotate(points=Sum("remaining"), members=Count("member_id", distinct=True))
    }
    past = lots.filter(expires_on__lt=today).aggregate(
        points=Sum("remaining"), members=Count("member_id", distinct=True)
    )
    rows = []
    if past["points"]:
        rows.append({
            "month": _("Past their date, not expired yet"), "members": past["members"], "points": past["points"],
            "value": points_value(past["points"]),
        })  # fmt: skip
    for month in months_between(today, horizon):
        r = upcoming.get(month, {})
        rows.append({
            "month": f"{month:%Y-%m}", "members": r.get("members", 0), "points": r.get("points") or 0,
            "value": points_value(r.get("points")),
        })  # fmt: skip
    total = {"month": _("Total"), "points": sum(r["points"] for r in rows)}
    total["value"] = points_value(total["points"])
    return Figure(
        "liability_expiry",
        _("Points expiring in the next 3 months"),
        [
            Column("month", _("Month")),
            Column("members", _("Members"), "int"),
            Column("points", _("Points"), "int"),
            Column("value", _("Value"), "money"),
        ],
        rows,
        chart={"type": "bar", "x": "month", "series": ["points"]},
        note=_("Open points lots expiring from %(today)s to %(horizon)s, by month.")
        % {"today": today.isoformat(), "horizon": horizon.isoformat()},
        total=total,
    )


# --- the page -------------------------------------------------------------------------------------------


def page(filters: Filters) -> Page:
    compare = filters.comparison()
    data = coupon_rows(filters)
    coupons = _by(data, None)[None]
    coupons_then = coupon_totals(compare)
    day_rows = points_day_rows(filters)
    points, points_then = points_rows(day_rows), points_rows(points_day_rows(compare) if compare else None)
    names = store_names()
    liability = liability_by_store(filters, names)
    expiry = liability_expiry(filters)
    soon = sum(r["points"] for r in expiry.rows)
    kpis = [
        Kpi(_("Coupons issued"), coupons["issued"], "int", coupons_then.get("issued"),
            _("Put in members' wallets in the period.")),
        Kpi(_("Coupons redeemed"), coupons["redeemed"], "int", coupons_then.get("redeemed")),
        Kpi(_("Redemption rate"), ratio(coupons["redeemed"], coupons["issued"]), "pct", coupons_then.get("rate"),
            _("Redeemed / issued in the period.")),
        Kpi(_("Coupon discounts"), coupons["discount"], "money", coupons_then.get("discount")),
        Kpi(_("Points earned"), _flow(points, "earn", "in"), "int", _flow(points_then, "earn", "in")),
        Kpi(_("Points redeemed"), _flow(points, "redeem", "out"), "int", _flow(points_then, "redeem", "out")),
        Kpi(_("Points expired"), _flow(points, "expire", "out"), "int", _flow(points_then, "expire", "out")),
        Kpi(_("Points liability"), liability.total["value"], "money", None,
            _("%(points)d points outstanding now, at %(value)s each.")
            % {"points": liability.total["points"], "value": settings.ORDER_POINT_VALUE}),
        Kpi(_("Expiring within 3 months"), points_value(soon), "money", None,
            _("%(points)d points, including those past their date not expired yet.") % {"points": soon}),
    ]  # fmt: skip
    return Page(
        key="loyalty",
        title=_("Coupons and points"),
        kpis=kpis,
        figures=[
            coupons_by_channel(data),
            coupons_by_store(data, names),
            coupons_by_campaign(data),
            points_by_kind(points, points_then, compare),
            points_by_day(filters, day_rows),
            liability,
            expiry,
        ],
        note=_(
            "Coupons and points entries are those of the period; the liability is now. A store sees the coupons "
            "collected and redeemed there, and the points of the members registered there."
        ),
    )
