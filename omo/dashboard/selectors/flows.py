"""Cross-channel flows (跨通路): online orders picked up in stores, stores shipping for the web, endless
aisle, online orders returned in stores, and coupons that move customers between online and the stores.

Each figure is one or two grouped queries per period; the key figures are the figures' totals, computed
again for the comparison period. A store filter keeps the rows of the stores it names; a channel filter
keeps the orders of that channel (for returns and coupons: see each figure's note)."""

from __future__ import annotations

from django.db.models import Case, CharField, Count, F, FilteredRelation, Q, Sum, Value, When
from django.utils.translation import gettext as _

from members.models import CouponRedemption
from omo.dashboard.figures import Column, Figure, Kpi, Page, cents, ratio
from omo.dashboard.filters import Filters, ids_q
from omo.dashboard.rollups import MONEY_FIELD, ZERO
from omo.dashboard.selectors.common import store_names
from omo.org.models import Location, SalesChannel
from orders.models import Fulfilment, Order, OrderAllocation, OrderStatus, Return

ONLINE = tuple(str(kind) for kind in SalesChannel.ONLINE_KINDS)
POS = str(SalesChannel.Kind.POS)
COLLECTED = (OrderStatus.COMPLETED, OrderStatus.PARTIALLY_RETURNED, OrderStatus.RETURNED)
WAITING = (OrderStatus.PAID, OrderStatus.FULFILLING, OrderStatus.READY_FOR_PICKUP)
GOODS = Sum(F("total") - F("shipping_fee"), output_field=MONEY_FIELD)  # what the sales page calls sales


# --- the rows of each figure, by store --------------------------------------------------------------


def order_flow_rows(filters: Filters) -> tuple[dict[int, dict], dict[int, dict]]:
    """(pickup, endless aisle) by store, from one pass over the orders paid in the period.

    Pickup: online orders (web, app, marketplace) to pick up in a store, by pickup store: orders, sales,
    and how many were collected (completed, or returned after), are still waiting (paid, being brought,
    ready) or were cancelled (not collected in time, or by the customer).
    Endless aisle (店員幫客人從別處調貨): POS orders not handed over at the counter, by the store that sold
    them: orders, sales, and how many go to the customer's home or are picked up."""
    pickup = Q(fulfilment=Order.Fulfilment.PICKUP, channel__kind__in=ONLINE)
    endless = Q(channel__kind=POS)  # with the conditions both share: a store, shipped or picked up
    rows = (
        Order.objects.filter(
            pickup | endless,
            filters.during("paid_at"),
            ids_q("store_id", filters.store_ids),
            ids_q("channel_id", filters.channel_ids),
            store__isnull=False,
            fulfilment__in=(Order.Fulfilment.SHIP, Order.Fulfilment.PICKUP),  # not "counter" (an index can serve IN)
        )
        .annotate(flow=Case(When(endless, then=Value("endless")), default=Value("pickup"), output_field=CharField()))
        .values("store_id", "flow")
        .annotate(
            orders=Count("id"),
            sales=GOODS,
            collected=Count("id", filter=Q(status__in=COLLECTED)),
            waiting=Count("id", filter=Q(status__in=WAITING)),
            cancelled=Count("id", filter=Q(status=OrderStatus.CANCELLED)),
            shipped=Count("id", filter=Q(fulfilment=Order.Fulfilment.SHIP)),
            picked_up=Count("id", filter=Q(fulfilment=Order.Fulfilment.PICKUP)),
        )
        .order_by()
    )
    out: dict[str, dict[int, dict]] = {"pickup": {}, "endless": {}}
    keep = {
        "pickup": ("store_id", "orders", "collected", "waiting", "cancelled"),
        "endless": ("store_id", "orders", "shipped", "picked_up"),
    }
    for r in rows:
        out[r["flow"]][r["store_id"]] = {**{k: r[k] for k in keep[r["flow"]]}, "sales": cents(r["sales"])}
    return out["pickup"], out["endless"]


