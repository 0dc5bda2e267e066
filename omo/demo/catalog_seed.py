"""The demo catalog and stock: about 380 SKUs of an apparel chain with a small skincare line (kept by
lot with expiry dates), channel prices and listings, fulfilment settings per channel, and stock spread
over the two warehouses and five stores by goods receipts and replenishment transfers.

Deterministic: every quantity comes from a seeded generator keyed on the SKU and location. Runs once:
a second run finds the demo receipts and adds nothing.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from catalog import services as catalog
from catalog.models import Product, Variant
from inventory import services as stock
from inventory.models import AllocationStrategyChoice, ChannelAllocation, ChannelLocation, GoodsReceipt
from omo.org.models import Location, SalesChannel

CATEGORIES = {
    "women": "女裝",
    "women/tops": "女裝上衣",
    "women/bottoms": "女裝褲裙",
    "men": "男裝",
    "men/tops": "男裝上衣",
    "men/outerwear": "男裝外套",
    "accessories": "配件",
    "beauty": "美妝保養",
    "beauty/skincare": "保養品",
}
COLORS = [("BLK", "黑"), ("WHT", "白"), ("NVY", "海軍藍")]
SIZES = ["S", "M", "L", "XL"]
APPAREL = {  # category: [(style code, name, WEB price)]
    "women/tops": [
        ("WT01", "棉質圓領T恤", 590),
        ("WT02", "亞麻襯衫", 1290),
        ("WT03", "羅紋針織衫", 990),
        ("WT04", "法式條紋上衣", 790),
        ("WT05", "短版連帽衫", 1490),
        ("WT06", "緞面襯衫", 1590),
    ],
    "women/bottoms": [
        ("WB01", "高腰直筒牛仔褲", 1690),
        ("WB02", "寬版西裝褲", 1490),
        ("WB03", "百褶長裙", 1290),
        ("WB04", "棉麻短褲", 890),
        ("WB05", "彈性窄管褲", 1190),
        ("WB06", "A字牛仔裙", 1090),
    ],
    "men/tops": [
        ("MT01", "重磅素面T恤", 690),
        ("MT02", "牛津襯衫", 1390),
        ("MT03", "POLO衫", 990),
        ("MT04", "機能快乾T恤", 790),
        ("MT05", "華夫格長袖", 890),
        ("MT06", "丹寧襯衫", 1490),
    ],
    "men/outerwear": [
        ("MO01", "輕量羽絨外套", 2990),
        ("MO02", "防潑水風衣", 2490),
        ("MO03", "刷毛外套", 1690),
        ("MO04", "工裝夾克", 2290),
        ("MO05", "針織開襟外套", 1590),
        ("MO06", "丹寧外套", 1990),
    ],
}
ACCESSORIES = [
    ("AC01", "帆布托特包", 690),
    ("AC02", "針織毛帽", 490),
    ("AC03", "羊毛圍巾", 990),
    ("AC04", "皮革腰帶", 890),
    ("AC05", "棒球帽", 590),
    ("AC06", "運動襪三入", 390),
]
SKINCARE = [
    ("SK01", "玻尿酸保濕精華 30ml", 1280),
    ("SK02", "積雪草修護霜 50ml", 980),
    ("SK03", "溫和潔顏慕斯 150ml", 580),
    ("SK04", "維他命C亮白精華 30ml", 1480),
    ("SK05", "清爽防曬乳 SPF50 50ml", 780),
    ("SK06", "保濕化妝水 200ml", 680),
]
SHOPEE_DISCOUNT = Decimal("0.95")
DEMO_RECEIPT = "DEMO-INITIAL-STOCK"


def ean13(number12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(number12))
    return number12 + str((10 - total % 10) % 10)


def _rng(*keys) -> random.Random:
    return random.Random("|".join(map(str, keys)))  # noqa: S311 - demo quantities, not security


def seed_catalog(result) -> None:
    channels = {c.code: c for c in SalesChannel.objects.all()}
    if Product.objects.filter(style_code="WT01").exists():
        return
    categories = {path: catalog.category_ensure_path(path=path, names=CATEGORIES) for path in CATEGORIES}
    barcode_seq = 0
    rows = []  # (category, style, name, price, variant options, tracks_lots)
    for path, styles in APPAREL.items():
        rows += [
            (path, code, name, price, [(c, cn, s) for c, cn in COLORS for s in SIZES], False)
            for code, name, price in styles
        ]
    rows += [
        ("accessories", code, name, price, [(c, cn, "F") for c, cn in COLORS[:2]], False)
        for code, name, price in ACCESSORIES
    ]
    rows += [("beauty/skincare", code, name, price, [("", "", "")], True) for code, name, price in SKINCARE]
    for path, style, name, price, options, lots in rows:
        product = catalog.product_create(
            style_code=style,
            name=name,
            category=categories[path],
            status=Product.Status.ACTIVE,
            tracks_lots=lots,
            description=f"{name}，青禾服飾經典款。",
            images=[f"https://img.qinghe.example/{style.lower()}/1.jpg"],
        )
        result.count("products")
        for position, (color, color_name, size) in enumerate(options):
            barcode_seq += 1
            sku = "-".join(x for x in (style, color, size) if x)
            variant = catalog.variant_create(
                product=product,
                sku=sku,
                barcode=ean13(f"471{barcode_seq:09d}"),
                color=color_name,
                size=size,
                position=position,
            )
            result.count("SKUs")
            for code, channel in channels.items():
                amount = Decimal(price) if code != "SHOPEE" else (Decimal(price) * SHOPEE_DISCOUNT).quantize(Decimal(1))
                on_sale = _rng(sku, "sale").random() < 0.1 and code in ("WEB", "APP")
                catalog.price_set(
                    variant=variant,
                    channel=channel,
                    price=amount,
                    sale_price=(amount * Decimal("0.8")).quantize(Decimal(1)) if on_sale else None,
                )
        for code, channel in channels.items():
            catalog.listing_set(product=product, channel=channel, is_listed=code != "SHOPEE" or not lots)


def seed_fulfilment() -> None:
    channels = {c.code: c for c in SalesChannel.objects.all()}
    locations = {loc.code: loc for loc in Location.objects.all()}
    stores = sorted(code for code, loc in locations.items() if loc.is_store)
    plan = {
        # channel: (strategy, [(location, priority, ships, offers pickup)])
        "WEB": (
            AllocationStrategyChoice.WAREHOUSE_FIRST,
            [("WH-EC", 1, True, False), ("WH-KHH", 2, True, False)]
            + [(code, 10 + i, True, True) for i, code in enumerate(stores)],
        ),
        "APP": (
            AllocationStrategyChoice.WAREHOUSE_FIRST,
            [("WH-EC", 1, True, False), ("WH-KHH", 2, True, False)]
            + [(code, 10 + i, True, True) for i, code in enumerate(stores)],
        ),
        "SHOPEE": (AllocationStrategyChoice.FEWEST_SHIPMENTS, [("WH-EC", 1, True, False), ("WH-KHH", 2, True, False)]),
    }
    for code, (strategy, links) in plan.items():
        ChannelAllocation.objects.get_or_create(channel=channels[code], defaults={"strategy": strategy})
        for location, priority, ships, pickup in links:
            ChannelLocation.objects.get_or_create(
                channel=channels[code],
                location=locations[location],
                defaults={"priority": priority, "ships": ships, "offers_pickup": pickup},
            )


def seed_stock(result) -> None:
    if GoodsReceipt.objects.filter(supplier_reference=DEMO_RECEIPT).exists():
        return
    today = timezone.localdate()
    locations = {loc.code: loc for loc in Location.objects.all()}
    variants = list(Variant.objects.select_related("product").order_by("sku"))
    for warehouse, scale in (("WH-EC", 60), ("WH-KHH", 25)):
        lines = []
        for variant in variants:
            rng = _rng(variant.sku, warehouse)
            quantity = rng.randint(scale // 2, scale)
            if variant.product.tracks_lots:
                for n, days in enumerate((45, 200, 420)):  # one lot expiring soon, two later
                    lines.append(
                        {
                            "variant": variant,
                            "quantity": quantity // 3 + 1,
                            "unit_cost": _cost(variant),
                            "lot_code": f"{variant.product.style_code}-{n + 1:02d}",
                            "expiry_date": today + timedelta(days=days),
                        }
                    )
            else:
                lines.append({"variant": variant, "quantity": quantity, "unit_cost": _cost(variant)})
        receipt = stock.goods_receipt_create(
            location=locations[warehouse],
            supplier="青禾製衣股份有限公司",
            supplier_reference=DEMO_RECEIPT,
            lines=lines,
            actor=None,
        )
        stock.goods_receipt_post(receipt=receipt, actor=None)
        result.count("goods receipts")
    for store in sorted((loc for loc in locations.values() if loc.is_store), key=lambda s: s.code):
        lines = []
        for variant in variants:
            rng = _rng(variant.sku, store.code)
            if rng.random() < 0.15:
                continue  # not every store carries everything (endless aisle covers the rest)
            lines.append((variant, rng.randint(1, 6)))
        transfer = stock.transfer_request(
            origin=store.supplying_warehouse, destination=store, lines=lines, actor=None, note="開店鋪貨"
        )
        stock.transfer_approve(transfer=transfer, actor=None)
        stock.transfer_ship(transfer=transfer, actor=None)
        stock.transfer_receive(transfer=transfer, actor=None)
        result.count("transfers")
        for variant, _quantity in lines[::7]:
            stock.stock_level_configure(variant=variant, location=store, actor=None, min_level=2, max_level=6)


def _cost(variant: Variant) -> Decimal:
    price = variant.prices.order_by("channel__code").values_list("price", flat=True).first() or Decimal(500)
    return (price * Decimal("0.38")).quantize(Decimal("0.01"))
