"""Four months of demo orders of 青禾服飾 in every channel: counter sales at the five stores, web, app and
Shopee deliveries, pickups in store (one collected in two batches, 分批取貨), pickups waiting for a
transfer from the warehouse (two still in transit, one arrived), ship-from-store (門市出貨), endless
aisle (a clerk's sale shipped from the warehouse), a few unpaid and cancelled orders, and returns (a
web order returned in a store, partial returns, one to store credit).

Every order goes through the orders and inventory services, so stock, reservations, points, coupons,
purchases, tiers and the outbox hold together exactly as in production. The steps run in the order of
their demo dates; afterwards every row they wrote is moved from "now" to its demo date with bulk
updates (the stock movement ledger is append-only in the database and keeps the real posting time).

Deterministic (seeded generators; the services' own pickup codes and gateway references are random)
and idempotent: orders carry the idempotency keys ``demo-order-NNN``; a second run finds them and adds
nothing.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.apps import apps
from django.conf import settings
from django.db import connection, models
from django.db.models import Exists, OuterRef
from django.utils import timezone

from catalog.models import Variant
from inventory import services as stock
from inventory.models import StockLevel, StockMovement, Transfer
from inventory.selectors import ATP
from members.models import Coupon, CouponRedemption, Member, PointsEntry, PointsLot, Purchase, WalletCoupon
from members.services import default_points_expiry
from omo.org.models import Location, SalesChannel, StaffProfile
from omo.org.roles import Role
from orders import services as orders
from orders.models import Order, OrderAllocation

KEY = "demo-order-"
WINDOW_DAYS = 120  # orders over the last four months
MEMBERS = 90  # demo members who order (picked from those with no activity in the window)
COUNTER_SALES = 30
DELIVERIES = {"WEB": 8, "APP": 7, "SHOPEE": 4}
PICKUPS = 5
POS_TENDERS = [("cash", 40), ("card", 35), ("line_pay", 15), ("jko_pay", 10)]
ONLINE_TENDERS = [("card", 60), ("line_pay", 25), ("jko_pay", 15)]
STREETS = [
    ("台北市", "大安區復興南路一段", "106"),
    ("台北市", "中山區南京東路二段", "104"),
    ("新北市", "板橋區文化路一段", "220"),
    ("桃園市", "中壢區中正路", "320"),
    ("新竹市", "東區光復路二段", "300"),
    ("台中市", "西屯區台灣大道三段", "407"),
    ("台南市", "東區長榮路二段", "701"),
    ("高雄市", "苓雅區四維三路", "802"),
]
GUESTS = ["王小明", "李佳穎", "陳建宏", "林怡君", "張雅雯", "黃志豪", "吳宛蓉", "劉家銘"]


@dataclass
class _Script:
    """One demo order: its steps at their demo times, run in time order with every other order's."""

    key: str
    steps: list[tuple[datetime, Callable[[_Script], None]]] = field(default_factory=list)
    order: Order | None = None
    returns: int = 0

    def then(self, at: datetime, step: Callable[[_Script], None]) -> _Script:
        assert not self.steps or at > self.steps[-1][0], "a script's steps run in time order"
        self.steps.append((at, step))
        return self


