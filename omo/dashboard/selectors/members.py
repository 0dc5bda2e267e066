"""The OMO figures: members who buy in both channels against online-only and store-only members, with
purchases per member (人均購買頻次) and spend per member (人均貢獻金額) over the period, how members
moved between segments since the comparison period, and the monthly trend of the last 12 months."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from dateutil.relativedelta import relativedelta
from django.utils.translation import gettext as _

from omo.dashboard.figures import Column, Figure, Kpi, Page, money_per, ratio
from omo.dashboard.filters import Filters, day_start, last_months
from omo.dashboard.models import MemberSegmentMonth, RolledUpMonth
from omo.dashboard.rollups import ZERO
from omo.dashboard.segments import SEGMENTS, segment_figures, segment_periods


def segment_labels() -> dict[str, str]:
    return {
        "both": _("Both channels (OMO)"),
        "store_only": _("Store only"),
        "online_only": _("Online only"),
        "none": _("No purchase"),
    }


def _per_member(figures: dict, segment: str) -> tuple:
    f = figures.get(segment) or {"members": 0, "purchases": 0, "spend": ZERO}
    return f, ratio(f["purchases"], f["members"]), money_per(f["spend"], f["members"])


def page(filters: Filters) -> Page:
    compare = filters.comparison() or replace(filters, compare="previous").comparison()  # moves need one
    then, now, moved = segment_periods(compare.bounds, filters.bounds, filters.store_ids)
    labels = segment_labels()
    buyers = sum(f["members"] for f in now.values())
    spend = sum((f["spend"] for f in now.values()), ZERO)
    rows = []
    for seg in SEGMENTS:
        f, freq, per = _per_member(now, seg)
        g, _freq, per_then = _per_member(then, seg)
        rows.append({
            "segment": labels[seg], "members": f["members"], "member_share": ratio(f["members"], buyers),
            "purchases": f["purchases"], "frequency": freq, "spend": f["spend"], "per_member": per,
            "spend_share": ratio(f["spend"], spend), "members_then": g["members"], "per_member_then": per_then,
        })  # fmt: skip
    both, single = now.get("both"), [now[s] for s in ("store_only", "online_only") if s in now]
    single_per = money_per(sum((f["spend"] for f in single), ZERO), sum(f["members"] for f in single))
    both_per = money_per(both["spend"], both["members"]) if both else None
    then_buyers = sum(f["members"] for f in then.values())
    kpis = [
        Kpi(_("Members who bought"), buyers, "int", then_buyers),
        Kpi(_("OMO members (both channels)"), (both or {}).get("members", 0), "int",
            (then.get("both") or {}).get("members", 0)),
        Kpi(_("OMO share of buyers"), ratio((both or {}).get("members", 0), buyers), "pct",
            ratio((then.get("both") or {}).get("members", 0), then_buyers)),
        Kpi(_("Spend per OMO member"), both_per, "money", _per_member(then, "both")[2]),
        Kpi(_("Spend per single-channel member"), single_per, "money"),
        Kpi(_("OMO members spend"), ratio(both_per, single_per), "num",
            note=_("Times the spend of a member who buys in one channel only.")),
    ]  # fmt: skip
    figures = [
        Figure(
            "segments",
            _("Members by OMO segment"),
            [
                Column("segment", _("Segment")),
                Column("members", _("Members"), "int"),
                Column("member_share", _("Share of members"), "pct"),
                Column("purchases", _("Purchases"), "int"),
                Column("frequency", _("Purchases per member"), "num"),
                Column("spend", _("Spend"), "money"),
                Column("per_member", _("Spend per member"), "money"),
                Column("spend_share", _("Share of spend"), "pct"),
                Column("members_then", _("Members then"), "int"),
                Column("per_member_then", _("Spend per member then"), "money"),
            ],
            rows,
            chart={"type": "bar", "x": "segment", "series": ["per_member", "per_member_then"]},
            note=_(
                "Members with a paid purchase in the period; spend is what they paid less refunds, in every "
                "channel. A store's view counts the members registered there or who bought there."
            ),
        ),
        moves(moved),
        trend(filters),
    ]
    return Page(key="members", title=_("OMO members"), kpis=kpis, figures=figures)


def moves(counts: dict[tuple[str, str], int]) -> Figure:
    labels = segment_labels()
    order = [*SEGMENTS, "none"]
    rows = []
    for a in order:
        row = {"then": labels[a]}
        for b in order:
            row[b] = counts.get((a, b), 0) if not (a == "none" and b == "none") else None
        row["total"] = sum(v for v in (row[b] for b in order) if v)
        rows.append(row)
    return Figure(
        "moves",
        _("How members moved between segments"),
        [Column("then", _("Then → now")), *[Column(b, labels[b], "int") for b in order],
         Column("total", _("Total"), "int")],
        rows,
        chart={"type": "bar", "x": "then", "series": order, "stacked": True, "horizontal": True},
        note=_("Rows: the segment in the comparison period; columns: the segment in this period."),
    )  # fmt: skip


def trend(filters: Filters) -> Figure:
    """Members by segment in each of the last 12 months: rolled-up months from the rollup, the others
    (this month, or months the job has not reached) live."""
    months = last_months(filters.end)
    store = None
    if filters.store_ids is not None and len(filters.store_ids) == 1:
        (store,) = filters.store_ids
    rolled = set(RolledUpMonth.objects.filter(month__in=months).values_list("month", flat=True))
    if filters.store_ids is not None and store is None:
        rolled = set()
    figures: dict[date, dict] = {m: {} for m in months}
    for row in MemberSegmentMonth.objects.filter(month__in=rolled, store_id=store):
        figures[row.month][row.segment] = {"members": row.members, "purchases": row.purchases, "spend": row.spend}
    for month in months:
        if month not in rolled:
            figures[month] = segment_figures(
                day_start(month), day_start(month + relativedelta(months=1)), filters.store_ids
            )
    labels = segment_labels()
    rows = []
    for month in months:
        f = figures[month]
        row = {"month": month.strftime("%Y-%m")}
        for seg in SEGMENTS:
            row[seg] = (f.get(seg) or {}).get("members", 0)
            row[f"{seg}_per"] = money_per((f.get(seg) or {}).get("spend"), row[seg])
        row["omo_share"] = ratio(row["both"], sum(row[s] for s in SEGMENTS))
        rows.append(row)
    return Figure(
        "trend",
        _("Segments month by month"),
        [
            Column("month", _("Month")),
            *[Column(s, labels[s], "int") for s in SEGMENTS],
            Column("omo_share", _("OMO share"), "pct"),
            *[
                Column(f"{s}_per", _("Spend per member: %(segment)s") % {"segment": labels[s]}, "money")
                for s in SEGMENTS
            ],
        ],
        rows,
        chart={"type": "bar", "x": "month", "series": list(SEGMENTS), "stacked": True},
    )
