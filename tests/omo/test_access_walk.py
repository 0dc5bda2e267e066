"""Every registered URL, requested by every kind of caller, against two stores' data.

The walk reads ``get_resolver().url_patterns`` (the admin's model pages included), fills each pattern's
parameters with real rows of store A and of store B, and requests it as: nobody, a clerk and the store
manager of store A, and each HQ role. It checks that

- nobody (not logged in) never gets a staff page or API answer: a redirect to a log-in, 401 or 403;
- store A's staff get 404 (or 403 where their role may not use the endpoint at all) for store B's
  rows, and store B's data never shows in what they can open (looked for by markers only store B's
  rows carry: order and return numbers, the till's name, staff log-ins, ...);
- no URL answers 500 to anyone.

Every pattern must be classified in ``RULES`` (or be a standard admin model page): a new URL fails the
test until someone decides who may open it and what its parameters are. Deliberately unscoped URLs
(the catalog and stock availability are brand-wide: a clerk sells the whole range and looks up stock
in other stores) are marked ``BRAND`` with the reason.

A second walk posts store B's id to every endpoint that takes a store, location or register and checks
that it is refused with a code and that nothing was created; its list is checked for completeness
against the input serializers of every API view the same way.
"""

from __future__ import annotations

import re
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework import serializers

from attribution import services as attribution
from attribution import settlement
from attribution.models import Binding, SettlementAdjustment
from inventory import services as inventory
from inventory.models import GoodsReceipt, Reservation, StockCount, Transfer
from marketing import engagement
from marketing.models import StoreEvent
from members import services as member_services
from omo.dashboard.models import TrafficCount
from omo.dashboard.pages import PAGE_KEYS
from omo.dashboard.services import traffic_record
from omo.org.models import Location
from omo.org.roles import Role
from orders import services as orders
from orders.models import Order, Return
from pos import services as pos
from pos.models import Register, Shift
from tests.factories import make_staff
from tests.inventory.conftest import receive
from tests.orders.conftest import fake_gateway, shop  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "clerk_a", "manager_a", "hq_admin", "hq_merchandiser", "hq_crm", "hq_finance")
STORE_ROLES = ("clerk_a", "manager_a")
HQ_ROLE_NAMES = ("hq_admin", "hq_merchandiser", "hq_crm", "hq_finance")
TAG = "QX7"
# The admin's add, delete and history pages are checked with the permissions they share with the change
# page: walked fully as the HQ admin, and skipped for the other HQ roles to keep the walk short.
LIGHT_ADMIN_ROLES = ("hq_merchandiser", "hq_crm", "hq_finance")
SECONDARY_ADMIN_PAGE = re.compile(
    r"/(?:add|delete|history)/$"
)  # in the names of store B's rows, so a leak is easy to spot


# --- the data: one of each per store ----------------------------------------------------------------


@dataclass
class StoreRows:
    store: Location
    clerk: object
    manager: object
    member: object
    register: Register
    shift: Shift
    sale: Order
    pickup: Order
    ret: Return
    transfer: Transfer
    binding: Binding
    event: StoreEvent
    receipt: GoodsReceipt
    count: StockCount


@dataclass
class World:
    shop: object
    a: StoreRows
    b: StoreRows
    users: dict
    month: str
    policy_version: int
    policy_pk: int
    segment_pk: int
    campaign_pk: int
    private_b: list[str] = field(default_factory=list)  # store B's own data: never shown to store A
    store_b: list[str] = field(default_factory=list)  # store B's code and name: not on scoped pages


def _store_rows(the_shop, store, clerk, manager, hq, phone: str, tag: str) -> StoreRows:
    member = member_services.member_register(phone=phone, name=f"Member {tag}").member
    for variant in (the_shop.tee, the_shop.jeans, the_shop.cap):
        receive(store, variant, 10)
    register = pos.register_create(actor=None, store=store, code=f"T{tag}"[:10], name=f"Till {tag}")
    shift = pos.shift_open(actor=clerk, register=register, opening_cash=Decimal(0))
    sale = orders.order_place(
        channel=the_shop.pos, lines=[("TEE-M", 2)], fulfilment="counter", member=member, store=store, clerk=clerk
    )
    orders.order_pay(order=sale, tenders=[{"tender": "cash"}])
    pickup = orders.order_place(
        channel=the_shop.web, lines=[("CAP-M", 1)], fulfilment="pickup", store=store, member=member
    )
    orders.order_pay(order=pickup, tenders=[{"tender": "card", "token": "tok_visa"}])
    line = sale.lines.get()
    ret = orders.return_create(
        order=sale,
        lines=[{"line": line.pk, "quantity": 1, "disposition": "restock", "location": store}],
        channel=the_shop.pos,
        store=store,
        reason=f"return {tag}",
    )
    transfer = inventory.transfer_request(
        origin=the_shop.warehouse, destination=store, lines=[(the_shop.jeans, 1)], actor=None, note=f"transfer {tag}"
    )
    binding = attribution.binding_record(
        member=member, clerk=clerk, store=store, source="line_chat", note=f"chat {tag}"
    )
    now = timezone.now()
    event = engagement.event_create(
        actor=hq,
        name=f"Event {tag}",
        starts_at=now + timedelta(minutes=30),
        ends_at=now + timedelta(hours=2),
        store=store,
    )
    receipt = GoodsReceipt.objects.filter(location=store).order_by("pk").first()
    count = inventory.stock_count_start(location=store, actor=None, note=f"count {tag}")
    traffic_record(
        rows=[{"store": store.code, "day": timezone.localdate().isoformat(), "hour": 10, "visits": 7}],
        source="api",
        actor=None,
    )
    return StoreRows(
        store, clerk, manager, member, register, shift, sale, pickup, ret, transfer, binding, event, receipt, count
    )