class _Planner:
    def __init__(self, now: datetime):
        self.now = now
        self.today = timezone.localdate(now)
        self.since = _local(self.today - timedelta(days=WINDOW_DAYS), 0, 0)
        self.rng = random.Random("orders|demo")  # noqa: S311 - demo data, not security
        self.channels = {c.code: c for c in SalesChannel.objects.filter(code__in=["POS", "WEB", "APP", "SHOPEE"])}
        self.stores = list(Location.objects.filter(kind=Location.Kind.STORE).order_by("code"))
        self.warehouses = {w.pk: w for w in Location.objects.filter(kind=Location.Kind.WAREHOUSE)}
        self.main_warehouse = next(w for w in self.warehouses.values() if w.code == "WH-EC")
        self.staff: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for profile in StaffProfile.objects.filter(home_store__in=self.stores).select_related("user"):
            role = Role.STORE_MANAGER if profile.user.username.endswith(".manager") else Role.CLERK
            self.staff[profile.home_store_id][role].append(profile.user)
        for people in self.staff.values():
            for users in people.values():
                users.sort(key=lambda u: u.username)
        self.variants = list(Variant.objects.select_related("product").order_by("sku"))
        self.atp = {
            (v, loc): atp
            for v, loc, atp in StockLevel.objects.annotate(atp=ATP).values_list("variant_id", "location_id", "atp")
        }
        self.kept_back: set[int] = set()  # SKUs of the transfer pickups: no other order touches them
        self.members = self._members()
        self.points = {m.pk: m.points_balance for m in self.members}
        welcome = Coupon.objects.filter(code="WELCOME100").first()
        self.welcome_holders = (
            set(
                WalletCoupon.objects.filter(coupon=welcome, member__in=self.members)
                .exclude(member__in=CouponRedemption.objects.filter(coupon=welcome).values("member"))
                .values_list("member_id", flat=True)
            )
            if welcome
            else set()
        )
        self.scripts: list[_Script] = []

    def _members(self) -> list[Member]:
        """Members who joined before the window, were not referred and did nothing in it (no purchase,
        points or coupon since), so their orders extend their history in time order."""
        after = {"member": OuterRef("pk")}
        quiet = (
            Member.objects.filter(
                status=Member.Status.ACTIVE, referred_by=None, created_at__lt=self.since - timedelta(days=30)
            )
            .exclude(Exists(Purchase.objects.filter(**after, paid_at__gte=self.since)))
            .exclude(Exists(PointsEntry.objects.filter(**after, created_at__gte=self.since)))
            .exclude(Exists(WalletCoupon.objects.filter(**after, collected_at__gte=self.since)))
            .order_by("member_no")
        )
        pool = list(quiet)
        savers = [m for m in pool if m.points_balance >= 100][:10]  # some pay partly with points
        others = [m for m in pool if m not in savers]
        chosen = savers + self.rng.sample(others, min(MEMBERS - len(savers), len(others)))
        return sorted(chosen, key=lambda m: m.member_no)

    # --- choices -------------------------------------------------------------------------------------

    def script(self) -> _Script:
        script = _Script(key=f"{KEY}{len(self.scripts) + 1:03d}")
        self.scripts.append(script)
        return script

    def day(self, *, earliest: int = WINDOW_DAYS, latest: int = 1) -> datetime:
        """A shopping time ``latest`` to ``earliest`` days ago, more of them lately."""
        days = latest + int((earliest - latest) * self.rng.random() ** 1.3)
        return _local(self.today - timedelta(days=days), self.rng.randint(10, 20), self.rng.randrange(60))

    def member(self, share: float = 0.7) -> Member | None:
        return self.rng.choice(self.members) if self.rng.random() < share else None

    def clerk(self, store: Location, role: str = Role.CLERK):
        return self.rng.choice(self.staff[store.pk][role])

    def lines(self, location: Location, *, count: int | None = None, missing_at: Location | None = None, lots=True):
        """``count`` SKUs (1-3) held at ``location`` (and, with ``missing_at``, not carried there), 1 or 2
        of each; what they take is no longer available to later choices."""
        count = count or self.rng.choice([1, 1, 1, 2, 2, 3])
        chosen = []
        candidates = [
            v
            for v in self.variants
            if v.pk not in self.kept_back
            and (lots or not v.product.tracks_lots)
            and (missing_at is None or self.atp.get((v.pk, missing_at.pk), 0) == 0)
        ]
        for variant in self.rng.sample(candidates, len(candidates)):
            quantity = 1 if self.rng.random() < 0.8 else 2
            if self.atp.get((variant.pk, location.pk), 0) >= quantity + 1:  # one left on the shelf
                self.atp[(variant.pk, location.pk)] -= quantity
                chosen.append((variant, quantity))
                if len(chosen) == count:
                    return chosen
        raise RuntimeError(f"the demo stock at {location.code} ran out")

    def address(self, member: Member | None) -> dict:
        city, street, postcode = self.rng.choice(STREETS)
        name = member.name if member else self.rng.choice(GUESTS)
        phone = f"09{member.phone[5:]}" if member and member.phone else f"09{self.rng.randrange(10**8):08d}"
        number = f"{self.rng.randint(1, 300)}號{self.rng.randint(2, 15)}樓"
        return {"name": name, "phone": phone, "address": f"{city}{street}{number}", "postcode": postcode, "city": city}

    def tenders(self, weighted, total_split: bool = False) -> list[dict]:
        tender = self.rng.choices([t for t, _w in weighted], weights=[w for _t, w in weighted])[0]
        if total_split and self.rng.random() < 0.1:
            return [{"tender": "cash", "amount": "200"}, {"tender": "card"}]  # part cash, the rest by card
        return [{"tender": tender}]

    def saver(self) -> Member:
        """A member holding 100 points or more (to redeem some)."""
        return self.rng.choice([m for m in self.members if self.points[m.pk] >= 100])

    def points_for(self, member: Member | None) -> int:
        """Points a member holding 100 or more redeems on this order (never more than they hold)."""
        if member is None or self.points[member.pk] < 100:
            return 0
        points = self.rng.choice([p for p in (50, 100, 200) if p <= self.points[member.pk]])
        self.points[member.pk] -= points
        return points

    def coupon_for(self, member: Member | None, lines) -> str:
        """WELCOME100 (NT$100 off NT$1,000) on a holder's first big enough order."""
        if member is None or member.pk not in self.welcome_holders:
            return ""
        if sum(v.prices.get(channel=self.channels["WEB"]).price * q for v, q in lines) < 1200:
            return ""
        self.welcome_holders.discard(member.pk)
        return "WELCOME100"

    def tracking(self) -> str:
        return f"TW{self.rng.randrange(10**10):010d}"