def ship_rows(filters: Filters) -> dict[int, dict]:
    """Shipments that left a store (門市出貨, ship-from-store) in the period, by that store: the orders
    shipped (an order shipped in two parcels counts once), the parcels and the units (each shipment
    keeps the sum of its lines; a shipment is made by ``order_ship`` only, which ships orders to ship)."""
    rows = (
        Fulfilment.objects.filter(
            filters.during("at"),
            ids_q("location_id", filters.store_ids),
            ids_q("order__channel_id", filters.channel_ids),
            kind=Fulfilment.Kind.SHIPMENT,
            location__kind=Location.Kind.STORE,
        )
        .values(store_id=F("location_id"))
        .annotate(orders=Count("order_id", distinct=True), shipments=Count("id"), units=Sum("units"))
        .order_by()
    )
    return {r["store_id"]: r for r in rows}


def ship_open_rows(filters: Filters) -> dict[int, dict]:
    """Now (whatever the period): paid orders to ship whose goods are held at a store and have not
    left yet, by that store: orders and units."""
    rows = (
        OrderAllocation.objects.filter(
            ids_q("location_id", filters.store_ids),
            ids_q("line__order__channel_id", filters.channel_ids),
            location__kind=Location.Kind.STORE,
            transfer__isnull=True,
            quantity__gt=F("fulfilled"),
            line__order__fulfilment=Order.Fulfilment.SHIP,
            line__order__status__in=(OrderStatus.PAID, OrderStatus.FULFILLING),
        )
        .values("location_id")
        .annotate(open_orders=Count("line__order_id", distinct=True), open_units=Sum(F("quantity") - F("fulfilled")))
        .order_by()
    )
    return {r["location_id"]: r for r in rows}


def return_rows(filters: Filters) -> dict[int, dict]:
    """Online orders brought back to a store (through the POS) in the period, by that store: returns,
    the amount refunded (to any tender, store credit or an exchange) and how many became exchanges."""
    channel = (
        Q()
        if filters.channel_ids is None
        else Q(order__channel_id__in=filters.channel_ids) | Q(channel_id__in=filters.channel_ids)
    )
    rows = (
        Return.objects.filter(
            channel,
            filters.during("created_at"),
            ids_q("store_id", filters.store_ids),
            store__isnull=False,
            channel__kind=POS,
            order__channel__kind__in=ONLINE,
        )
        .values("store_id")
        .annotate(
            returns=Count("id"),
            amount=Sum("amount"),
            exchanges=Count("id", filter=Q(refund_to=Return.RefundTo.EXCHANGE)),
        )
        .order_by()
    )
    return {r["store_id"]: {**r, "amount": cents(r["amount"])} for r in rows}


def _where(kind_path: str, store_path: str | None = None):
    """'store' (a store, or the POS), 'online' (an online channel) or 'none' (neither known)."""
    whens = [When(**{f"{store_path}__isnull": False}, then=Value("store"))] if store_path else []
    whens += [
        When(**{kind_path: POS}, then=Value("store")),
        When(**{f"{kind_path}__in": ONLINE}, then=Value("online")),
    ]
    return Case(*whens, default=Value("none"), output_field=CharField())


def coupon_rows(filters: Filters) -> list[dict]:
    """Coupon redemptions in the period (given back ones left out: their order was cancelled or
    returned), grouped by where the coupon was collected (the member's wallet: a store, online, or
    'none' for a code issued by HQ or typed in without collecting it) and where it was redeemed (the
    POS: a store; an online channel), with the redeeming and the collecting store. A store filter keeps
    the redemptions made at or collected at its stores; a channel filter, the redeeming channel."""
    # the wallet row of the same member and coupon (unique), joined rather than looked up per redemption
    wallet = FilteredRelation("member__wallet", condition=Q(member__wallet__coupon=F("coupon")))
    qs = (
        CouponRedemption.objects.filter(
            filters.during("redeemed_at"),
            ids_q("channel_id", filters.channel_ids),
            status=CouponRedemption.Status.REDEEMED,
        )
        .annotate(wallet=wallet)
        .annotate(
            collected=_where("wallet__collected_channel__kind", "wallet__collected_store"),
            collect_store=F("wallet__collected_store_id"),
            redeemed=_where("channel__kind"),
        )
    )
    if filters.store_ids is not None:
        qs = qs.filter(Q(store_id__in=filters.store_ids) | Q(collect_store__in=filters.store_ids))
    rows = qs.values("collected", "redeemed", "store_id", "collect_store").annotate(
        n=Count("id"), discount=Sum("discount")
    )
    return [{**r, "collected": r["collected"] or "none", "discount": cents(r["discount"])} for r in rows.order_by()]


