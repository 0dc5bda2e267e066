"""The demo brand: 青禾服飾 Qinghe Apparel, a Taiwanese apparel chain with an e-commerce warehouse,
a southern distribution centre, five stores in five cities, their managers and clerks, HQ staff and
four sales channels with known demo API keys; then the catalog and stock, 3,000 members and four
months of orders in every channel (``catalog_seed``, ``member_seed``, ``order_seed``).

Deterministic and idempotent: every row has a fixed natural key and is created only when missing, so
a second run changes nothing (a row someone edited keeps the edit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from omo.demo.attribution_seed import seed_attribution
from omo.demo.catalog_seed import seed_catalog, seed_fulfilment, seed_stock
from omo.demo.dashboard_seed import seed_dashboard
from omo.demo.marketing_seed import seed_marketing
from omo.demo.member_seed import seed_loyalty, seed_members
from omo.demo.order_seed import seed_orders
from omo.org import services as org
from omo.org.models import ChannelCredential, Location, SalesChannel, StaffProfile, User
from omo.org.roles import Role
from pos.models import Register
from pos.services import register_create

DEMO_PASSWORD = "omo-demo-2026"

WAREHOUSES = [
    # code, name, city, address, phone
    ("WH-EC", "桃園電商倉", "桃園市", "桃園市大園區航勤北路38號", "03-383-1200"),
    ("WH-KHH", "高雄南區物流中心", "高雄市", "高雄市前鎮區新生路248號", "07-812-5500"),
]
STORES = [
    # code, name, city, address, phone, supplying warehouse
    ("S-TPE01", "台北信義店", "台北市", "台北市信義區松高路19號", "02-2722-0101", "WH-EC"),
    ("S-HSZ01", "新竹巨城店", "新竹市", "新竹市東區中央路229號", "03-535-0202", "WH-EC"),
    ("S-TXG01", "台中勤美店", "台中市", "台中市西區公益路68號", "04-2326-0303", "WH-EC"),
    ("S-TNN01", "台南西門店", "台南市", "台南市中西區西門路一段658號", "06-222-0404", "WH-KHH"),
    ("S-KHH01", "高雄夢時代店", "高雄市", "高雄市前鎮區中華五路789號", "07-823-0505", "WH-KHH"),
]
# Per store: the manager and three clerks (username suffix, display name).
STORE_STAFF = {
    "S-TPE01": [("manager", "林雅婷"), ("clerk1", "陳冠宇"), ("clerk2", "黃詩涵"), ("clerk3", "張家豪")],
    "S-HSZ01": [("manager", "吳佩君"), ("clerk1", "劉彥廷"), ("clerk2", "蔡宜蓁"), ("clerk3", "楊承翰")],
    "S-TXG01": [("manager", "許淑芬"), ("clerk1", "鄭宇翔"), ("clerk2", "謝欣怡"), ("clerk3", "洪志明")],
    "S-TNN01": [("manager", "郭美玲"), ("clerk1", "曾柏翰"), ("clerk2", "邱郁雯"), ("clerk3", "廖俊傑")],
    "S-KHH01": [("manager", "賴怡君"), ("clerk1", "周信宏"), ("clerk2", "葉婉婷"), ("clerk3", "蘇建志")],
}
HQ_STAFF = [
    # username, display name, role, employee code
    ("admin", "系統管理員", Role.HQ_ADMIN, "HQ-001"),
    ("merch", "王淑華 (商品)", Role.HQ_MERCHANDISER, "HQ-002"),
    ("crm", "李宗翰 (會員行銷)", Role.HQ_CRM, "HQ-003"),
    ("finance", "陳怡安 (財務)", Role.HQ_FINANCE, "HQ-004"),
]
CHANNELS = [
    # code, name, kind, demo API key (None: no key; the POS uses staff logins)
    ("POS", "門市 POS", SalesChannel.Kind.POS, None),
    ("WEB", "青禾官網", SalesChannel.Kind.WEB, "omo_demoweb1_web-demo-key-not-for-production"),
    ("APP", "青禾 App", SalesChannel.Kind.APP, "omo_demoapp1_app-demo-key-not-for-production"),
    ("SHOPEE", "蝦皮商城", SalesChannel.Kind.MARKETPLACE, "omo_demoshp1_shopee-demo-key-not-for-production"),
]
REGISTERS = [("POS1", "一號收銀台"), ("POS2", "二號收銀台")]


def store_username(store_code: str, suffix: str) -> str:
    return f"{store_code.split('-', 1)[1].lower()}.{suffix}"  # e.g. tpe01.clerk1


def referral_code_for(employee_code: str) -> str:
    """A fixed referral code per demo employee, e.g. TPE01-3 -> "QHTPE3" style, from the allowed alphabet."""
    table = str.maketrans({"0": "Z", "1": "Y", "O": "X", "I": "W", "-": None})
    return ("QH" + employee_code.translate(table))[:12]


@dataclass
class SeedResult:
    created: dict[str, int] = field(default_factory=dict)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # username, role, store
    channel_keys: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # logins that existed before the seed, left as they were

    def count(self, what: str, n: int = 1) -> None:
        self.created[what] = self.created.get(what, 0) + n


@transaction.atomic
def seed_demo() -> SeedResult:
    result = SeedResult()
    locations = {loc.code: loc for loc in Location.objects.all()}
    for code, name, city, address, phone in WAREHOUSES:
        if code not in locations:
            locations[code] = org.location_create(
                code=code, name=name, kind=Location.Kind.WAREHOUSE, city=city, address=address, phone=phone
            )
            result.count("locations")
    for code, name, city, address, phone, warehouse in STORES:
        if code not in locations:
            locations[code] = org.location_create(
                code=code,
                name=name,
                kind=Location.Kind.STORE,
                city=city,
                address=address,
                phone=phone,
                supplying_warehouse=locations[warehouse],
            )
            result.count("locations")

    # Keyed on the login, not the profile: a login made earlier (say by createsuperuser) is left alone.
    existing_logins = {u.lower() for u in User.objects.values_list("username", flat=True)}
    demo_profiles = set(StaffProfile.objects.values_list("user__username", flat=True))
    staff_rows = [(u, n, r, c, None) for u, n, r, c in HQ_STAFF]
    for store_code, people in STORE_STAFF.items():
        for index, (suffix, name) in enumerate(people):
            role = Role.STORE_MANAGER if suffix == "manager" else Role.CLERK
            staff_rows.append((store_username(store_code, suffix), name, role, f"{store_code[2:]}-{index}", store_code))
    for username, name, role, employee_code, store_code in staff_rows:
        if username.lower() in existing_logins and username not in demo_profiles:
            result.skipped.append(username)
            continue
        if username.lower() not in existing_logins:
            org.staff_create(
                username=username,
                password=DEMO_PASSWORD,
                display_name=name,
                employee_code=employee_code,
                role=role,
                home_store=locations[store_code] if store_code else None,
                email=f"{username}@demo.qinghe.example",
                referral_code=referral_code_for(employee_code),
                superuser=username == "admin",
            )
            result.count("staff")
        result.logins.append((username, str(Role(role).label), store_code or "HQ"))
    channels = {c.code: c for c in SalesChannel.objects.all()}
    for code, name, kind, demo_key in CHANNELS:
        if code not in channels:
            channels[code] = org.sales_channel_create(code=code, name=name, kind=kind)
            result.count("channels")
        if demo_key:
            prefix = demo_key.split("_")[1]
            if not ChannelCredential.objects.filter(prefix=prefix).exists():
                org.channel_credential_issue(
                    channel=channels[code], name="demo key", created_by=None, _fixed_key=demo_key
                )
                result.count("channel keys")
            result.channel_keys.append((code, demo_key))

    seed_loyalty(result)
    seed_catalog(result)
    seed_fulfilment()
    seed_stock(result)

    existing_registers = set(Register.objects.values_list("store__code", "code"))
    for store_code, *_rest in STORES:
        for code, name in REGISTERS:
            if (store_code, code) not in existing_registers:
                register_create(actor=None, store=locations[store_code], code=code, name=name)
                result.count("registers")
    seed_members(result)
    seed_orders(result)
    seed_attribution(result)
    seed_dashboard(result)
    seed_marketing(result)
    return result
