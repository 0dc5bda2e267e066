"""The coupons and points page against figures computed by hand, on coupons and points moved through the
real members services (coupons collected, issued, redeemed and given back; points earned, redeemed,
adjusted and expired), each on a known day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from members import coupons
from members import services as members
from omo.dashboard.selectors import loyalty
from tests.dashboard.conftest import TODAY, at, period

D0, D1, D2, LATER = date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)


def on(day: date, hour: int = 11):
    return time_machine.travel(at(day, hour), tick=True)


def cart(variant, price: int):
    return [coupons.CartLine(variant, 1, Decimal(price))]


@pytest.fixture
def loyal(shop, settings):
    """Members: Amy registered at store A, Ben at store B, and the shop's member (online). A point is
    worth NT$0.50. Campaigns: AUTUMN100 (shared, NT$100 off), VIP (15% off, a code per member), WINTER50.

    D0 (the comparison day): Ben collects AUTUMN100 at store B and uses it there (NT$100); Amy earns 40
    points (expire 2027-02-10), Ben 30 (expire D0).
    D1: Amy collects AUTUMN100 at store A, the shop's member on the web; VIP codes issued to Amy and Ben;
    Amy earns 300 (expire 2026-12-31), Ben 200 (2027-01-15), the shop's member 500 (end of 2027); the
    nightly job expires Ben's 30.
    D2: AUTUMN100 used by Amy at store A (R-1) and on the web by the shop's member (R-2, shipped); Ben
    uses his VIP code at store B on NT$1,200 of jeans (R-3, NT$180); Ben uses AUTUMN100 at store A (R-4)
    and the order is cancelled (given back). Amy redeems 100 points; HQ adds 50 to Ben and takes 20 from
    the shop's member; Ben earns 15 that expire 2026-11-25 (past their date on TODAY, not expired yet).
    LATER (after the period): the shop's member collects WINTER50 on the web and uses it."""
    settings.ORDER_POINT_VALUE = Decimal("0.5")
    amy = members.member_register(phone="0922000001", channel=shop.pos, store=shop.store_a).member
    ben = members.member_register(phone="0922000002", channel=shop.pos, store=shop.store_b).member
    web = shop.member
    window = {"starts_at": at(date(2026, 11, 1), 0), "ends_at": at(date(2027, 1, 31), 0)}
    autumn = coupons.campaign_create(name="Autumn 100", discount_type="amount", amount=Decimal(100), **window)
    coupons.coupon_create_shared(campaign=autumn, code="AUTUMN100")
    vip = coupons.campaign_create(
        name="VIP 15%", discount_type="percent", percent=Decimal(15), code_type="unique", **window
    )
    winter = coupons.campaign_create(name="Winter 50", discount_type="amount", amount=Decimal(50), **window)
    coupons.coupon_create_shared(campaign=winter, code="WINTER50")

    with on(D0):
        coupons.coupon_collect(member=ben, code="AUTUMN100", channel=shop.pos, store=shop.store_b)
        coupons.coupon_redeem(
            code="AUTUMN100", lines=cart(shop.tee, 520), reference="R-0", member=ben, channel=shop.pos,
            store=shop.store_b,
        )  # fmt: skip
        members.points_earn(member=amy, points=40, reference="R-0a", expires_on=date(2027, 2, 10))
        members.points_earn(member=ben, points=30, reference="R-0b", expires_on=D0)
    with on(D1):
        coupons.coupon_collect(member=amy, code="AUTUMN100", channel=shop.pos, store=shop.store_a)
        coupons.coupon_collect(member=web, code="AUTUMN100", channel=shop.web)
        vip_codes = {c.member_id: c.code for c in coupons.coupons_issue(campaign=vip, members=[amy, ben])}
        members.points_earn(member=amy, points=300, reference="R-1", expires_on=date(2026, 12, 31))
        members.points_earn(member=ben, points=200, reference="R-3", expires_on=date(2027, 1, 15))
        members.points_earn(member=web, points=500, reference="R-2")
        assert members.points_expire_due(today=D1) == 30
    with on(D2):
        coupons.coupon_redeem(
            code="AUTUMN100", lines=cart(shop.tee, 520), reference="R-1", member=amy, channel=shop.pos,
            store=shop.store_a,
        )  # fmt: skip
        coupons.coupon_redeem(
            code="AUTUMN100", lines=cart(shop.tee, 500), reference="R-2", member=web, channel=shop.web
        )
        coupons.coupon_redeem(
            code=vip_codes[ben.pk], lines=cart(shop.jeans, 1200), reference="R-3", member=ben, channel=shop.pos,
            store=shop.store_b,
        )  # fmt: skip
        coupons.coupon_redeem(
            code="AUTUMN100", lines=cart(shop.tee, 520), reference="R-4", member=ben, channel=shop.pos,
            store=shop.store_a,
        )  # fmt: skip
        assert coupons.coupon_reinstate(reference="R-4") == 1
        members.points_redeem(member=amy, points=100, reference="R-1")
        members.points_adjust(member=ben, points=50, reason="goodwill", actor=None)
        members.points_adjust(member=web, points=-20, reason="correction", actor=None)
        members.points_earn(member=ben, points=15, reference="R-3b", expires_on=date(2026, 11, 25))
    with on(LATER):
        coupons.coupon_collect(member=web, code="WINTER50", channel=shop.web)
        coupons.coupon_redeem(code="WINTER50", lines=cart(shop.cap, 300), reference="R-5", member=web, channel=shop.web)
    shop.amy, shop.ben = amy, ben
    return shop