def build_world(the_shop, users) -> World:
    from marketing.campaigns import campaign_create
    from marketing.services import segment_create

    hq = users["hq_admin"]
    draft = attribution.policy_create(
        actor=hq,
        name="Walk",
        validity_days={"pos_sale": 30, "qr_registration": 90, "referral_link": 7, "line_chat": 30, "hq_manual": 180},
        conflict="latest",
        default_rate="0.05",
        store_share="0.4",
        lockup_days=7,
    )
    policy = attribution.policy_adopt(actor=hq, policy=draft)
    a = _store_rows(the_shop, the_shop.store_a, users["clerk_a"], users["manager_a"], hq, "0911000001", "A")
    b = _store_rows(the_shop, the_shop.store_b, users["clerk_b"], users["manager_b"], hq, "0911000002", TAG)
    month = timezone.localdate().replace(day=1)
    period = settlement.settlement_build(month=month)
    for rows in (a, b):
        attribution.order_attribute(order=rows.sale)
        settlement.settlement_adjust(
            actor=users["hq_finance"], period=period, store=rows.store, amount="10", reason=f"adjust {rows.store.code}"
        )
    segment = segment_create(actor=hq, name="Walkers", rules={"stores": [the_shop.store_a.code]})
    campaign = campaign_create(actor=hq, name="Walk campaign", segment=segment, channel="sms", message="Hi {name}")
    world = World(
        shop=the_shop,
        a=a,
        b=b,
        users=users,
        month=month.strftime("%Y-%m"),
        policy_version=policy.version,
        policy_pk=policy.pk,
        segment_pk=segment.pk,
        campaign_pk=campaign.pk,
    )
    world.private_b = [
        b.sale.number,
        b.pickup.number,
        b.ret.number,
        b.register.name,
        f"transfer {TAG}",
        f"count {TAG}",
        f"chat {TAG}",
        users["clerk_b"].username,
        users["manager_b"].username,
        users["clerk_b"].staff_profile.employee_code,
        users["manager_b"].staff_profile.employee_code,
    ]
    world.store_b = [the_shop.store_b.code, the_shop.store_b.name]
    return world


# --- what each URL is -------------------------------------------------------------------------------

PUBLIC = "public"  # anyone, logged in or not (health checks, the log-in page, the API's documentation)
STAFF = "staff"  # staff only, store-scoped: store B's rows are 404 and never listed for store A
BRAND = "brand"  # staff only, brand-wide by decision (see the reason): store B's code and name may show
HQ = "hq"  # HQ roles only: a store role gets 403 (or 404)
FRONTEND = "frontend"  # a channel's API key (and a member's token): staff and nobody get 401/403
ADMIN = "admin"  # the HQ admin site: nobody and store roles are sent to its log-in


@dataclass(frozen=True)
class Rule:
    access: str
    fill: Callable | None = None  # world -> [(owner, {param: value}, query)]; owner "a", "b" or "-"
    post: bool = False  # an action: store A's staff POST ``body`` to store B's row (others GET)
    body: dict | None = None
    why: str = ""  # for BRAND and other deliberate exceptions
    once: bool = False  # the same for everyone and slow (the schema: 6 s): requested anonymously only


def one(**params):
    return lambda w: [("-", params, "")]


def query(text: str):
    return lambda w: [("-", {}, text)]


def per_store(fn):
    """Store A's row and store B's row."""
    return lambda w: [("a", fn(w.a), ""), ("b", fn(w.b), "")]


def register_and(fn):
    """Store A's till with A's row, B's till with B's row, and A's own till with B's row."""
    return lambda w: [
        ("a", {"register_id": w.a.register.pk, "number": fn(w.a)}, ""),
        ("b", {"register_id": w.b.register.pk, "number": fn(w.b)}, ""),
        ("b", {"register_id": w.a.register.pk, "number": fn(w.b)}, ""),
    ]


def _shortcut(model, pk) -> dict:
    from django.contrib.contenttypes.models import ContentType

    return {"content_type_id": ContentType.objects.get_for_model(model).pk, "object_id": pk}


def dashboard_keys(w):
    return [("-", {"key": key}, "") for key in PAGE_KEYS]


REGISTER = per_store(lambda s: {"register_id": s.register.pk})
POS_POST = Rule(STAFF, REGISTER, post=True, body={})
MEMBER_NO = lambda w: [("-", {"member_no": w.shop.member.member_no}, "")]  # noqa: E731
ORDER_ROWS = lambda w: [  # noqa: E731
    (owner, {"number": order.number}, "") for owner, s in (("a", w.a), ("b", w.b)) for order in (s.sale, s.pickup)
]
ORDER_POST = Rule(STAFF, ORDER_ROWS, post=True, body={})
MEMBERS_ARE_BRAND_WIDE = "a member is one person in every store and channel (one points balance, one wallet)"

