"""Recommendations computed every night from all channels, against pairs and shares counted by hand."""

from __future__ import annotations

from decimal import Decimal

from marketing.models import BoughtTogether, CategoryAffinity
from marketing.recommendations import recommendations_refresh
from marketing.selectors import member_recommendations
from members import services as member_services
from tests.conftest import client_for
from tests.dashboard.conftest import TODAY, at, counter_sale, web_order


def test_bought_together_and_category_affinity(shop, clerk_a, hq_admin):
    """Orders: Mei tee + jeans (web), Ken tee + jeans + cap (web), Ann tee + cap (store A), Mei jeans
    (store A). Pairs: tee-jeans 2, tee-cap 2, jeans-cap 1 (too few: chance)."""
    mei = shop.member
    ken = member_services.member_register(phone="0922000111", name="Ken").member
    ann = member_services.member_register(phone="0933000222", name="Ann").member
    web_order(shop, [("TEE-M", 1), ("JEANS-M", 1)], day=TODAY, member=mei)
    web_order(shop, [("TEE-M", 1), ("JEANS-M", 1), ("CAP-M", 1)], day=TODAY, member=ken)
    counter_sale(shop, [("TEE-M", 1), ("CAP-M", 1)], day=TODAY, clerk=clerk_a, member=ann)
    counter_sale(shop, [("JEANS-M", 1)], day=TODAY, clerk=clerk_a, member=mei)
    pairs, affinities = recommendations_refresh(now=at(TODAY, 23))
    tee, jeans, cap = shop.tee.product, shop.jeans.product, shop.cap.product
    got = {(r.product_id, r.other_id): (r.orders, r.confidence) for r in BoughtTogether.objects.all()}
    assert got == {
        (tee.pk, jeans.pk): (2, Decimal("0.6667")),  # 2 of the tee's 3 orders
        (tee.pk, cap.pk): (2, Decimal("0.6667")),
        (jeans.pk, tee.pk): (2, Decimal("0.6667")),
        (cap.pk, tee.pk): (2, Decimal("1.0000")),  # both of the cap's orders
    }
    assert pairs == 4
    mine = {a.category.path: (a.spend, a.share, a.rank) for a in CategoryAffinity.objects.filter(member=mei)}
    assert mine == {
        "women/bottoms": (Decimal("2400.00"), Decimal("0.8276"), 1),  # 2,400 of 2,900
        "women/tops": (Decimal("500.00"), Decimal("0.1724"), 2),
    }
    assert affinities == 7  # Mei 2, Ken 3, Ann 2
    # Mei bought the tee and the jeans: suggest what goes with them that she has not bought, the cap
    reco = member_recommendations(mei)
    assert [p["style_code"] for p in reco["products"]] == [cap.style_code]
    assert [a["category"] for a in reco["affinity"]] == ["women/bottoms", "women/tops"]
    api = client_for(hq_admin)
    body = api.get(f"/api/v1/marketing/recommendations/products/{cap.style_code}/").json()
    assert body == {"product": cap.style_code, "bought_together": [
        {"style_code": tee.style_code, "name": tee.name, "orders": 2, "confidence": "1.0000"}
    ]}  # fmt: skip
    member = api.get(f"/api/v1/marketing/recommendations/members/{mei.member_no}/").json()
    assert member["affinity"][0]["share"] == "0.8276" and member["products"][0]["style_code"] == cap.style_code
    recommendations_refresh(now=at(TODAY, 23))  # the night after: replaced, not added
    assert BoughtTogether.objects.count() == 4 and CategoryAffinity.objects.count() == 7


def test_the_pos_member_panel_shows_what_they_buy_and_what_to_suggest(shop, clerk_a):
    from pos.views import _member_view

    web_order(shop, [("TEE-M", 1), ("JEANS-M", 1)], day=TODAY, member=shop.member)
    web_order(shop, [("TEE-M", 1), ("CAP-M", 1)], day=TODAY)
    web_order(shop, [("TEE-M", 1), ("CAP-M", 1)], day=TODAY)
    recommendations_refresh(now=at(TODAY, 23))
    card = _member_view(shop.member)
    assert card["likes"] == ["bottoms 71%", "tops 29%"]  # 1,200 and 500 of 1,700
    assert card["suggest"] == [f"{shop.cap.product.name} ({shop.cap.product.style_code})"]