def figures(page) -> dict:
    return {f.key: f for f in page.figures}


def name(location) -> str:
    return f"{location.code} {location.name}"


def test_coupons_issued_against_redeemed(loyal):
    shop = loyal
    page = loyalty.page(period(D1, D2, compare="previous"))  # the comparison period is D-1 .. D0
    got = figures(page)

    # issued in the period: AUTUMN100 to Amy (POS, store A) and the shop's member (web), VIP to Amy and Ben
    # (no channel, no store); redeemed: R-1 (POS, store A, 100), R-2 (web, 100), R-3 (POS, store B, 180);
    # R-4 was given back, R-0 and R-5 are outside the period
    channels = {
        r["name"]: (r["issued"], r["redeemed"], r["rate"], r["discount"]) for r in got["coupons_by_channel"].rows
    }
    assert channels == {
        f"POS {shop.pos.name}": (1, 2, Decimal("2.0000"), Decimal("280.00")),
        f"WEB {shop.web.name}": (1, 1, Decimal("1.0000"), Decimal("100.00")),
        "No channel recorded": (2, 0, Decimal("0.0000"), Decimal("0.00")),
    }
    stores = {r["name"]: (r["issued"], r["redeemed"], r["rate"], r["discount"]) for r in got["coupons_by_store"].rows}
    assert stores == {
        name(shop.store_a): (1, 1, Decimal("1.0000"), Decimal("100.00")),
        name(shop.store_b): (0, 1, None, Decimal("180.00")),
        "Not in a store": (3, 1, Decimal("0.3333"), Decimal("100.00")),
    }
    campaigns = [(r["name"], r["issued"], r["redeemed"], r["rate"], r["discount"])
                 for r in got["coupons_by_campaign"].rows]  # fmt: skip
    assert campaigns == [
        ("Autumn 100", 2, 2, Decimal("1.0000"), Decimal("200.00")),
        ("VIP 15%", 2, 1, Decimal("0.5000"), Decimal("180.00")),
    ]
    assert got["coupons_by_channel"].total == {
        "name": "Total", "issued": 4, "redeemed": 3, "rate": Decimal("0.7500"), "discount": Decimal("380.00"),
    }  # fmt: skip

    kpis = {str(k.label): (k.value, k.compare) for k in page.kpis}
    assert kpis["Coupons issued"] == (4, 1)  # D0: Ben collected AUTUMN100
    assert kpis["Coupons redeemed"] == (3, 1)  # D0: R-0
    assert kpis["Redemption rate"] == (Decimal("0.7500"), Decimal("1.0000"))
    assert kpis["Coupon discounts"] == (Decimal("380.00"), Decimal("100.00"))


def test_points_by_kind_and_by_day(loyal):
    page = loyalty.page(period(D1, D2, compare="previous"))
    got = figures(page)

    kinds = {r["kind"]: (r["entries"], r["in"], r["out"], r["compare_net"]) for r in got["points_by_kind"].rows}
    assert kinds["Earned"] == (4, 1015, 0, 70)  # 300 + 200 + 500 + 15; then 40 + 30
    assert kinds["Redeemed"] == (1, 0, 100, 0)
    assert kinds["Expired"] == (1, 0, 30, 0)
    assert kinds["Adjusted"] == (2, 50, 20, 0)
    assert kinds["Reversed"] == kinds["Moved by a merge"] == (0, 0, 0, 0)
    by_day = [(r["day"], r["earned"], r["redeemed"], r["expired"], r["other"]) for r in got["points_by_day"].rows]
    assert by_day == [(D1, 1000, 0, 30, 0), (D2, 15, 100, 0, 30)]

    kpis = {str(k.label): (k.value, k.compare) for k in page.kpis}
    assert kpis["Points earned"] == (1015, 70)
    assert kpis["Points redeemed"] == (100, 0)
    assert kpis["Points expired"] == (30, 0)