RULES: dict[str, Rule] = {
    "": Rule(PUBLIC, why="the front page links to the log-ins"),
    "healthz": Rule(PUBLIC, why="the load balancer's check; says nothing about data"),
    "healthz/live": Rule(PUBLIC, why="the process is alive"),
    "accounts/login/": Rule(PUBLIC),
    "accounts/logout/": Rule(PUBLIC),
    "i18n/setlang/": Rule(PUBLIC, why="the language switch"),
    "api/schema/": Rule(PUBLIC, once=True, why="the API's description (no data), for the frontends' developers"),
    "api/docs/": Rule(PUBLIC, why="the API's description (no data)"),
    "api/redoc/": Rule(PUBLIC, why="the API's description (no data)"),
    "api/v1/ping/": Rule(PUBLIC, why="the load test's no-database baseline"),
    # --- the POS pages
    "pos/": Rule(STAFF),
    "pos/r/<int:register_id>/": Rule(STAFF, REGISTER),
    "pos/r/<int:register_id>/shift/open/": POS_POST,
    "pos/r/<int:register_id>/scan/": POS_POST,
    "pos/r/<int:register_id>/qty/": POS_POST,
    "pos/r/<int:register_id>/member/": POS_POST,
    "pos/r/<int:register_id>/coupon/": POS_POST,
    "pos/r/<int:register_id>/signup/": POS_POST,
    "pos/r/<int:register_id>/switch/": POS_POST,
    "pos/r/<int:register_id>/pay/": POS_POST,
    "pos/r/<int:register_id>/void/": POS_POST,
    "pos/r/<int:register_id>/exchange/": POS_POST,
    "pos/r/<int:register_id>/receipt/<str:number>/": Rule(STAFF, register_and(lambda s: s.sale.number)),
    "pos/r/<int:register_id>/sales/": Rule(STAFF, REGISTER),
    "pos/r/<int:register_id>/pickups/": Rule(STAFF, REGISTER),
    "pos/r/<int:register_id>/pickups/<str:number>/": Rule(STAFF, register_and(lambda s: s.pickup.number)),
    "pos/r/<int:register_id>/returns/": Rule(STAFF, REGISTER),
    "pos/r/<int:register_id>/stock/": Rule(
        BRAND, REGISTER, why="stock lookup in other stores (endless aisle) shows every store's stock"
    ),
    "pos/r/<int:register_id>/transfers/": Rule(STAFF, REGISTER),
    "pos/r/<int:register_id>/me/": Rule(STAFF, REGISTER),
    "pos/r/<int:register_id>/me/qr/": Rule(STAFF, REGISTER),
    "pos/r/<int:register_id>/chat/": POS_POST,
    "pos/r/<int:register_id>/outreach/": Rule(STAFF, REGISTER),
    # --- the dashboard (HQ and store managers; a manager sees only their store)
    "dashboard/": Rule(STAFF),
    "dashboard/traffic/upload/": Rule(STAFF),
    "dashboard/<slug:key>/": Rule(STAFF, dashboard_keys),
    "api/v1/dashboard/traffic/": Rule(STAFF),
    "api/v1/dashboard/pages/<slug:key>/": Rule(STAFF, dashboard_keys),
    # --- organisation
    "api/v1/locations/": Rule(BRAND, why="every store and warehouse is listed to staff and frontends"),
    "api/v1/locations/<str:code>/": Rule(BRAND, lambda w: [("b", {"code": w.b.store.code}, "")], why="as above"),
    "api/v1/staff/": Rule(STAFF),
    "api/v1/staff/<str:employee_code>/": Rule(
        STAFF, per_store(lambda s: {"employee_code": s.clerk.staff_profile.employee_code})
    ),
    "api/v1/channel/": Rule(FRONTEND),
    "api/v1/pos/registers/": Rule(STAFF),
    "api/v1/pos/registers/<int:pk>/": Rule(STAFF, per_store(lambda s: {"pk": s.register.pk})),
    "api/v1/pos/registers/<int:pk>/shift/": Rule(STAFF, per_store(lambda s: {"pk": s.register.pk})),
    "api/v1/pos/shifts/<int:pk>/close/": Rule(
        STAFF, per_store(lambda s: {"pk": s.shift.pk}), post=True, body={"counted_cash": "0"}
    ),
    "api/v1/pos/shifts/<int:pk>/approve/": Rule(STAFF, per_store(lambda s: {"pk": s.shift.pk}), post=True, body={}),
    # --- catalog: one range for the whole brand
    "api/v1/catalog/categories/": Rule(BRAND, why="the catalog is brand-wide"),
    "api/v1/catalog/products/": Rule(BRAND, why="the catalog is brand-wide"),
    "api/v1/catalog/products/<str:style_code>/": Rule(BRAND, one(style_code="TEE"), why="the catalog is brand-wide"),
    # --- inventory
    "api/v1/inventory/availability/": Rule(
        BRAND, query("?sku=TEE-M&detail=1"), why="ATP in every store: endless aisle, pickup elsewhere"
    ),
    "api/v1/inventory/availability/cart/": Rule(BRAND, why="which stores can hand over a cart"),
    "api/v1/inventory/availability/<str:sku>/": Rule(BRAND, one(sku="TEE-M"), why="ATP in every store"),
    "api/v1/inventory/reservations/": Rule(STAFF, why="POST only; a line at store B is refused (creation walk)"),
    "api/v1/inventory/reservations/release/": Rule(STAFF, why="POST only; references are per caller"),
    "api/v1/inventory/stock/": Rule(STAFF),
    "api/v1/inventory/movements/": Rule(STAFF),
    "api/v1/inventory/transfers/": Rule(STAFF),
    "api/v1/inventory/transfers/<int:pk>/": Rule(STAFF, per_store(lambda s: {"pk": s.transfer.pk})),
    "api/v1/inventory/transfers/<int:pk>/approve/": Rule(
        STAFF, per_store(lambda s: {"pk": s.transfer.pk}), post=True, body={}
    ),
    "api/v1/inventory/transfers/<int:pk>/ship/": Rule(
        STAFF, per_store(lambda s: {"pk": s.transfer.pk}), post=True, body={}
    ),
    "api/v1/inventory/transfers/<int:pk>/receive/": Rule(
        STAFF, per_store(lambda s: {"pk": s.transfer.pk}), post=True, body={}
    ),
    "api/v1/inventory/transfers/<int:pk>/cancel/": Rule(
        STAFF, per_store(lambda s: {"pk": s.transfer.pk}), post=True, body={}
    ),
    "api/v1/inventory/lots/expiring/": Rule(STAFF),
    "api/v1/inventory/channel-stock/": Rule(FRONTEND),
    # --- members: one member for every store (MEMBERS_ARE_BRAND_WIDE)
    "api/v1/members/register/": Rule(BRAND, why="POST only: a clerk registers at their own store"),
    "api/v1/members/lookup/": Rule(BRAND, query("?phone=0912345678"), why=MEMBERS_ARE_BRAND_WIDE),
    "api/v1/members/coupons/validate/": Rule(BRAND, why="POST only; coupons hold in every store unless restricted"),
    "api/v1/members/login/code/": Rule(BRAND, why="POST only; the member's log-in"),
    "api/v1/members/login/verify/": Rule(BRAND, why="POST only; the member's log-in"),
    "api/v1/members/me/": Rule(FRONTEND),
    "api/v1/members/me/points/": Rule(FRONTEND),
    "api/v1/members/me/coupons/": Rule(FRONTEND),
    "api/v1/members/me/wishlist/": Rule(FRONTEND),
    "api/v1/members/profile/definitions/": Rule(BRAND, why="the brand's profile fields"),
    "api/v1/members/me/profile/": Rule(FRONTEND),
    "api/v1/members/me/profile/<str:group_key>/": Rule(FRONTEND, one(group_key="pets")),
    "api/v1/members/me/profile/<str:group_key>/<int:entry_id>/": Rule(FRONTEND, one(group_key="pets", entry_id=1)),
    "api/v1/members/me/export/": Rule(FRONTEND),
    "api/v1/members/duplicates/": Rule(HQ),
    "api/v1/members/coupon-issues/": Rule(HQ),
    "api/v1/members/coupon-issues/<int:pk>/": Rule(HQ, one(pk=1)),
    "api/v1/members/<str:member_no>/export/": Rule(HQ, MEMBER_NO),
    "api/v1/members/<str:member_no>/erase/": Rule(HQ, MEMBER_NO),
    "api/v1/members/<str:member_no>/merge/": Rule(HQ, MEMBER_NO),
    "api/v1/members/<str:member_no>/points/": Rule(BRAND, MEMBER_NO, why=MEMBERS_ARE_BRAND_WIDE),
    "api/v1/members/<str:member_no>/coupons/": Rule(BRAND, MEMBER_NO, why=MEMBERS_ARE_BRAND_WIDE),
    "api/v1/members/<str:member_no>/wishlist/": Rule(BRAND, MEMBER_NO, why=MEMBERS_ARE_BRAND_WIDE),
    # --- orders
    "api/v1/orders/quote/": Rule(BRAND, why="POST only; prices are brand-wide"),
    "api/v1/orders/": Rule(STAFF),
    "api/v1/orders/mine/": Rule(FRONTEND),
    "api/v1/orders/inbound/": Rule(FRONTEND),
    "api/v1/orders/inbound/<str:marketplace_order_id>/": Rule(FRONTEND, one(marketplace_order_id="MP-1")),
    "api/v1/orders/<str:number>/": Rule(STAFF, ORDER_ROWS),
    "api/v1/orders/<str:number>/pay/": Rule(STAFF, ORDER_ROWS, post=True, body={"tenders": [{"tender": "cash"}]}),
    "api/v1/orders/<str:number>/cancel/": ORDER_POST,
    "api/v1/orders/<str:number>/pickup/": Rule(STAFF, ORDER_ROWS),
    "api/v1/orders/<str:number>/ship/": Rule(
        BRAND,
        ORDER_ROWS,
        why="an online order (no store) ships from the caller's store: found unscoped, "
        "the service refuses a location outside the caller's store",
    ),
    "api/v1/orders/<str:number>/returns/": Rule(
        BRAND,
        ORDER_ROWS,
        why="buy anywhere, return in any store: found unscoped, goods come back to the caller's store",
    ),
    "api/v1/orders/<str:number>/exchange/": Rule(
        BRAND, ORDER_ROWS, why="an exchange is a return in the caller's store and a new sale there"
    ),
    # --- attribution
    "api/v1/attribution/referral-codes/<str:code>/": Rule(
        BRAND,
        lambda w: [("b", {"code": w.b.clerk.staff_profile.referral_code}, "")],
        why="a shopper's ?ref= link: the clerk's display name and store are shown on the shop",
    ),
    "api/v1/attribution/referral-codes/<str:code>/qr/": Rule(
        BRAND, lambda w: [("b", {"code": w.b.clerk.staff_profile.referral_code}, "")], why="as above"
    ),
    "api/v1/attribution/referral-clicks/": Rule(FRONTEND),
    "api/v1/attribution/bindings/": Rule(
        STAFF, lambda w: [("a", {}, f"?member={w.a.member.member_no}"), ("-", {}, f"?member={w.b.member.member_no}")]
    ),
    "api/v1/attribution/bindings/chat/": Rule(STAFF, why="POST only; store B is refused (creation walk)"),
    "api/v1/attribution/bindings/<int:pk>/end/": Rule(
        STAFF, per_store(lambda s: {"pk": s.binding.pk}), post=True, body={"reason": "walk"}
    ),
    "api/v1/attribution/orders/<str:number>/": Rule(STAFF, ORDER_ROWS),
    "api/v1/attribution/policies/": Rule(HQ),
    "api/v1/attribution/policies/<int:version>/adopt/": Rule(HQ, lambda w: [("-", {"version": w.policy_version}, "")]),
    "api/v1/attribution/simulations/": Rule(HQ),
    "api/v1/attribution/periods/": Rule(STAFF, why="store managers read their own store's lines"),
    "api/v1/attribution/periods/<str:month>/": Rule(STAFF, lambda w: [("-", {"month": w.month}, "")]),
    "api/v1/attribution/periods/<str:month>/adjustments/": Rule(HQ, lambda w: [("-", {"month": w.month}, "")]),
    "api/v1/attribution/periods/<str:month>/approve/": Rule(HQ, lambda w: [("-", {"month": w.month}, "")]),
    "api/v1/attribution/periods/<str:month>/paid/": Rule(HQ, lambda w: [("-", {"month": w.month}, "")]),
    "api/v1/attribution/periods/<str:month>/export.csv": Rule(STAFF, lambda w: [("-", {"month": w.month}, "")]),
    # --- marketing
    "api/v1/marketing/segments/preview/": Rule(HQ),
    "api/v1/marketing/segments/": Rule(HQ),
    "api/v1/marketing/segments/<int:pk>/": Rule(HQ, lambda w: [("-", {"pk": w.segment_pk}, "")]),
    "api/v1/marketing/segments/<int:pk>/evaluate/": Rule(HQ, lambda w: [("-", {"pk": w.segment_pk}, "")]),
    "api/v1/marketing/segments/<int:pk>/members/": Rule(HQ, lambda w: [("-", {"pk": w.segment_pk}, "")]),
    "api/v1/marketing/segments/<int:pk>/runs/": Rule(HQ, lambda w: [("-", {"pk": w.segment_pk}, "")]),
    "api/v1/marketing/campaigns/": Rule(HQ),
    "api/v1/marketing/campaigns/<int:pk>/": Rule(HQ, lambda w: [("-", {"pk": w.campaign_pk}, "")]),
    "api/v1/marketing/campaigns/<int:pk>/launch/": Rule(HQ, lambda w: [("-", {"pk": w.campaign_pk}, "")]),
    "api/v1/marketing/campaigns/<int:pk>/cancel/": Rule(HQ, lambda w: [("-", {"pk": w.campaign_pk}, "")]),
    "api/v1/marketing/campaigns/<int:pk>/results/": Rule(HQ, lambda w: [("-", {"pk": w.campaign_pk}, "")]),
    "api/v1/marketing/recommendations/products/<str:style_code>/": Rule(
        BRAND, one(style_code="TEE"), why="products bought together, brand-wide"
    ),
    "api/v1/marketing/recommendations/members/<str:member_no>/": Rule(BRAND, MEMBER_NO, why=MEMBERS_ARE_BRAND_WIDE),
    "api/v1/marketing/recommendations/me/": Rule(FRONTEND),
    "api/v1/marketing/reviews/": Rule(BRAND, why="published product reviews are public"),
    "api/v1/marketing/reviews/pending/": Rule(HQ),
    "api/v1/marketing/reviews/<int:pk>/moderate/": Rule(HQ, one(pk=1)),
    "api/v1/marketing/events/": Rule(BRAND, why="coming store events are advertised to every shopper"),
    "api/v1/marketing/events/<int:pk>/register/": Rule(FRONTEND, per_store(lambda s: {"pk": s.event.pk})),
    "api/v1/marketing/events/<int:pk>/check-in/": Rule(
        STAFF, per_store(lambda s: {"pk": s.event.pk}), post=True, body={"member": "M0"}
    ),
    # --- webhooks: a channel's own
    "api/v1/events/webhooks/": Rule(FRONTEND),
    "api/v1/events/webhooks/<int:pk>/": Rule(FRONTEND, one(pk=1)),
    "api/v1/events/webhooks/<int:pk>/rotate-secret/": Rule(FRONTEND, one(pk=1)),
    "api/v1/events/webhooks/<int:pk>/deliveries/": Rule(FRONTEND, one(pk=1)),
    # --- the admin's own pages (the model pages are found from the registry, below)
    "admin/": Rule(ADMIN),
    "admin/login/": Rule(PUBLIC, why="the admin's log-in form"),
    "admin/logout/": Rule(PUBLIC, why="log-out"),
    "admin/password_change/": Rule(ADMIN),
    "admin/password_change/done/": Rule(ADMIN),
    "admin/autocomplete/": Rule(ADMIN, query("?app_label=org&model_name=location&field_name=supplying_warehouse")),
    "admin/jsi18n/": Rule(PUBLIC, why="the admin's translated JavaScript strings"),
    "admin/r/<path:content_type_id>/<path:object_id>/": Rule(
        ADMIN, lambda w: [("b", _shortcut(Location, w.b.store.pk), "")]
    ),
    "admin/org/user/<id>/password/": Rule(ADMIN, lambda w: [("b", {"id": w.b.clerk.pk}, "")]),
    "admin/catalog/product/process_import/": Rule(ADMIN),
    "admin/catalog/product/import/": Rule(ADMIN),
    "admin/catalog/product/export/": Rule(ADMIN),
    "admin/members/member/<int:pk>/export/": Rule(ADMIN, lambda w: [("-", {"pk": w.shop.member.pk}, "")]),
    "admin/members/member/<int:pk>/erase/": Rule(ADMIN, lambda w: [("-", {"pk": w.shop.member.pk}, "")]),
    "admin/members/member/<int:pk>/merge/": Rule(ADMIN, lambda w: [("-", {"pk": w.shop.member.pk}, "")]),
    "admin/attribution/policy/<int:pk>/simulate/": Rule(ADMIN, lambda w: [("-", {"pk": w.policy_pk}, "")]),
}
# regular-expression patterns: their URLs are given literally
LITERAL = {
    r"admin/^(?P<app_label>": ("admin/org/", "admin/orders/", "admin/attribution/"),
    r"admin/(?P<url>.*)$": ("admin/no-such-page/",),
}