def _local(day, hour: int, minute: int) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def _skus(lines) -> list[tuple[str, int]]:
    return [(variant.sku, quantity) for variant, quantity in lines]


# --- the steps ----------------------------------------------------------------------------------------


def _place(**kwargs) -> Callable[[_Script], None]:
    def step(script: _Script) -> None:
        script.order = orders.order_place(idempotency_key=script.key, **kwargs)

    return step


def _pay(tenders: list[dict], *, actor=None, channel=None) -> Callable[[_Script], None]:
    def step(script: _Script) -> None:
        orders.order_pay(
            order=script.order, tenders=tenders, actor=actor, channel=channel, idempotency_key=f"{script.key}-pay"
        )

    return step


def _ship(tracking: str, *, actor=None) -> Callable[[_Script], None]:
    """Ships all the order holds, from each location that holds part of it."""

    def step(script: _Script) -> None:
        locations = (
            OrderAllocation.objects.filter(line__order=script.order, transfer=None)
            .order_by("location__code")
            .values_list("location", flat=True)
            .distinct()
        )
        for n, location in enumerate(Location.objects.filter(pk__in=list(locations)).order_by("code")):
            orders.order_ship(order=script.order, location=location, tracking=f"{tracking}-{n + 1}", actor=actor)

    return step


def _pickup(actor, *, first_batch: bool = False) -> Callable[[_Script], None]:
    """Hands over what is left, or (``first_batch``) one unit of each line: 分批取貨."""

    def step(script: _Script) -> None:
        quantities = None
        if first_batch:
            quantities = {line.pk: 1 for line in script.order.lines.order_by("pk")}
        orders.order_pickup(
            order=script.order, actor=actor, quantities=quantities, pickup_code=script.order.pickup_code
        )

    return step


def _transfer(action: str, actor=None) -> Callable[[_Script], None]:
    def step(script: _Script) -> None:
        transfer = Transfer.objects.get(reservation_reference__startswith=f"{script.order.number}:T")
        if action == "ship":
            stock.transfer_ship(transfer=transfer, actor=actor)
        else:
            stock.transfer_receive(transfer=transfer, actor=actor)

    return step


