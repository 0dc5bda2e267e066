"""Traffic for the demo's dashboard: each store's door counter per hour and the web shop's and app's
sessions per day over the demo's four months of orders, so conversion reads like a real shop's (a
store turns about a quarter of its visitors into buyers, the web 2-3%); then the daily and monthly
rollups, so the dashboard opens on rolled-up days as it does in production. Deterministic; a second
run finds the counts and adds nothing."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from django.db.models.functions import ExtractHour, TruncDate
from django.utils import timezone

from omo.dashboard import services as dashboard
from omo.dashboard.models import TrafficCount
from omo.org.models import Location, SalesChannel
from orders.models import Order

DAYS = 120
OPEN_HOURS = range(11, 22)


def seed_dashboard(result) -> None:
    if TrafficCount.objects.exists():
        return
    rng = random.Random(20261203)  # noqa: S311 (demo data, not secrets)
    today = timezone.localdate()
    first = today - timedelta(days=DAYS)
    since = timezone.make_aware(timezone.datetime.combine(first, timezone.datetime.min.time()))
    pos_orders = Counter(
        (row["store_id"], row["day"], row["hour"])
        for row in Order.objects.filter(paid_at__gte=since, channel__kind=SalesChannel.Kind.POS, store__isnull=False)
        .annotate(day=TruncDate("paid_at"), hour=ExtractHour("paid_at"))
        .values("store_id", "day", "hour")
    )
    online_orders = Counter(
        (row["channel_id"], row["day"])
        for row in Order.objects.filter(paid_at__gte=since, channel__kind__in=[SalesChannel.Kind.WEB, SalesChannel.Kind.APP])  # noqa: E501
        .annotate(day=TruncDate("paid_at"))
        .values("channel_id", "day")
    )  # fmt: skip
    rows = []
    for store in Location.objects.filter(kind=Location.Kind.STORE, is_active=True).order_by("code"):
        for n in range(DAYS + 1):
            day = first + timedelta(days=n)
            weekend = day.weekday() >= 5
            for hour in OPEN_HOURS:
                busy = 1.6 if hour in (13, 14, 19, 20) else 1.0
                base = rng.randint(3, 9) * busy * (1.5 if weekend else 1.0)
                buyers = pos_orders.get((store.pk, day, hour), 0)
                rows.append({"store": store.code, "day": day.isoformat(), "hour": hour,
                             "visits": int(base + buyers * rng.uniform(3.0, 5.0))})  # fmt: skip
    for channel in SalesChannel.objects.filter(kind__in=[SalesChannel.Kind.WEB, SalesChannel.Kind.APP]):
        for n in range(DAYS + 1):
            day = first + timedelta(days=n)
            orders = online_orders.get((channel.pk, day), 0)
            rows.append({"channel": channel.code, "day": day.isoformat(),
                         "visits": int(rng.randint(80, 160) + orders * rng.uniform(30, 50))})  # fmt: skip
    recorded = dashboard.traffic_record(rows=rows, source="api", actor=None)
    result.count("traffic counts", recorded["created"])
    result.count("dashboard days rolled up", dashboard.rollup_catch_up())