# --- the walk ---------------------------------------------------------------------------------------

ADMIN_MODEL_PAGE = re.compile(
    r"^admin/(\w+)/(\w+)/(?:|add/|<path:object_id>/|<path:object_id>/(?:change|delete|history)/)$"
)
PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def url_patterns(patterns=None, prefix=""):
    """(route, pattern) of every registered URL, nested includes walked."""
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            yield from url_patterns(p.url_patterns, prefix + str(p.pattern))
        else:
            assert isinstance(p, URLPattern)
            yield prefix + str(p.pattern), p


def _admin_row(model, world):
    """Store B's row of a model with a store (else any row): the admin is HQ's, who see every store."""
    store_field = getattr(model, "STORE_FIELD", None)
    rows = model._default_manager.order_by("pk")
    if isinstance(store_field, str) and store_field != "self":
        row = rows.filter(**{store_field: world.b.store}).first()
        if row is not None:
            return "b", row.pk
    if model is Location:
        return "b", world.b.store.pk
    row = rows.first()
    return "-", row.pk if row is not None else 0


def rule_for(route: str) -> Rule | None:
    if route in RULES:
        return RULES[route]
    match = ADMIN_MODEL_PAGE.match(route)
    if match:
        try:
            model = apps.get_model(match[1], match[2])
        except LookupError:
            return None
        if model in admin.site._registry:
            if "<path:object_id>" in route:
                return Rule(
                    ADMIN, lambda w, model=model: [(lambda o: (o[0], {"object_id": o[1]}, ""))(_admin_row(model, w))]
                )
            return Rule(ADMIN)
    return None


