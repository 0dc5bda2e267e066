"""The retail formula and the OMO member figures against values computed by hand; traffic in through the
API and a CSV upload."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from members import services as member_services
from omo.dashboard import services as dashboard
from omo.dashboard.models import MemberSegmentMonth, RolledUpMonth, TrafficCount
from omo.dashboard.segments import segment_figures, segment_periods
from omo.dashboard.selectors import formula, members
from omo.org.services import channel_credential_issue
from tests.conftest import client_for
from tests.dashboard.conftest import TODAY, counter_sale, period, web_order
from tests.factories import SalesChannelFactory
from tests.inventory.conftest import receive

D1, D2 = date(2026, 11, 20), date(2026, 11, 21)


def traffic(store=None, channel=None, day=D1, hour=None, visits=0):
    row = {"day": day.isoformat(), "visits": visits}
    row.update({"store": store.code, "hour": hour} if store else {"channel": channel.code})
    return row


# --- traffic x conversion x ticket ---------------------------------------------------------------------


@pytest.fixture
def formula_week(shop, clerk_a, hq_admin, frozen_today):
    """Store A: 3 counter sales (520 + 1,200 + 300 = 2,020) and 40 visitors over two days; the web: 2
    orders (500 + 1,200) and 100 sessions; an app channel with 50 sessions and no order; store B: 10
    visitors, no sale; a web order picked up at store A does not count as a walk-in sale."""
    app = SalesChannelFactory(code="APP", kind="app")
    counter_sale(shop, [("TEE-M", 1)], day=D1, clerk=clerk_a)
    counter_sale(shop, [("JEANS-M", 1)], day=D1, clerk=clerk_a)
    counter_sale(shop, [("CAP-M", 1)], day=D2, clerk=clerk_a)
    web_order(shop, [("TEE-M", 1)], day=D1)
    web_order(shop, [("JEANS-M", 1)], day=D2, fulfilment="pickup", store=shop.store_a)
    dashboard.traffic_record(
        rows=[
            traffic(shop.store_a, day=D1, hour=11, visits=15), traffic(shop.store_a, day=D1, hour=15, visits=10),
            traffic(shop.store_a, day=D2, hour=11, visits=15), traffic(shop.store_b, day=D2, hour=12, visits=10),
            traffic(channel=shop.web, day=D1, visits=60), traffic(channel=shop.web, day=D2, visits=40),
            traffic(channel=app, day=D1, visits=50),
        ],
        source="api", actor=hq_admin,
    )  # fmt: skip
    return shop, app


def test_the_formula_per_store_and_online_multiplies_out_to_sales(formula_week):
    shop, _app = formula_week
    stores, online = formula.formula_rows(period(D1, D2))

    a = next(r for r in stores if r["name"].startswith(shop.store_a.code))
    assert (a["traffic"], a["orders"], a["conversion"], a["ticket"], a["sales"]) == (
        40,
        3,
        Decimal("0.0750"),
        Decimal("673.33"),
        Decimal("2020.00"),
    )
    b = next(r for r in stores if r["name"].startswith(shop.store_b.code))
    assert (b["traffic"], b["orders"], b["conversion"], b["sales"]) == (10, 0, Decimal("0.0000"), Decimal("0.00"))
    web = next(r for r in online if r["name"].startswith("WEB"))
    assert (web["traffic"], web["orders"], web["conversion"], web["ticket"], web["sales"]) == (
        100,
        2,
        Decimal("0.0200"),
        Decimal("850.00"),
        Decimal("1700.00"),
    )
    app_row = next(r for r in online if r["name"].startswith("APP"))
    assert (app_row["traffic"], app_row["orders"], app_row["conversion"]) == (50, 0, Decimal("0.0000"))
    # traffic x conversion x ticket = sales (to the cent of the rounded ticket)
    assert abs(a["traffic"] * (Decimal(a["orders"]) / a["traffic"]) * a["ticket"] - a["sales"]) < Decimal("0.02")

    page = formula.page(period(D1, D2, compare="none"))
    kpi = {str(k.label): k.value for k in page.kpis}
    assert (kpi["Store traffic"], kpi["Store conversion"]) == (50, Decimal("0.0600"))
    assert (kpi["Online sessions"], kpi["Online conversion"], kpi["Online sales"]) == (
        150,
        Decimal("0.0133"),
        Decimal("1700.00"),
    )
    by_hour = {r["hour"]: (r["traffic"], r["orders"]) for r in {f.key: f for f in page.figures}["stores_by_hour"].rows}
    assert by_hour == {"11:00": (30, 0), "12:00": (10, 3), "15:00": (10, 0)}  # the test sales are at noon


def test_a_store_manager_sees_their_store_and_no_online_rows(formula_week, manager_a):
    shop, _app = formula_week
    page = formula.page(period(D1, D2, compare="none", store_ids=frozenset({shop.store_a.pk})))
    assert [f.key for f in page.figures] == ["stores", "stores_by_day", "stores_by_hour"]
    assert [r["traffic"] for r in page.figures[0].rows] == [40]


def test_traffic_sent_again_replaces_and_bad_rows_change_nothing(formula_week, hq_admin):
    shop, _app = formula_week
    api = client_for(hq_admin)
    response = api.post(
        "/api/v1/dashboard/traffic/",
        {"rows": [traffic(shop.store_a, day=D1, hour=11, visits=20), traffic(shop.store_a, day=D1, hour=12, visits=5)]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json() == {"rows": 2, "created": 1, "updated": 1}
    assert TrafficCount.objects.get(store=shop.store_a, day=D1, hour=11).visits == 20

    before = list(TrafficCount.objects.values_list("pk", "visits").order_by("pk"))
    bad = api.post(
        "/api/v1/dashboard/traffic/",
        {"rows": [
            traffic(shop.store_a, day=D1, hour=13, visits=9),
            {"store": shop.store_a.code, "day": "2026-11-20", "hour": 24, "visits": 1},
            {"channel": "NOPE", "day": "2026-11-20", "visits": 1},
            {"store": shop.store_a.code, "channel": "WEB", "day": "2026-11-20", "hour": 1, "visits": 1},
            {"channel": "WEB", "day": (TODAY.replace(day=30)).isoformat(), "hour": 3, "visits": 1},
        ]},
        format="json",
    )  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_traffic"
    assert set(bad.json()["details"]) == {"2", "3", "4", "5"}
    assert list(TrafficCount.objects.values_list("pk", "visits").order_by("pk")) == before


def test_store_managers_send_only_their_own_counts_and_channels_only_their_sessions(formula_week, manager_a, api):
    shop, app = formula_week
    mine = client_for(manager_a).post(
        "/api/v1/dashboard/traffic/", {"rows": [traffic(shop.store_a, day=D2, hour=18, visits=7)]}, format="json"
    )
    assert mine.status_code == 201
    theirs = client_for(manager_a).post(
        "/api/v1/dashboard/traffic/", {"rows": [traffic(shop.store_b, day=D2, hour=18, visits=7)]}, format="json"
    )
    assert theirs.status_code == 400
    assert not TrafficCount.objects.filter(store=shop.store_b, hour=18).exists()

    _credential, key = channel_credential_issue(channel=app, name="app analytics", created_by=None)
    api.credentials(HTTP_X_API_KEY=key)
    own = api.post("/api/v1/dashboard/traffic/", {"rows": [traffic(channel=app, day=D2, visits=33)]}, format="json")
    assert own.status_code == 201
    other = api.post(
        "/api/v1/dashboard/traffic/", {"rows": [traffic(channel=shop.web, day=D2, visits=1)]}, format="json"
    )
    assert other.status_code == 403
    assert TrafficCount.objects.get(channel=shop.web, day=D2).visits == 40
    assert api.get("/api/v1/dashboard/traffic/").status_code == 403  # read by staff only


def test_the_csv_upload_records_rows_and_reports_bad_ones(client, formula_week, hq_admin):
    shop, _app = formula_week
    client.force_login(hq_admin)
    body = f"store,channel,day,hour,visits\n{shop.store_b.code},,2026-11-21,13,12\n,WEB,2026-11-22,,70\n"
    response = client.post(
        "/dashboard/traffic/upload/", {"file": SimpleUploadedFile("t.csv", ("\ufeff" + body).encode())}, follow=True
    )
    assert response.status_code == 200
    assert TrafficCount.objects.get(store=shop.store_b, day=D2, hour=13).visits == 12
    assert TrafficCount.objects.get(channel=shop.web, day=date(2026, 11, 22)).visits == 70
    bad = client.post(
        "/dashboard/traffic/upload/", {"file": SimpleUploadedFile("t.csv", b"shop,visits\nX,1\n")}, follow=True
    )
    assert "store, channel, day, hour, visits" in bad.content.decode()


# --- OMO members ---------------------------------------------------------------------------------------


@pytest.fixture
def omo_members(shop, clerk_a, frozen_today):
    """This period (D1-D2): Mei buys in store A (520) and online (1,200): both; Ken online only (300 +
    500 = 800, two orders); Ann in store B only (1,200). The period before (D1-2 .. D1-1): Mei bought in
    store only, Ken did not buy, Bo (registered at store A) bought online and not since."""
    mei = shop.member
    ken = member_services.member_register(phone="0922000111", name="Ken").member
    ann = member_services.member_register(phone="0933000222", name="Ann").member
    bo = member_services.member_register(phone="0944000333", name="Bo", store=shop.store_a).member
    receive(shop.store_b, shop.jeans, 2)
    counter_sale(shop, [("TEE-M", 1)], day=D1, clerk=clerk_a, member=mei)
    web_order(shop, [("JEANS-M", 1)], day=D2, member=mei)
    web_order(shop, [("CAP-M", 1)], day=D1, member=ken)
    web_order(shop, [("TEE-M", 1)], day=D2, member=ken)
    counter_sale(shop, [("JEANS-M", 1)], day=D2, store=shop.store_b, member=ann)
    counter_sale(shop, [("CAP-M", 1)], day=date(2026, 11, 18), clerk=clerk_a, member=mei)
    web_order(shop, [("CAP-M", 1)], day=date(2026, 11, 19), member=bo)
    return {"mei": mei, "ken": ken, "ann": ann, "bo": bo}


def test_the_segments_frequency_and_spend_per_member(omo_members):
    page = members.page(period(D1, D2))
    rows = {r["segment"]: r for r in page.figures[0].rows}

    both, online, store = rows["Both channels (OMO)"], rows["Online only"], rows["Store only"]
    assert (both["members"], both["purchases"], both["frequency"], both["spend"], both["per_member"]) == (
        1,
        2,
        Decimal("2.0000"),
        Decimal("1720.00"),
        Decimal("1720.00"),
    )
    assert (online["members"], online["purchases"], online["spend"], online["per_member"]) == (
        1,
        2,
        Decimal("800.00"),
        Decimal("800.00"),
    )
    assert (store["members"], store["purchases"], store["per_member"]) == (1, 1, Decimal("1200.00"))
    assert both["member_share"] == Decimal("0.3333")
    assert both["spend_share"] == Decimal("0.4624")  # 1,720 of 3,720
    kpi = {str(k.label): k for k in page.kpis}
    assert (kpi["Members who bought"].value, kpi["Members who bought"].compare) == (3, 2)
    assert kpi["Spend per single-channel member"].value == Decimal("1000.00")  # (800 + 1,200) / 2
    assert kpi["OMO members spend"].value == Decimal("1.7200")


def test_how_members_moved_between_the_periods(omo_members):
    moves = {f.key: f for f in members.page(period(D1, D2)).figures}["moves"].rows
    table = {
        r["then"]: {k: v for k, v in r.items() if k in ("both", "store_only", "online_only", "none")} for r in moves
    }
    assert table["Store only"] == {"both": 1, "store_only": 0, "online_only": 0, "none": 0}  # Mei
    assert table["Online only"] == {"both": 0, "store_only": 0, "online_only": 0, "none": 1}  # Bo lapsed
    assert table["No purchase"] == {"both": 0, "store_only": 1, "online_only": 1, "none": None}  # Ann, Ken new


def test_a_store_sees_the_members_registered_there_or_who_bought_there(omo_members, shop):
    only_a = segment_figures(*period(D1, D2).bounds, {shop.store_a.pk})
    assert {seg: f["members"] for seg, f in only_a.items()} == {"both": 1}  # Mei; Bo (registered) did not buy
    before = segment_figures(*period(date(2026, 11, 18), date(2026, 11, 19)).bounds, {shop.store_a.pk})
    assert {seg: f["members"] for seg, f in before.items()} == {"store_only": 1, "online_only": 1}  # Mei, Bo


def test_one_scan_of_both_periods_gives_each_periods_figures_and_the_moves(omo_members, shop):
    """The page reads both periods in one query: its figures must be those of each period alone, for
    every store and for one, also when the periods overlap (a comparison a year back over 731 days)."""
    before, now = period(date(2026, 11, 18), date(2026, 11, 19)), period(D1, D2)
    overlapping = period(date(2026, 11, 18), D1)
    for stores in (None, {shop.store_a.pk}, {shop.store_b.pk}):
        for then in (before, overlapping):
            figures_then, figures_now, _moves = segment_periods(then.bounds, now.bounds, stores)
            assert figures_then == segment_figures(*then.bounds, stores), (stores, then)
            assert figures_now == segment_figures(*now.bounds, stores), (stores, then)
    _then, _now, moves = segment_periods(before.bounds, now.bounds, {shop.store_a.pk})
    # Mei bought at store A; Bo registered there. Ken and Ann never touched store A.
    assert moves == {("store_only", "both"): 1, ("online_only", "none"): 1}
    _then, _now, moves = segment_periods(overlapping.bounds, now.bounds, None)
    # Mei's D1 counter sale is in both periods; Ken's D1 web order too; Bo's 11-19 only then; Ann D2 only now
    assert moves == {("store_only", "both"): 1, ("online_only", "online_only"): 1,
                     ("online_only", "none"): 1, ("none", "store_only"): 1}  # fmt: skip


def test_the_monthly_trend_is_the_same_rolled_up_and_live(omo_members, shop):
    filters = period(date(2026, 11, 1), TODAY)
    live = members.trend(filters).rows
    october = date(2026, 10, 15)
    web_order(shop, [("CAP-M", 1)], day=october, member=omo_members["ann"])
    live = members.trend(filters).rows
    assert live[-2]["online_only"] == 1 and live[-2]["month"] == "2026-10"

    dashboard.rollup_catch_up()
    assert set(RolledUpMonth.objects.values_list("month", flat=True)) == {date(2026, 10, 1)}  # November is live
    assert MemberSegmentMonth.objects.filter(month=date(2026, 10, 1), store=None).get().members == 1
    assert members.trend(filters).rows == live
    assert live[-1]["both"] == 1 and live[-1]["omo_share"] == Decimal("0.2500")  # Mei of Mei, Ken, Ann, Bo


def test_the_pages_render_for_hq(client, omo_members, hq_admin):
    client.force_login(hq_admin)
    for key in ("formula", "members"):
        response = client.get(f"/dashboard/{key}/", {"from": "2026-11-20", "to": "2026-11-21"})
        assert response.status_code == 200, key
    data = client.get("/api/v1/dashboard/pages/members/", {"from": "2026-11-20", "to": "2026-11-21"}).json()
    assert data["figures"][0]["rows"][0]["members"] == 1
