"""The dashboard's JSON API (scoped like the pages), the nightly rollup task and the rebuild command."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from omo.dashboard import services as dashboard_services
from omo.dashboard.models import RolledUpDay, RolledUpMonth, SalesDay
from omo.dashboard.tasks import rollup_catch_up
from tests.conftest import client_for
from tests.dashboard.conftest import TODAY, counter_sale, web_order

D1 = date(2026, 11, 20)
DAYS = {"from": "2026-11-20", "to": "2026-11-20"}


def test_a_page_as_json_scoped_to_the_store_manager(shop, clerk_a, manager_a, hq_admin, frozen_today):
    counter_sale(shop, [("JEANS-M", 1)], day=D1, clerk=clerk_a)
    web_order(shop, [("TEE-M", 1)], day=D1)

    hq = client_for(hq_admin).get("/api/v1/dashboard/pages/sales/", DAYS).json()
    assert hq["kpis"][0] == {"label": "Sales", "kind": "money", "value": "1700.00", "compare": "0.00", "change": None}
    assert [f["key"] for f in hq["figures"]][:3] == ["by_day", "by_channel", "by_store"]
    mine = client_for(manager_a).get("/api/v1/dashboard/pages/sales/", DAYS).json()
    assert mine["kpis"][0]["value"] == "1200.00"
    assert [r["name"] for r in mine["figures"][2]["rows"]] == [f"{shop.store_a.code} {shop.store_a.name}"]


def test_bad_filters_unknown_pages_and_clerks_are_refused(shop, clerk_a, hq_admin, store_b, manager_a):
    bad = client_for(hq_admin).get("/api/v1/dashboard/pages/sales/", {"from": "2026-11-30", "to": "2026-11-01"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_filters"
    assert bad.json()["details"] == {"from": "The start is after the end."}
    assert client_for(hq_admin).get("/api/v1/dashboard/pages/nope/").status_code == 404
    assert client_for(clerk_a).get("/api/v1/dashboard/pages/sales/").status_code == 403
    other = client_for(manager_a).get("/api/v1/dashboard/pages/sales/", {"store": store_b.code})
    assert other.status_code == 400 and other.json()["details"] == {"store": "No such store."}


def test_the_nightly_task_is_scheduled_and_catches_up_missing_days(shop, clerk_a, frozen_today):
    assert settings.CELERY_BEAT_SCHEDULE["dashboard-rollup"]["task"] == rollup_catch_up.name
    counter_sale(shop, [("JEANS-M", 1)], day=D1, clerk=clerk_a)
    rollup_catch_up.delay()  # eager here; a real worker runs the same function
    assert RolledUpDay.objects.filter(day__range=(D1, TODAY)).count() == (TODAY - D1).days
    assert SalesDay.objects.get(day=D1).sales == Decimal("1200.00")
    RolledUpDay.objects.filter(day=date(2026, 11, 24)).delete()  # a night the worker was down
    rollup_catch_up.delay()
    assert RolledUpDay.objects.filter(day=date(2026, 11, 24)).exists()


def test_the_rebuild_command(shop, clerk_a, frozen_today):
    counter_sale(shop, [("JEANS-M", 1)], day=date(2026, 10, 5), clerk=clerk_a)
    out = StringIO()
    call_command("dashboard_rollup", "--from", "2026-10-01", "--to", "2026-11-30", stdout=out)
    assert out.getvalue().startswith("60 days rolled up")  # not today, which stays live
    assert set(RolledUpMonth.objects.values_list("month", flat=True)) == {date(2026, 10, 1)}
    assert SalesDay.objects.get(day=date(2026, 10, 5)).orders == 1


def test_hq_reads_traffic_counts_in_the_admin(client, shop, hq_admin, frozen_today):
    from omo.dashboard import services

    services.traffic_record(
        rows=[{"store": shop.store_a.code, "day": "2026-11-20", "hour": 10, "visits": 12}], source="csv", actor=hq_admin
    )
    client.force_login(hq_admin)
    page = client.get("/admin/dashboard/trafficcount/")
    assert page.status_code == 200
    assert b"/dashboard/formula/" in page.content and b"12" in page.content
    assert client.get("/admin/dashboard/trafficcount/add/").status_code == 403
    index = client.get("/admin/")
    assert b'href="/dashboard/"' in index.content


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_rebuilds_of_the_same_days_at_once_leave_one_set_of_rows(require_postgres, shop, clerk_a, frozen_today):
    """The command by hand while the nightly job runs: each deletes the days' rows, then inserts them."""
    counter_sale(shop, [("JEANS-M", 1)], day=D1, clerk=clerk_a)
    web_order(shop, [("TEE-M", 1)], day=D1)
    ready = threading.Barrier(2)

    def rebuild():
        try:
            ready.wait()
            dashboard_services.rollup_refresh(first=D1, last=D1)
        finally:
            connection.close()

    threads = [threading.Thread(target=rebuild) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert SalesDay.objects.filter(day=D1).count() == 2  # POS at store A, web shipped: once each
    assert sum(r.sales for r in SalesDay.objects.filter(day=D1)) == Decimal("1700.00")