# --- totals and the page ---------------------------------------------------------------------------------


def _data(filters: Filters) -> dict:
    pickup, endless = order_flow_rows(filters)
    return {
        "pickup": pickup,
        "ship": ship_rows(filters),
        "endless": endless,
        "returns": return_rows(filters),
        "coupons": coupon_rows(filters),
    }


def _sum(rows, key: str, zero=0):
    return sum((r[key] for r in rows), zero)


def _totals_of(data: dict) -> dict:
    pickup, ship = data["pickup"].values(), data["ship"].values()
    endless, returns, coupons = data["endless"].values(), data["returns"].values(), data["coupons"]
    out = {
        "pickup_orders": _sum(pickup, "orders"),
        "pickup_sales": _sum(pickup, "sales", ZERO),
        "pickup_collected": _sum(pickup, "collected"),
        "ship_orders": _sum(ship, "orders"),
        "ship_units": _sum(ship, "units"),
        "endless_orders": _sum(endless, "orders"),
        "endless_sales": _sum(endless, "sales", ZERO),
        "returns": _sum(returns, "returns"),
        "returns_amount": _sum(returns, "amount", ZERO),
        "online_to_store": sum(r["n"] for r in coupons if (r["collected"], r["redeemed"]) == ("online", "store")),
        "store_to_online": sum(r["n"] for r in coupons if (r["collected"], r["redeemed"]) == ("store", "online")),
    }
    out["pickup_rate"] = ratio(out["pickup_collected"], out["pickup_orders"])
    return out


def totals(filters: Filters | None) -> dict:
    """The page's key figures for ``filters`` ({} for no filters: no comparison period)."""
    return {} if filters is None else _totals_of(_data(filters))


def page(filters: Filters) -> Page:
    data = _data(filters)
    now, before = _totals_of(data), totals(filters.comparison())
    names = store_names()
    kpis = [
        Kpi(_("Online orders picked up in stores"), now["pickup_orders"], "int", before.get("pickup_orders"),
            _("Online orders to pick up in a store, paid in the period.")),
        Kpi(_("Their sales"), now["pickup_sales"], "money", before.get("pickup_sales")),
        Kpi(_("Collected"), now["pickup_rate"], "pct", before.get("pickup_rate"),
            _("Of those orders, the share collected so far.")),
        Kpi(_("Units shipped from stores"), now["ship_units"], "int", before.get("ship_units")),
        Kpi(_("Endless-aisle sales"), now["endless_sales"], "money", before.get("endless_sales")),
        Kpi(_("Online orders returned in stores"), now["returns"], "int", before.get("returns")),
        Kpi(_("Refunded in stores for online orders"), now["returns_amount"], "money", before.get("returns_amount")),
        Kpi(_("Online coupons redeemed in stores"), now["online_to_store"], "int", before.get("online_to_store"),
            _("Online traffic brought into stores: coupons collected online, used at a store's POS.")),
        Kpi(_("Store coupons redeemed online"), now["store_to_online"], "int", before.get("store_to_online")),
    ]  # fmt: skip
    return Page(
        key="flows",
        title=_("Cross-channel flows"),
        kpis=kpis,
        figures=[
            pickup_figure(data["pickup"], names),
            ship_figure(data["ship"], ship_open_rows(filters), names),
            endless_figure(data["endless"], names),
            returns_figure(data["returns"], names),
            coupon_matrix_figure(data["coupons"]),
            coupon_store_figure(data["coupons"], names, filters),
        ],
    )