def _cancel(reason: str, *, actor=None, channel=None) -> Callable[[_Script], None]:
    def step(script: _Script) -> None:
        orders.order_cancel(order=script.order, actor=actor, channel=channel, reason=reason)

    return step


def _return(which: list[tuple[int, int]], *, channel, store=None, location=None, disposition="restock", **kwargs):
    """Takes back ``which`` ([(line index, quantity)]) of the order."""

    def step(script: _Script) -> None:
        lines = list(script.order.lines.order_by("pk"))
        script.returns += 1
        orders.return_create(
            order=script.order,
            lines=[
                {"line": lines[i].pk, "quantity": q, "location": location or store, "disposition": disposition}
                for i, q in which
            ],
            channel=channel,
            store=store,
            idempotency_key=f"{script.key}-return-{script.returns}",
            **kwargs,
        )

    return step


# --- the plan -----------------------------------------------------------------------------------------


def _plan(p: _Planner) -> None:
    """Every demo order with its steps. The SKUs a pickup waits for are chosen first and kept back, so
    nothing else (a sale, a return) changes what those stores hold of them."""
    ch = p.channels
    minute, hour, day = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)

    # Pickups at a store that lacks the SKU: the warehouse sends it (two collected, two on the road, one
    # arrived).
    for n, (ago, stage) in enumerate(
        [(85, "done"), (30, "done"), (2, "in_transit"), (1, "in_transit"), (4, "arrived")]
    ):
        store = p.stores[(n + 1) % len(p.stores)]
        warehouse = p.warehouses[store.supplying_warehouse_id]
        member = p.rng.choice(p.members)
        lines = p.lines(warehouse, count=1, missing_at=store)
        p.kept_back.update(v.pk for v, _q in lines)
        channel = ch["APP"] if n % 2 else ch["WEB"]
        at = _local(p.today - timedelta(days=ago), 9 + n, 15)
        script = p.script().then(
            at, _place(channel=channel, fulfilment="pickup", store=store, member=member, lines=_skus(lines))
        )
        script.then(at + 2 * minute, _pay(p.tenders(ONLINE_TENDERS), channel=channel))
        script.then(at + 5 * hour, _transfer("ship"))
        if stage != "in_transit":
            script.then(at + day, _transfer("receive", p.clerk(store, Role.STORE_MANAGER)))
        if stage == "done":
            script.then(at + 2 * day + 3 * hour, _pickup(p.clerk(store)))

    # Counter sales at the stores, most of them by members.
    for n in range(COUNTER_SALES):
        store = p.rng.choice(p.stores)
        clerk = p.clerk(store)
        member = p.saver() if n % 6 == 0 else p.member()  # every sixth pays partly with points
        at = p.day()
        lines = p.lines(store)
        script = p.script().then(
            at,
            _place(
                channel=ch["POS"],
                fulfilment="counter",
                store=store,
                clerk=clerk,
                actor=clerk,
                member=member,
                points=p.points_for(member) if n % 6 == 0 else 0,
                lines=_skus(lines),
            ),
        )
        script.then(at + 2 * minute, _pay(p.tenders(POS_TENDERS, total_split=True), actor=clerk))

    # Deliveries from the warehouses (the last two of the web still waiting to be shipped).
    for code, count in DELIVERIES.items():
        for n in range(count):
            member = (p.saver() if n == 0 else p.member(0.85)) if code != "SHOPEE" else None
            recent = code == "WEB" and n >= count - 2
            at = _local(p.today, 8 + n, 30) if recent else p.day(latest=2)
            at = min(at, p.now - 3 * hour)
            lines = p.lines(p.main_warehouse, lots=code != "SHOPEE")
            points = p.points_for(member) if n == 0 else 0
            script = p.script().then(
                at,
                _place(
                    channel=ch[code],
                    fulfilment="ship",
                    member=member,
                    shipping_address=p.address(member),
                    coupon_code=p.coupon_for(member, lines) if not points else "",
                    points=points,
                    lines=_skus(lines),
                ),
            )
            script.then(at + 3 * minute, _pay(p.tenders(ONLINE_TENDERS), channel=ch[code]))
            if not recent:
                script.then(at + day + 2 * hour, _ship(p.tracking()))

    # Pickups of what the store holds: collected, one in two batches, two waiting on the shelf.
    for n in range(PICKUPS + 3):
        store = p.stores[n % len(p.stores)]
        member = p.rng.choice(p.members)
        batches = n == PICKUPS
        waiting = n > PICKUPS
        lines = p.lines(store, count=2) if batches else p.lines(store, count=1)
        if batches:
            lines = [(v, 2) for v, _q in lines]
            for v, _q in lines:
                p.atp[(v.pk, store.pk)] -= 1
        channel = ch["APP"] if n % 3 else ch["WEB"]
        at = _local(p.today - timedelta(days=n - PICKUPS), 11, 5) if waiting else p.day(latest=10)
        script = p.script().then(
            at, _place(channel=channel, fulfilment="pickup", store=store, member=member, lines=_skus(lines))
        )
        script.then(at + 2 * minute, _pay(p.tenders(ONLINE_TENDERS), channel=channel))
        if batches:
            script.then(at + day, _pickup(p.clerk(store), first_batch=True))
            script.then(at + 3 * day, _pickup(p.clerk(store)))
        elif not waiting:
            script.then(at + p.rng.randint(1, 4) * day, _pickup(p.clerk(store)))

    # Ship-from-store (門市出貨): web orders a store packs and ships.
    for n in range(3):
        store = p.stores[(n * 2) % len(p.stores)]
        member = p.member(0.9)
        lines = p.lines(store, count=1)
        at = p.day(latest=3)
        script = p.script().then(
            at,
            _place(
                channel=ch["WEB"],
                fulfilment="ship",
                source=store,
                member=member,
                shipping_address=p.address(member),
                lines=_skus(lines),
            ),
        )
        script.then(at + 3 * minute, _pay(p.tenders(ONLINE_TENDERS), channel=ch["WEB"]))
        script.then(at + day, _ship(p.tracking(), actor=p.clerk(store)))

    # Endless aisle: the store does not carry it, the clerk sells it and the warehouse ships it.
    for n in range(3):
        store = p.stores[(n * 3 + 1) % len(p.stores)]
        warehouse = p.warehouses[store.supplying_warehouse_id]
        clerk = p.clerk(store)
        member = p.rng.choice(p.members)
        lines = p.lines(warehouse, count=1, missing_at=store)
        at = p.day(latest=3)
        script = p.script().then(
            at,
            _place(
                channel=ch["POS"],
                fulfilment="ship",
                store=store,
                clerk=clerk,
                actor=clerk,
                source=warehouse,
                member=member,
                shipping_address=p.address(member),
                lines=_skus(lines),
            ),
        )
        script.then(at + 4 * minute, _pay(p.tenders(POS_TENDERS), actor=clerk))
        script.then(at + day + 4 * hour, _ship(p.tracking()))

    # Cancelled: two never paid, one paid and cancelled before it left, one pickup with its transfer.
    for n in range(2):
        member = p.member(1)
        at = p.day(latest=5)
        lines = p.lines(p.main_warehouse)
        p.script().then(
            at,
            _place(
                channel=ch["APP"],
                fulfilment="ship",
                member=member,
                shipping_address=p.address(member),
                lines=_skus(lines),
            ),
        ).then(at + (12 + n * 5) * minute, _cancel("顧客取消訂單", channel=ch["APP"]))
    member = p.member(1)
    at = p.day(latest=5)
    lines = p.lines(p.main_warehouse, count=2)
    p.script().then(
        at,
        _place(
            channel=ch["WEB"], fulfilment="ship", member=member, shipping_address=p.address(member), lines=_skus(lines)
        ),
    ).then(at + 3 * minute, _pay([{"tender": "card"}], channel=ch["WEB"])).then(
        at + 2 * hour, _cancel("顧客改買其他尺寸", channel=ch["WEB"])
    )
    store = p.stores[2]
    lines = p.lines(p.warehouses[store.supplying_warehouse_id], count=1, missing_at=store)
    p.kept_back.update(v.pk for v, _q in lines)
    at = p.day(latest=5)
    p.script().then(
        at, _place(channel=ch["WEB"], fulfilment="pickup", store=store, member=p.member(1), lines=_skus(lines))
    ).then(at + 30 * minute, _cancel("顧客取消訂單", channel=ch["WEB"]))

    # Returns: web orders brought back to a store (one whole, one in part then the rest), a counter
    # sale returned in part to store credit, an app order sent back to the warehouse, a damaged one.
    for n in range(2):
        store = p.stores[n + 2]
        member = p.member(1)
        lines = p.lines(p.main_warehouse, count=2, lots=False)  # apparel (lots: tests/orders/test_seed_findings.py)
        at = p.day(earliest=100, latest=20)
        script = p.script().then(
            at,
            _place(
                channel=ch["WEB"],
                fulfilment="ship",
                member=member,
                shipping_address=p.address(member),
                lines=_skus(lines),
            ),
        )
        script.then(at + 3 * minute, _pay(p.tenders(ONLINE_TENDERS), channel=ch["WEB"]))
        script.then(at + day, _ship(p.tracking()))
        clerk = p.clerk(store)
        everything = [(i, q) for i, (_v, q) in enumerate(lines)]
        if n == 0:
            script.then(
                at + 6 * day, _return(everything, channel=ch["POS"], store=store, actor=clerk, reason="尺寸不合")
            )
        else:
            script.then(
                at + 5 * day,
                _return(everything[:1], channel=ch["POS"], store=store, actor=clerk, reason="顏色與網頁不同"),
            )
            script.then(
                at + 9 * day, _return(everything[1:], channel=ch["POS"], store=store, actor=clerk, reason="不喜歡")
            )
    for n in range(3):
        store = p.stores[n]
        clerk = p.clerk(store)
        member = p.member(1)
        lines = p.lines(store, count=2, lots=False)
        at = p.day(earliest=90, latest=15)
        script = p.script().then(
            at,
            _place(
                channel=ch["POS"],
                fulfilment="counter",
                store=store,
                clerk=clerk,
                actor=clerk,
                member=member,
                lines=_skus(lines),
            ),
        )
        script.then(at + 2 * minute, _pay(p.tenders(POS_TENDERS), actor=clerk))
        script.then(
            at + (3 + n) * day,
            _return(
                [(0, 1)],
                channel=ch["POS"],
                store=store,
                actor=clerk,
                refund_to="store_credit" if n == 0 else "original",
                reason="瑕疵" if n == 2 else "換季不需要",
                disposition="damaged" if n == 2 else "restock",
            ),
        )
    member = p.member(1)
    lines = p.lines(p.main_warehouse, count=2, lots=False)
    at = p.day(earliest=60, latest=20)
    script = p.script().then(
        at,
        _place(
            channel=ch["APP"], fulfilment="ship", member=member, shipping_address=p.address(member), lines=_skus(lines)
        ),
    )
    script.then(at + 3 * minute, _pay([{"tender": "line_pay"}], channel=ch["APP"]))
    script.then(at + day, _ship(p.tracking()))
    script.then(at + 8 * day, _return([(1, 1)], channel=ch["APP"], location=p.main_warehouse, reason="寄回退貨"))

    # Unpaid: placed in the last minutes, waiting for the customer to pay.
    for n in range(3):
        member = p.member(1)
        lines = p.lines(p.main_warehouse)
        code = ["WEB", "APP", "WEB"][n]
        p.script().then(
            p.now - timedelta(minutes=10 - n * 4),
            _place(
                channel=ch[code],
                fulfilment="ship",
                member=member,
                shipping_address=p.address(member),
                lines=_skus(lines),
            ),
        )


