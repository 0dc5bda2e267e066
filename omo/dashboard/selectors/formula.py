"""The retail formula, per store and for each online channel: traffic (來客數) × conversion (提袋率) ×
average ticket (客單價) = sales. Store traffic is the door counter; a store's orders are its counter and
endless-aisle sales (POS); online traffic is the channel's sessions and its orders every order of that
channel. Conversion = orders / traffic; average ticket = sales / orders."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Sum
from django.db.models.functions import ExtractHour
from django.utils.translation import gettext as _

from omo.dashboard.figures import Column, Figure, Kpi, Page, money_per, ratio
from omo.dashboard.filters import Filters
from omo.dashboard.models import TrafficCount
from omo.dashboard.rollups import ZERO, sales_rows
from omo.dashboard.selectors.common import channel_names, store_names
from omo.org.models import SalesChannel
from orders.models import Order

ONLINE = {SalesChannel.Kind.WEB, SalesChannel.Kind.APP, SalesChannel.Kind.MARKETPLACE}


def _traffic(filters: Filters, dim: str) -> dict:
    qs = TrafficCount.objects.filter(day__range=(filters.start, filters.end))
    if dim == "store_id":
        qs = qs.filter(store__isnull=False)
        if filters.store_ids is not None:
            qs = qs.filter(store_id__in=filters.store_ids)
    else:
        qs = qs.filter(channel__isnull=False)
        if filters.store_ids is not None:
            return {}
        if filters.channel_ids is not None:
            qs = qs.filter(channel_id__in=filters.channel_ids)
    return dict(qs.values_list(dim).annotate(n=Sum("visits")).values_list(dim, "n"))


def formula_rows(filters: Filters) -> tuple[list[dict], list[dict]]:
    """(store rows, online channel rows): name, traffic, orders, conversion, ticket, sales."""
    kinds = dict(SalesChannel.objects.values_list("pk", "kind"))
    by_store: dict = defaultdict(lambda: {"orders": 0, "sales": ZERO})
    by_channel: dict = defaultdict(lambda: {"orders": 0, "sales": ZERO})
    for row in sales_rows(filters, ("channel_id", "store_id")):
        if kinds.get(row["channel_id"]) == SalesChannel.Kind.POS:
            if row["store_id"] is not None:
                target = by_store[row["store_id"]]
                target["orders"] += row["orders"]
                target["sales"] += row["sales"]
        elif filters.store_ids is None:
            target = by_channel[row["channel_id"]]
            target["orders"] += row["orders"]
            target["sales"] += row["sales"]
    store_traffic, channel_traffic = _traffic(filters, "store_id"), _traffic(filters, "channel_id")
    stores, channels = store_names(), channel_names()

    def build(keys, figures, traffic, names):
        rows = []
        for key in keys:
            f = figures.get(key, {"orders": 0, "sales": ZERO})
            visits = traffic.get(key)
            rows.append({
                "name": names.get(key, str(key)), "traffic": visits, "orders": f["orders"],
                "conversion": ratio(f["orders"], visits), "ticket": money_per(f["sales"], f["orders"]),
                "sales": f["sales"],
            })  # fmt: skip
        return sorted(rows, key=lambda r: (-r["sales"], r["name"]))

    store_rows = build(set(by_store) | set(store_traffic), by_store, store_traffic, stores)
    online_keys = {k for k in set(by_channel) | set(channel_traffic) if kinds.get(k) in ONLINE}
    return store_rows, build(online_keys, by_channel, channel_traffic, channels)


def _total(rows: list[dict], label: str) -> dict:
    traffic = sum(r["traffic"] or 0 for r in rows)
    counted = [r for r in rows if r["traffic"]]  # conversion only where traffic was counted
    orders_counted = sum(r["orders"] for r in counted)
    orders = sum(r["orders"] for r in rows)
    sales = sum((r["sales"] for r in rows), ZERO)
    return {
        "name": label, "traffic": traffic or None, "orders": orders,
        "conversion": ratio(orders_counted, traffic), "ticket": money_per(sales, orders), "sales": sales,
    }  # fmt: skip


def _columns(first: Column) -> list[Column]:
    return [
        first,
        Column("traffic", _("Traffic"), "int"),
        Column("conversion", _("Conversion"), "pct"),
        Column("ticket", _("Average ticket"), "money"),
        Column("orders", _("Orders"), "int"),
        Column("sales", _("Sales"), "money"),
    ]


def page(filters: Filters) -> Page:
    compare = filters.comparison()
    stores, online = formula_rows(filters)
    store_total, online_total = _total(stores, _("All stores")), _total(online, _("All online"))
    then_store, then_online = ({}, {})
    if compare:
        s, o = formula_rows(compare)
        then_store, then_online = _total(s, ""), _total(o, "")
    kpis = [
        Kpi(_("Store traffic"), store_total["traffic"], "int", then_store.get("traffic")),
        Kpi(_("Store conversion"), store_total["conversion"], "pct", then_store.get("conversion"),
            _("Store orders / door-counter visitors, where the door was counted.")),
        Kpi(_("Store average ticket"), store_total["ticket"], "money", then_store.get("ticket")),
        Kpi(_("Store sales"), store_total["sales"], "money", then_store.get("sales")),
        Kpi(_("Online sessions"), online_total["traffic"], "int", then_online.get("traffic")),
        Kpi(_("Online conversion"), online_total["conversion"], "pct", then_online.get("conversion")),
        Kpi(_("Online average ticket"), online_total["ticket"], "money", then_online.get("ticket")),
        Kpi(_("Online sales"), online_total["sales"], "money", then_online.get("sales")),
    ]  # fmt: skip
    figures = [
        Figure(
            "stores",
            _("Stores: traffic × conversion × average ticket = sales"),
            _columns(Column("name", _("Store"))),
            stores,
            chart={"type": "bar", "x": "name", "series": ["conversion"], "limit": 25},
            total=store_total,
            note=_("A store's orders are its POS sales (counter and endless aisle), not online orders it hands over."),
        ),
    ]
    if filters.store_ids is None:
        figures.append(
            Figure(
                "online",
                _("Online: sessions × conversion × average ticket = sales"),
                _columns(Column("name", _("Channel"))),
                online,
                chart={"type": "bar", "x": "name", "series": ["conversion"]},
                total=online_total,
                note=_("Marketplaces send no sessions, so they have no conversion."),
            )
        )
    figures += [by_day(filters), by_hour(filters)]
    return Page(key="formula", title=_("Traffic × conversion × ticket"), kpis=kpis, figures=figures)


def by_day(filters: Filters) -> Figure:
    kinds = dict(SalesChannel.objects.values_list("pk", "kind"))
    orders: dict = defaultdict(int)
    for row in sales_rows(filters, ("day", "channel_id", "store_id")):
        if kinds.get(row["channel_id"]) == SalesChannel.Kind.POS and row["store_id"] is not None:
            orders[row["day"]] += row["orders"]
    qs = TrafficCount.objects.filter(day__range=(filters.start, filters.end), store__isnull=False)
    if filters.store_ids is not None:
        qs = qs.filter(store_id__in=filters.store_ids)
    traffic = dict(qs.values_list("day").annotate(n=Sum("visits")).values_list("day", "n"))
    rows = [
        {"day": d, "traffic": traffic.get(d), "orders": orders.get(d, 0),
         "conversion": ratio(orders.get(d, 0), traffic.get(d))}
        for d in filters.day_list()
    ]  # fmt: skip
    return Figure(
        "stores_by_day",
        _("Stores by day"),
        [Column("day", _("Day"), "date"), Column("traffic", _("Traffic"), "int"), Column("orders", _("Orders"), "int"),
         Column("conversion", _("Conversion"), "pct")],
        rows,
        chart={"type": "line", "x": "day", "series": ["traffic", "orders"]},
    )  # fmt: skip


def by_hour(filters: Filters) -> Figure:
    """Visitors and POS orders by hour of the day: when the door is busy and whether sales follow."""
    start, until = filters.bounds
    qs = Order.objects.filter(
        paid_at__gte=start, paid_at__lt=until, channel__kind=SalesChannel.Kind.POS, store__isnull=False
    )
    traffic_qs = TrafficCount.objects.filter(day__range=(filters.start, filters.end), store__isnull=False)
    if filters.store_ids is not None:
        qs = qs.filter(store_id__in=filters.store_ids)
        traffic_qs = traffic_qs.filter(store_id__in=filters.store_ids)
    orders = dict(qs.annotate(h=ExtractHour("paid_at")).values("h").annotate(n=Count("id")).values_list("h", "n"))
    traffic = dict(traffic_qs.values_list("hour").annotate(n=Sum("visits")).values_list("hour", "n"))
    hours = sorted(set(orders) | set(traffic))
    rows = [
        {"hour": f"{h:02d}:00", "traffic": traffic.get(h), "orders": orders.get(h, 0),
         "conversion": ratio(orders.get(h, 0), traffic.get(h))}
        for h in hours
    ]  # fmt: skip
    return Figure(
        "stores_by_hour",
        _("Stores by hour of the day"),
        [Column("hour", _("Hour")), Column("traffic", _("Traffic"), "int"), Column("orders", _("Orders"), "int"),
         Column("conversion", _("Conversion"), "pct")],
        rows,
        chart={"type": "bar", "x": "hour", "series": ["traffic", "orders"]},
    )  # fmt: skip