def _by_name(rows: list[dict], first: str) -> list[dict]:
    return sorted(rows, key=lambda r: (-r[first], r["name"]))


def pickup_figure(rows: dict[int, dict], names: dict) -> Figure:
    out = _by_name(
        [
            {**r, "name": names.get(store, str(store)), "rate": ratio(r["collected"], r["orders"])}
            for store, r in rows.items()
        ],
        "orders",
    )
    total = {"name": _("Total")}
    for key in ("orders", "collected", "waiting", "cancelled"):
        total[key] = _sum(out, key)
    total["sales"] = _sum(out, "sales", ZERO)
    total["rate"] = ratio(total["collected"], total["orders"])
    return Figure(
        "pickup",
        _("Online orders picked up in stores"),
        [
            Column("name", _("Pickup store")),
            Column("orders", _("Orders"), "int"),
            Column("sales", _("Sales"), "money"),
            Column("collected", _("Collected"), "int"),
            Column("waiting", _("Waiting"), "int"),
            Column("cancelled", _("Cancelled"), "int"),
            Column("rate", _("Collected share"), "pct"),
        ],
        out,
        chart={"type": "bar", "x": "name", "series": ["collected", "waiting", "cancelled"], "stacked": True,
               "horizontal": True, "limit": 25},
        note=_(
            "Orders of the web shop, the app and marketplaces to pick up in a store, paid in the period. "
            "Collected: completed (or returned after); waiting: paid, on the way to the store or ready."
        ),
        total=total,
    )  # fmt: skip


def ship_figure(rows: dict[int, dict], open_now: dict[int, dict], names: dict) -> Figure:
    out = []
    for store in set(rows) | set(open_now):
        r, o = rows.get(store, {}), open_now.get(store, {})
        out.append({
            "name": names.get(store, str(store)), "orders": r.get("orders", 0), "shipments": r.get("shipments", 0),
            "units": r.get("units", 0), "open_orders": o.get("open_orders", 0), "open_units": o.get("open_units", 0),
        })  # fmt: skip
    out = _by_name(out, "units")
    total = {"name": _("Total"), **{k: _sum(out, k) for k in ("orders", "shipments", "units", "open_units")}}
    total["open_orders"] = _sum(out, "open_orders")
    return Figure(
        "ship_from_store",
        _("Shipped from stores"),
        [
            Column("name", _("Store")),
            Column("orders", _("Orders shipped"), "int"),
            Column("shipments", _("Parcels"), "int"),
            Column("units", _("Units"), "int"),
            Column("open_orders", _("Orders to ship now"), "int"),
            Column("open_units", _("Units to ship now"), "int"),
        ],
        out,
        chart={"type": "bar", "x": "name", "series": ["units"], "horizontal": True, "limit": 25},
        note=_(
            "Parcels that left a store in the period for orders to ship home, from the shipment "
            "records. 'To ship now': paid orders whose goods wait at the store, whatever the period."
        ),
        total=total,
    )


def endless_figure(rows: dict[int, dict], names: dict) -> Figure:
    out = _by_name([{**r, "name": names.get(store, str(store))} for store, r in rows.items()], "orders")
    total = {"name": _("Total"), **{k: _sum(out, k) for k in ("orders", "shipped", "picked_up")}}
    total["sales"] = _sum(out, "sales", ZERO)
    return Figure(
        "endless_aisle",
        _("Endless aisle"),
        [
            Column("name", _("Selling store")),
            Column("orders", _("Orders"), "int"),
            Column("sales", _("Sales"), "money"),
            Column("shipped", _("Shipped to the customer"), "int"),
            Column("picked_up", _("Picked up later"), "int"),
        ],
        out,
        chart={"type": "bar", "x": "name", "series": ["sales"], "horizontal": True, "limit": 25},
        note=_("POS orders paid in the period that the clerk ordered from another location for the customer."),
        total=total,
    )