# --- running and dating -------------------------------------------------------------------------------


def seed_orders(result) -> None:
    if Order.objects.filter(idempotency_key__startswith=KEY).exists():
        return
    planner = _Planner(timezone.now())
    if not planner.members or not planner.channels:
        return
    _plan(planner)
    steps = sorted(
        (at, i, j, script, step)
        for i, script in enumerate(planner.scripts)
        for j, (at, step) in enumerate(script.steps)
    )
    last_lot = PointsLot.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    clock: list[tuple[datetime, datetime]] = []  # (when the step ran, its demo time)
    for at, _i, _j, script, step in steps:
        clock.append((timezone.now(), at))
        step(script)
    _backdate(clock, timezone.now())
    lots = list(PointsLot.objects.filter(pk__gt=last_lot).only("pk", "created_at", "expires_on"))
    for lot in lots:  # as if earned on the demo day
        lot.expires_on = default_points_expiry(timezone.localdate(lot.created_at))
    PointsLot.objects.bulk_update(lots, ["expires_on"], batch_size=500)  # a few dozen
    result.count("orders", len(planner.scripts))
    result.count("returns", sum(s.returns for s in planner.scripts))


def _backdate(clock: list[tuple[datetime, datetime]], ended: datetime) -> None:
    """Moves every timestamp written while the steps ran to the demo time of the step that wrote it
    (keeping the order of events: a step starts no earlier than the previous one plus its run time).
    A later time in such a row (an order's pay-by) moves with the row. The stock movement ledger is
    append-only in the database and keeps the real posting times."""
    started = clock[0][0]
    reals, fakes = [], []
    for real, fake in clock:
        if fakes:
            fake = max(fake, fakes[-1] + (real - reals[-1]))
        reals.append(real)
        fakes.append(fake)

    def moved(value: datetime) -> datetime:
        k = bisect_right(reals, value) - 1
        return fakes[k] + (value - reals[k])

    root = str(settings.BASE_DIR)
    for model in apps.get_models():
        if not model._meta.app_config.path.startswith(root) or model is StockMovement:
            continue
        if model._meta.app_label == "audit":  # the audit trail is append-only: it keeps the real times
            continue
        fields = [f for f in model._meta.local_concrete_fields if isinstance(f, models.DateTimeField)]
        if not fields:
            continue
        names = [f.attname for f in fields]
        touched = models.Q()
        for name in names:
            touched |= models.Q(**{f"{name}__range": (started, ended)})
        rows = []
        for pk, *values in model.objects.filter(touched).values_list("pk", *names):
            anchor = next(v for v in values if v is not None and started <= v <= ended)
            shift = moved(anchor) - anchor
            rows.append(
                [pk]
                + [
                    None if v is None else moved(v) if started <= v <= ended else v + shift if v > ended else v
                    for v in values
                ]
            )
        _update(model, fields, rows)


def _update(model, fields: list[models.Field], rows: list[list]) -> None:
    """``UPDATE ... FROM (VALUES ...)``: one statement per 500 rows, whatever their values (PostgreSQL,
    SQLite 3.33+); ``bulk_update`` builds a CASE per row and field, which costs more than the seed's
    orders themselves."""
    qn = connection.ops.quote_name
    table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
    value = "CAST(%s AS timestamp with time zone)" if connection.vendor == "postgresql" else "%s"
    row_sql = "(%s, " + ", ".join([value] * len(fields)) + ")"
    sets = ", ".join(f"{qn(f.column)} = v.column{i + 2}" for i, f in enumerate(fields))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            batch = rows[start : start + 500]
            params = [
                p
                for row in batch
                for p in [row[0], *(f.get_db_prep_value(v, connection) for f, v in zip(fields, row[1:], strict=True))]
            ]
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([row_sql] * len(batch))}) AS v "  # noqa: S608
                f"WHERE {table}.{pk} = v.column1",
                params,
            )
