"""The demo loyalty program: three tiers and the earn rules (demo members come with the rest of the
members issue)."""

from __future__ import annotations

from decimal import Decimal

from members.models import EarnRule, Tier

TIERS = [
    # code, name, rank, 12-month spend, points multiplier
    ("MEMBER", "一般會員", 0, Decimal(0), Decimal("1.00")),
    ("SILVER", "銀卡會員", 1, Decimal(10000), Decimal("1.20")),
    ("GOLD", "金卡會員", 2, Decimal(30000), Decimal("1.50")),
]


def seed_loyalty(result) -> None:
    for code, name, rank, spend, multiplier in TIERS:
        _tier, created = Tier.objects.get_or_create(
            code=code, defaults={"name": name, "rank": rank, "min_spend_12m": spend, "points_multiplier": multiplier}
        )
        if created:
            result.count("tiers")
    if not EarnRule.objects.exists():
        EarnRule.objects.create(name="消費 NT$100 累積 1 點", spend_per_point=Decimal(100))
        result.count("earn rules")