def test_points_liability_and_what_expires_next(loyal):
    shop = loyal
    page = loyalty.page(period(D1, D2, today=TODAY))
    got = figures(page)

    # Amy 300 - 100 + 40 = 240; Ben 200 + 30 - 30 + 50 + 15 = 265; the shop's member 500 - 20 = 480; x 0.5
    liability = {r["name"]: (r["members"], r["points"], r["value"]) for r in got["liability"].rows}
    assert liability == {
        "Not registered at a store": (1, 480, Decimal("240.00")),
        name(shop.store_b): (1, 265, Decimal("132.50")),
        name(shop.store_a): (1, 240, Decimal("120.00")),
    }
    assert got["liability"].total["value"] == Decimal("492.50")
    # from TODAY (2026-11-30) to 2027-02-28: Amy's 200 left of 300 (Dec), Ben's 200 (Jan), Amy's 40 (Feb);
    # Ben's 15 are past their date; Ben's 50 and the shop's member's 480 expire at the end of 2027
    expiry = [(r["month"], r["members"], r["points"], r["value"]) for r in got["liability_expiry"].rows]
    assert expiry == [
        ("Past their date, not expired yet", 1, 15, Decimal("7.50")),
        ("2026-11", 0, 0, Decimal("0.00")),
        ("2026-12", 1, 200, Decimal("100.00")),
        ("2027-01", 1, 200, Decimal("100.00")),
        ("2027-02", 1, 40, Decimal("20.00")),
    ]
    kpis = {str(k.label): k.value for k in page.kpis}
    assert kpis["Points liability"] == Decimal("492.50")
    assert kpis["Expiring within 3 months"] == Decimal("227.50")  # 455 points


def test_a_store_sees_its_coupons_and_its_members_points_only(loyal):
    shop = loyal
    page = loyalty.page(period(D1, D2, compare="previous", store_ids=frozenset({shop.store_a.pk})))
    got = figures(page)

    assert [(r["name"], r["issued"], r["redeemed"]) for r in got["coupons_by_store"].rows] == [
        (name(shop.store_a), 1, 1)
    ]
    assert [(r["name"], r["issued"], r["redeemed"]) for r in got["coupons_by_channel"].rows] == [
        (f"POS {shop.pos.name}", 1, 1)
    ]
    assert [(r["name"], r["redeemed"]) for r in got["coupons_by_campaign"].rows] == [("Autumn 100", 1)]
    # Amy is the only member registered at store A
    kinds = {r["kind"]: (r["in"], r["out"]) for r in got["points_by_kind"].rows}
    assert (kinds["Earned"], kinds["Redeemed"], kinds["Expired"], kinds["Adjusted"]) == (
        (300, 0),
        (0, 100),
        (0, 0),
        (0, 0),
    )
    assert [(r["name"], r["points"]) for r in got["liability"].rows] == [(name(shop.store_a), 240)]
    assert [(r["month"], r["points"]) for r in got["liability_expiry"].rows] == [
        ("2026-11", 0), ("2026-12", 200), ("2027-01", 0), ("2027-02", 40),
    ]  # fmt: skip
    kpis = {str(k.label): (k.value, k.compare) for k in page.kpis}
    assert kpis["Coupons issued"] == (1, 0) and kpis["Coupons redeemed"] == (1, 0)  # D0 was at store B
    assert kpis["Points earned"] == (300, 40)
    assert kpis["Points liability"] == (Decimal("120.00"), None)


def test_a_channel_filter_narrows_the_coupons(loyal):
    shop = loyal
    got = figures(loyalty.page(period(D1, D2, channel_ids=frozenset({shop.web.pk}))))
    assert [(r["name"], r["issued"], r["redeemed"]) for r in got["coupons_by_channel"].rows] == [
        (f"WEB {shop.web.name}", 1, 1)
    ]


def test_the_page_takes_the_same_few_queries_whatever_the_data(loyal, django_assert_max_num_queries):
    # coupons 2 + 2 compared, campaign names, points 1 + 1 compared, store and channel names, liability 3
    with django_assert_max_num_queries(12):
        loyalty.page(period(D1, D2, compare="previous"))


def test_the_page_for_hq_and_for_a_store_manager(client, loyal, hq_admin, manager_a):
    client.force_login(hq_admin)
    response = client.get("/dashboard/loyalty/", {"from": "2026-11-20", "to": "2026-11-21"})
    assert response.status_code == 200
    assert response.context["page"].key == "loyalty"
    assert response.context["page"].kpis[0].value == 4

    client.force_login(manager_a)
    response = client.get("/dashboard/loyalty/", {"from": "2026-11-20", "to": "2026-11-21"})
    assert response.status_code == 200
    assert response.context["page"].kpis[0].value == 1
    assert loyal.store_b.code.encode() not in response.content