@dataclass
class Target:
    route: str
    rule: Rule
    owner: str
    url: str


def targets(world) -> tuple[list[Target], list[str]]:
    """Every URL to request, and the routes nobody has classified yet."""
    found, unknown = [], []
    for route, _pattern in url_patterns():
        literal = next((urls for prefix, urls in LITERAL.items() if route.startswith(prefix)), None)
        if literal is not None:
            found += [Target(route, Rule(ADMIN if "app_label" in route else PUBLIC), "-", "/" + u) for u in literal]
            continue
        rule = rule_for(route)
        if rule is None:
            unknown.append(route)
            continue
        params = set(PARAM.findall(route))
        fills = rule.fill(world) if rule.fill else [("-", {}, "")]
        if params and not rule.fill:
            unknown.append(f"{route} (no values for {sorted(params)})")
            continue
        for owner, values, text in fills:
            assert set(values) == params, f"{route}: filled {sorted(values)}, needs {sorted(params)}"
            url = "/" + PARAM.sub(lambda m, values=values: str(values[m[1]]), route) + text
            found.append(Target(route, rule, owner, url))
    return found, unknown


def _redirects_to_login(response) -> bool:
    return response.status_code == 302 and "login" in response.get("Location", "")


def request(client, role: str, target: Target):
    """The response (or the exception, as a 500) to what ``role`` sends to ``target``."""
    post = target.rule.post and role in STORE_ROLES and target.owner == "b"
    try:
        if post and target.url.startswith("/api/"):
            return client.post(
                target.url,
                target.rule.body or {},
                content_type="application/json",
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        if post:
            return client.post(target.url, target.rule.body or {})
        return client.get(target.url)
    except Exception:
        failure = type("Failure", (), {})()
        failure.status_code, failure.content = 500, traceback.format_exc(limit=-3).encode()
        failure.get = lambda *a, **k: ""
        return failure


def problems_of(role: str, target: Target, response, world: World) -> list[str]:
    status, rule = response.status_code, target.rule
    body = response.content.decode("utf-8", "ignore") if status == 200 else ""
    said = f"{role} {target.url} -> {status}"
    if status >= 500:
        return [f"{said}: {response.content.decode('utf-8', 'ignore')[-600:]}"]
    if role == "anonymous":
        if rule.access != PUBLIC and not (status in (401, 403, 405) or _redirects_to_login(response)):
            return [f"{said}: nobody must not get a staff page"]
        return []
    if rule.access == FRONTEND and status not in (401, 403, 405):
        return [f"{said}: for a channel's key (and a member's token) only"]
    if role not in STORE_ROLES:
        return []
    if rule.access == ADMIN:
        if not (_redirects_to_login(response) and response["Location"].startswith("/admin/login/")):
            return [f"{said}: the admin is for HQ"]
        return []
    if rule.access == HQ and status not in (403, 404, 405):
        return [f"{said}: HQ only"]
    if target.owner == "b" and rule.access == STAFF and status not in (403, 404):
        return [f"{said}: store B's row must be not found (or the role refused)"]
    if status == 200 and not (target.owner == "b" and rule.access == BRAND):
        shown = [m for m in world.private_b if m in body]
        if rule.access == STAFF:
            shown += [m for m in world.store_b if m in body]
        if shown:
            return [f"{said}: shows store B's {shown}"]
    return []


@pytest.fixture
def world(shop, clerk_a, manager_a, clerk_b, manager_b, hq_admin):  # noqa: F811
    users = {"clerk_a": clerk_a, "manager_a": manager_a, "clerk_b": clerk_b, "manager_b": manager_b}
    users["hq_admin"] = hq_admin
    for role in (Role.HQ_MERCHANDISER, Role.HQ_CRM, Role.HQ_FINANCE):
        users[role.value] = make_staff(role, username=role.value.replace("_", ".")).user
    return build_world(shop, users)


@pytest.mark.parametrize("role", ROLES)
def test_every_url_answers_each_role_within_its_scope(role, world):
    # given every registered URL, filled with store A's and store B's rows
    found, unknown = targets(world)
    client = Client(raise_request_exception=True)
    if role != "anonymous":
        client.force_login(world.users[role])

    # when the role requests each one
    problems, seen_b = [], set()
    for target in found:
        if target.rule.once and role != "anonymous":
            continue
        if (
            role in LIGHT_ADMIN_ROLES
            and target.route.startswith("admin/")
            and SECONDARY_ADMIN_PAGE.search(target.route)
        ):
            continue
        response = request(client, role, target)
        problems += problems_of(role, target, response, world)
        if response.status_code == 200 and world.b.sale.number in response.content.decode("utf-8", "ignore"):
            seen_b.add(target.route)

    # then nothing new is unclassified, and every answer is within the role's scope
    assert unknown == [], "classify these URLs in RULES (who may open them, with what):\n" + "\n".join(unknown)
    assert [r for r in RULES if not any(t.route == r for t in found)] == []  # no stale rules
    assert problems == [], f"{len(problems)} of {len(found)} requests:\n" + "\n".join(problems)
    if role == "hq_admin":  # the marker is real: HQ sees store B's sale where it is listed
        assert {"api/v1/orders/", "api/v1/orders/<str:number>/"} <= seen_b


# --- creating with another store's id ---------------------------------------------------------------

STORE_FIELDS = {"store", "location", "origin", "destination", "pickup_store", "source", "register"}


def _field_names(serializer_class) -> set[str]:
    """Every field name of a serializer, nested serializers and lists of them included."""
    names, todo = set(), [serializer_class()]
    while todo:
        current = todo.pop()
        current = getattr(current, "child", current)
        for name, item in getattr(current, "fields", {}).items():
            names.add(name)
            inner = getattr(item, "child", item)
            if isinstance(inner, serializers.BaseSerializer):
                todo.append(inner)
    return names


def store_taking_endpoints() -> set[str]:
    """The API routes whose input names a store, location or register."""
    found = set()
    for route, pattern in url_patterns():
        view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        if view is None:
            continue
        inputs = [
            value
            for name in dir(view)
            if not name.startswith("__")
            and isinstance(value := getattr(view, name, None), type)
            and issubclass(value, serializers.Serializer)
            and "Output" not in name
            and name != "serializer_class"
        ]
        if any(_field_names(cls) & STORE_FIELDS for cls in inputs):
            found.add(route)
    return found


def _sku_line(**extra):
    return [{"sku": "CAP-M", "quantity": 1, **extra}]


# route -> (body for store A's staff naming store B, the rows that must not change)
CREATE_CASES: dict[str, tuple[Callable, tuple]] = {
    "api/v1/pos/registers/": (lambda w: {"store": w.b.store.code, "code": "NEW", "name": "new till"}, (Register,)),
    "api/v1/inventory/reservations/": (
        lambda w: {"reference": "walk", "lines": _sku_line(location=w.b.store.code)},
        (Reservation,),
    ),
    "api/v1/inventory/transfers/": (
        lambda w: {"origin": w.shop.warehouse.code, "destination": w.b.store.code, "lines": _sku_line()},
        (Transfer,),
    ),
    "api/v1/orders/": (
        lambda w: {"lines": _sku_line(), "fulfilment": "counter", "store": w.b.store.code},
        (Order,),
    ),
    "api/v1/orders/<str:number>/ship/": (
        lambda w: {"location": w.b.store.code},
        ("orders.Fulfilment",),
    ),
    "api/v1/attribution/bindings/": (
        lambda w: {"member": w.shop.member.member_no, "store": w.b.store.code, "reason": "walk"},
        (Binding,),
    ),
    "api/v1/attribution/bindings/chat/": (
        lambda w: {"member": w.shop.member.member_no, "store": w.b.store.code, "note": "walk"},
        (Binding,),
    ),
    "api/v1/attribution/periods/<str:month>/adjustments/": (
        lambda w: {"store": w.b.store.code, "amount": "99", "reason": "walk"},
        (SettlementAdjustment,),
    ),
    "api/v1/marketing/events/": (
        lambda w: {
            "name": "walk",
            "store": w.b.store.code,
            "starts_at": (timezone.now() + timedelta(days=1)).isoformat(),
            "ends_at": (timezone.now() + timedelta(days=1, hours=2)).isoformat(),
        },
        (StoreEvent,),
    ),
    "api/v1/dashboard/traffic/": (
        lambda w: {
            "rows": [{"store": w.b.store.code, "day": timezone.localdate().isoformat(), "hour": 11, "visits": 3}]
        },
        (TrafficCount,),
    ),
}
# they take a store, but only to read: nothing is created
READ_ONLY_STORE_INPUTS = {
    "api/v1/orders/quote/": "prices a cart at a store (a shopper may ask any store's price)",
    "api/v1/members/coupons/validate/": "checks a code at a store (a coupon may be restricted to some stores)",
}


def _create_url(route: str, world: World) -> str:
    values = {"number": world.a.sale.number, "month": world.month}
    return "/" + PARAM.sub(lambda m: str(values[m[1]]), route)


def _counts(models) -> dict:
    return {str(m): (apps.get_model(m) if isinstance(m, str) else m)._default_manager.count() for m in models}


def admin_models_with_a_store() -> list:
    """Registered admin models with a foreign key (or many-to-many) to a location."""
    return [
        model
        for model in admin.site._registry
        if any(getattr(f, "related_model", None) is Location and not f.auto_created for f in model._meta.get_fields())
    ]


@pytest.mark.parametrize("role", STORE_ROLES)
def test_store_staff_cannot_create_for_another_store(role, world):
    # given every endpoint whose input names a store, location or register
    assert store_taking_endpoints() == set(CREATE_CASES) | set(READ_ONLY_STORE_INPUTS), (
        "an endpoint taking a store was added or removed: add its case to CREATE_CASES"
    )
    client = Client(raise_request_exception=True)
    client.force_login(world.users[role])
    refused = []

    # when store A's staff name store B
    for route, (body, models) in CREATE_CASES.items():
        before = _counts(models)
        response = client.post(
            _create_url(route, world),
            body(world),
            content_type="application/json",
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        # then it is refused with a code, and nothing was created
        refused.append(
            (route, response.status_code, response.json().get("code") is not None, _counts(models) == before)
        )
    upload = client.post(
        "/dashboard/traffic/upload/",
        {"file": _csv(f"store,day,hour,visits\n{world.b.store.code},{timezone.localdate()},12,4\n")},
    )
    refused.append(("dashboard/traffic/upload/", upload.status_code, True, TrafficCount.objects.count() == 2))
    for model in admin_models_with_a_store():
        before = _counts([model])
        opts = model._meta
        fields = {f.name: world.b.store.pk for f in opts.get_fields() if getattr(f, "related_model", None) is Location}
        response = client.post(f"/admin/{opts.app_label}/{opts.model_name}/add/", fields)
        refused.append(
            (f"admin {opts.label}", response.status_code, _redirects_to_login(response), _counts([model]) == before)
        )

    wrong = [r for r in refused if not (r[1] in (302, 400, 403, 404) and r[2] and r[3])]
    assert wrong == [], "\n".join(
        f"{route}: {status}, code given: {coded}, nothing created: {same}" for route, status, coded, same in wrong
    )
    assert len(refused) == len(CREATE_CASES) + 1 + len(admin_models_with_a_store())


def _csv(text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("traffic.csv", text.encode(), content_type="text/csv")