def returns_figure(rows: dict[int, dict], names: dict) -> Figure:
    out = _by_name([{**r, "name": names.get(store, str(store))} for store, r in rows.items()], "returns")
    total = {"name": _("Total"), "returns": _sum(out, "returns"), "amount": _sum(out, "amount", ZERO),
             "exchanges": _sum(out, "exchanges")}  # fmt: skip
    return Figure(
        "online_returns_in_store",
        _("Online orders returned in stores"),
        [
            Column("name", _("Store")),
            Column("returns", _("Returns"), "int"),
            Column("amount", _("Amount refunded"), "money"),
            Column("exchanges", _("Of which exchanges"), "int"),
        ],
        out,
        chart={"type": "bar", "x": "name", "series": ["amount"], "horizontal": True, "limit": 25},
        note=_(
            "Returns made at a store's POS in the period of orders placed online. A channel filter keeps "
            "those where the order's or the return's channel is that channel."
        ),
        total=total,
    )


def coupon_matrix_figure(rows: list[dict]) -> Figure:
    labels = {
        "online": _("Collected online"),
        "store": _("Collected in a store"),
        "none": _("Not collected (issued, or the code typed in)"),
    }
    out = []
    for where, label in labels.items():
        mine = [r for r in rows if r["collected"] == where]
        out.append({
            "collected": label,
            "online": sum(r["n"] for r in mine if r["redeemed"] == "online"),
            "store": sum(r["n"] for r in mine if r["redeemed"] == "store"),
            "total": sum(r["n"] for r in mine),
            "discount": _sum(mine, "discount", ZERO),
        })  # fmt: skip
    total = {"collected": _("Total"), **{k: _sum(out, k) for k in ("online", "store", "total")}}
    total["discount"] = _sum(out, "discount", ZERO)
    return Figure(
        "coupon_flows",
        _("Coupons: where collected, where redeemed"),
        [
            Column("collected", _("Collected")),
            Column("online", _("Redeemed online"), "int"),
            Column("store", _("Redeemed in a store"), "int"),
            Column("total", _("Redemptions"), "int"),
            Column("discount", _("Discount given"), "money"),
        ],
        out,
        chart={"type": "bar", "x": "collected", "series": ["online", "store"], "stacked": True},
        note=_(
            "Coupon redemptions in the period, not given back. Collected online and redeemed in a store: "
            "online traffic brought into stores. Redeemed in a store: at the POS; a web order picked up "
            "in a store counts as online."
        ),
        total=total,
    )


def coupon_store_figure(rows: list[dict], names: dict, filters: Filters) -> Figure:
    by_store: dict = {}

    def row(store):
        return by_store.setdefault(
            store, {"name": names.get(store, _("Store not known")), "in": 0, "in_discount": ZERO, "out": 0}
        )

    for r in rows:
        if (r["collected"], r["redeemed"]) == ("online", "store"):
            into = row(r["store_id"])
            into["in"] += r["n"]
            into["in_discount"] += r["discount"]
        elif (r["collected"], r["redeemed"]) == ("store", "online"):
            row(r["collect_store"])["out"] += r["n"]
    if filters.store_ids is not None:
        by_store = {k: v for k, v in by_store.items() if k in filters.store_ids}
    out = _by_name(list(by_store.values()), "in")
    total = {"name": _("Total"), "in": _sum(out, "in"), "in_discount": _sum(out, "in_discount", ZERO),
             "out": _sum(out, "out")}  # fmt: skip
    return Figure(
        "coupon_flows_by_store",
        _("Coupons across channels by store"),
        [
            Column("name", _("Store")),
            Column("in", _("Collected online, redeemed here"), "int"),
            Column("in_discount", _("Their discount"), "money"),
            Column("out", _("Collected here, redeemed online"), "int"),
        ],
        out,
        chart={"type": "bar", "x": "name", "series": ["in", "out"], "horizontal": True, "limit": 25},
        note=_(
            "By the store that redeemed an online coupon, and by the store where a coupon used online was collected."
        ),
        total=total,
    )
