"""Channel stock feeds: ``stock.changed`` events written with every stock change, the sellable quantity
per channel, coalescing a burst into one update per channel, the nightly reconciliation and the pull
API."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory import feeds, selectors, services
from inventory.models import (
    ChannelLocation,
    ChannelStockBuffer,
    ChannelStockFeed,
    ChannelStockPublished,
    StockFeedDirty,
    StockFeedReconciliation,
)
from omo.events.models import OutboxEvent
from omo.events.relay import relay_partition
from omo.org import services as org
from omo.org.models import SalesChannel
from tests.conftest import client_for
from tests.factories import SalesChannelFactory, StoreFactory, make_variant
from tests.inventory.conftest import receive


@pytest.fixture
def web(warehouse, store_a):
    """Sells from the warehouse and store A, holding nothing back."""
    channel = SalesChannelFactory(code="WEB", kind="web")
    ChannelLocation.objects.create(channel=channel, location=warehouse, priority=1)
    ChannelLocation.objects.create(channel=channel, location=store_a, priority=10, offers_pickup=True)
    ChannelStockFeed.objects.create(channel=channel, buffer=0)
    return channel


@pytest.fixture
def app(warehouse):
    """Sells from the warehouse only and holds 2 units of each SKU back."""
    channel = SalesChannelFactory(code="APP", kind="app")
    ChannelLocation.objects.create(channel=channel, location=warehouse, priority=1)
    ChannelStockFeed.objects.create(channel=channel, buffer=2)
    return channel


@pytest.fixture
def market(warehouse):
    """A marketplace whose feed is switched off."""
    channel = SalesChannelFactory(code="MKT", kind="marketplace")
    ChannelLocation.objects.create(channel=channel, location=warehouse, priority=1)
    ChannelStockFeed.objects.create(channel=channel, buffer=0, enabled=False)
    return channel


def api_for(channel):
    _credential, key = org.channel_credential_issue(channel=channel, name="test", created_by=None)
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


def relay_all() -> int:
    return sum(relay_partition(p) for p in range(settings.OUTBOX_PARTITIONS))


def stock_events() -> list[dict]:
    return list(OutboxEvent.objects.filter(event_type="stock.changed").order_by("id").values_list("payload", flat=True))


def channel_events(**filters) -> list[tuple[str, str, dict]]:
    """(channel code, aggregate id, payload) of the channel.stock_changed events, in order."""
    rows = OutboxEvent.objects.filter(event_type="channel.stock_changed", **filters).order_by("id")
    codes = dict(SalesChannel.objects.values_list("pk", "code"))
    return [(codes[e.channel_id], e.aggregate_id, e.payload) for e in rows]


def publish_changes(clock) -> int:
    """Relays the outbox, lets the coalescing window pass, flushes and relays what the flush sent."""
    relay_all()
    clock.shift(timedelta(seconds=settings.STOCK_FEED_COALESCE_SECONDS + 1))
    changed = feeds.stock_feeds_flush()
    relay_all()
    return changed


def published(channel) -> dict[str, int]:
    return dict(
        ChannelStockPublished.objects.filter(channel=channel).values_list("variant__sku", "quantity").order_by("id")
    )


# --- stock.changed ---------------------------------------------------------------------------------


def test_every_stock_change_writes_a_stock_changed_event_with_the_figures_after_it(warehouse, shirt):
    receive(warehouse, shirt, 10)
    services.reservation_create(lines=[services.StockLine(shirt, warehouse, 3)], reference="order:1")
    services.stock_sell(lines=[services.StockLine(shirt, warehouse, 2)], actor=None, reference="R1")
    services.stock_level_configure(variant=shirt, location=warehouse, actor=None, safety_stock=1)
    services.stock_level_configure(variant=shirt, location=warehouse, actor=None, min_level=1, max_level=5)

    base = {"variant_id": shirt.pk, "location_id": warehouse.pk, "sku": "SHIRT-M", "location": "WH-T1"}
    assert stock_events() == [
        {**base, "on_hand": 10, "reserved": 0, "safety_stock": 0},
        {**base, "on_hand": 10, "reserved": 3, "safety_stock": 0},
        {**base, "on_hand": 8, "reserved": 3, "safety_stock": 0},
        {**base, "on_hand": 8, "reserved": 3, "safety_stock": 1},  # safety stock moves ATP too
    ]  # min/max levels do not change what can be sold: no event
    event = OutboxEvent.objects.filter(event_type="stock.changed").last()
    assert (event.aggregate_type, event.aggregate_id, event.channel_id) == (
        "stock",
        f"{shirt.pk}@{warehouse.pk}",
        None,
    )


def test_a_service_changing_one_row_several_times_writes_one_event_for_it(warehouse, cream):
    expiry = timezone.localdate() + timedelta(days=90)
    receipt = services.goods_receipt_create(
        location=warehouse,
        supplier="Test supplier",
        actor=None,
        lines=[
            {"variant": cream, "quantity": 4, "unit_cost": Decimal(50), "lot_code": "L1", "expiry_date": expiry},
            {"variant": cream, "quantity": 6, "unit_cost": Decimal(50), "lot_code": "L2", "expiry_date": expiry},
        ],
    )

    services.goods_receipt_post(receipt=receipt, actor=None)

    assert [(e["on_hand"], e["reserved"]) for e in stock_events()] == [(10, 0)]


def test_a_change_that_rolls_back_leaves_no_event(warehouse, store_a, shirt):
    receive(warehouse, shirt, 2)
    before = stock_events()

    with pytest.raises(RuntimeError), transaction.atomic():
        services.stock_sell(lines=[services.StockLine(shirt, warehouse, 1)], actor=None, reference="R1")
        raise RuntimeError("the sale fails after the stock was taken")
    with pytest.raises(services.InsufficientStock):  # one line short: the other line's change goes too
        services.stock_sell(
            lines=[services.StockLine(shirt, warehouse, 2), services.StockLine(shirt, store_a, 1)],
            actor=None,
            reference="R2",
        )

    assert stock_events() == before
    assert len(before) == 1


def test_the_events_cost_a_sale_no_statement_on_postgresql(require_postgres, warehouse, db):
    variants = [make_variant(style_code=f"P{n}") for n in range(3)]
    for variant in variants:
        receive(warehouse, variant, 5)
    lines = [services.StockLine(v, warehouse, 1) for v in variants]

    with CaptureQueriesContext(connection) as queries:
        services.stock_sell(lines=lines, actor=None, reference="R1")

    statements = [q["sql"] for q in queries.captured_queries]
    # a savepoint, one UPDATE per line (writing its event), the movements, the release
    assert len(statements) == 6, statements
    outbox = [sql for sql in statements if "events_outboxevent" in sql]
    assert len(outbox) == 3 and all(sql.startswith("WITH u AS (UPDATE") for sql in outbox)
    assert len(stock_events()) == 6  # 3 receipts, 3 sale lines


# --- the sellable quantity ---------------------------------------------------------------------------


def test_sellable_is_the_atp_of_the_channels_locations_less_its_buffer_never_below_zero(
    web, app, warehouse, store_a, store_b, shirt, cream
):
    closed = StoreFactory(code="S-CLOSED", is_active=False)
    ChannelLocation.objects.create(channel=web, location=closed)
    receive(warehouse, shirt, 10)
    services.reservation_create(lines=[services.StockLine(shirt, warehouse, 3)], reference="order:1")
    services.stock_level_configure(variant=shirt, location=warehouse, actor=None, safety_stock=2)
    receive(store_a, shirt, 4)
    services.stock_level_configure(variant=shirt, location=store_a, actor=None, safety_stock=6)
    receive(store_b, shirt, 7)  # not a web location
    receive(closed, shirt, 9)  # inactive
    today = timezone.localdate()
    receive(warehouse, cream, 5, lot_code="SOON", expiry_date=today + timedelta(days=1))
    receive(warehouse, cream, 3, lot_code="LATER", expiry_date=today + timedelta(days=30))
    ids = [web.pk, app.pk]

    # shirt: warehouse 10 - 3 - 2 = 5, store A 4 - 0 - 6 < 0 counts 0; cream: 8 on hand
    assert selectors.channel_sellable(channel_ids=ids, variant_ids=[shirt.pk, cream.pk]) == {
        (web.pk, shirt.pk): 5,
        (web.pk, cream.pk): 8,
        (app.pk, shirt.pk): 3,  # buffer 2
        (app.pk, cream.pk): 6,
    }
    # two days on, the first lot has expired: only the 3 of the later lot can be sold
    later = today + timedelta(days=2)
    assert selectors.channel_sellable(channel_ids=ids, variant_ids=[cream.pk], today=later) == {
        (web.pk, cream.pk): 3,
        (app.pk, cream.pk): 1,
    }
    # a SKU's own buffer wins over the channel's, and the result never goes below 0
    ChannelStockBuffer.objects.create(feed=web.stock_feed, variant=shirt, buffer=9)
    ChannelStockBuffer.objects.create(feed=app.stock_feed, variant=shirt, buffer=1)
    assert selectors.channel_sellable(channel_ids=ids, variant_ids=[shirt.pk]) == {
        (web.pk, shirt.pk): 0,
        (app.pk, shirt.pk): 4,
    }
    # every SKU of a channel at once, in one query
    with CaptureQueriesContext(connection) as queries:
        everything = selectors.channel_sellable(channel_ids=[app.pk], today=later)
    assert everything == {(app.pk, shirt.pk): 4, (app.pk, cream.pk): 1}
    assert len(queries.captured_queries) == 1


# --- coalescing and the flush -------------------------------------------------------------------------


def test_a_burst_of_50_sales_sends_one_update_per_enabled_channel(web, app, market, warehouse, shirt, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    receive(warehouse, shirt, 100)
    assert publish_changes(time_machine) == 2
    first = channel_events()

    for n in range(50):
        services.stock_sell(lines=[services.StockLine(shirt, warehouse, 1)], actor=None, reference=f"R{n}")
    assert relay_all() == 50
    assert StockFeedDirty.objects.count() == 1  # one row for the SKU however many sales
    assert feeds.stock_feeds_flush() == 0  # the window has not passed yet
    time_machine.shift(timedelta(seconds=settings.STOCK_FEED_COALESCE_SECONDS + 1))
    assert feeds.stock_feeds_flush() == 2

    assert first == [
        ("WEB", "WEB:SHIRT-M", payload("WEB", shirt, 100, None)),
        ("APP", "APP:SHIRT-M", payload("APP", shirt, 98, None)),
    ]
    assert channel_events()[2:] == [
        ("WEB", "WEB:SHIRT-M", payload("WEB", shirt, 50, 100)),
        ("APP", "APP:SHIRT-M", payload("APP", shirt, 48, 98)),
    ]  # and nothing for the marketplace, whose feed is off
    assert published(web) == {"SHIRT-M": 50}
    assert published(app) == {"SHIRT-M": 48}
    assert published(market) == {}
    assert StockFeedDirty.objects.count() == 0


def test_a_channel_whose_feed_is_off_gets_nothing(web, market, warehouse, shirt, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    receive(warehouse, shirt, 5)

    assert publish_changes(time_machine) == 1
    assert feeds.stock_feed_republish(channel=market) == 0
    run = feeds.stock_feeds_reconcile()

    assert [code for code, _agg, _p in channel_events()] == ["WEB"]
    assert OutboxEvent.objects.filter(channel_id=market.pk).count() == 0
    assert run.channels == ["WEB"]
    assert published(market) == {}


def payload(channel: str, variant, quantity: int, previous: int | None, *, reconciliation=False) -> dict:
    return {
        "channel": channel,
        "sku": variant.sku,
        "variant_id": variant.pk,
        "quantity": quantity,
        "previous": previous,
        "reconciliation": reconciliation,
    }


def test_no_event_when_a_channels_quantity_did_not_change(web, app, store_b, warehouse, shirt, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    receive(warehouse, shirt, 1)
    publish_changes(time_machine)
    before = channel_events()

    receive(store_b, shirt, 5)  # a location neither channel sells from
    services.stock_level_configure(variant=shirt, location=warehouse, actor=None, safety_stock=0)  # no change
    receive(warehouse, shirt, 1)
    services.stock_sell(lines=[services.StockLine(shirt, warehouse, 1)], actor=None, reference="R1")  # back to 1

    assert publish_changes(time_machine) == 0
    assert channel_events() == before
    assert [(code, p["quantity"]) for code, _agg, p in before] == [("WEB", 1)]  # APP holds 2 back: 0, never sent
    assert StockFeedDirty.objects.count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_flushes_side_by_side_publish_each_sku_once(require_postgres, web, warehouse, settings):
    settings.STOCK_FEED_COALESCE_SECONDS = 3600  # the flushes woken by the set-up's commits find nothing due
    variants = [make_variant(style_code=f"P{n:02d}") for n in range(40)]
    for variant in variants:
        receive(warehouse, variant, 5)  # each commit relays at once (eager tasks): 40 dirty SKUs
    assert StockFeedDirty.objects.count() == 40
    StockFeedDirty.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    barrier, errors = threading.Barrier(4), []

    def flush():
        try:
            barrier.wait(timeout=30)
            feeds.stock_feeds_flush(batch_size=5)
        except Exception as error:
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=flush) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    sent = OutboxEvent.objects.filter(event_type="channel.stock_changed").values_list("aggregate_id", flat=True)
    assert sorted(sent) == sorted(f"WEB:{v.sku}" for v in variants)
    assert published(web) == {v.sku: 5 for v in variants}
    assert StockFeedDirty.objects.count() == 0


def test_the_consumer_marks_a_sku_once_and_keeps_its_due_time(web, warehouse, shirt, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    receive(warehouse, shirt, 3)
    events = list(OutboxEvent.objects.filter(event_type="stock.changed"))

    feeds.on_stock_changed(events)
    due = StockFeedDirty.objects.get().due_at
    time_machine.shift(timedelta(seconds=1))
    feeds.on_stock_changed(events)  # the relay running the same batch again

    assert list(StockFeedDirty.objects.values_list("variant_id", "due_at")) == [(shirt.pk, due)]
    assert due == timezone.now() - timedelta(seconds=1) + timedelta(seconds=settings.STOCK_FEED_COALESCE_SECONDS)


def test_waking_the_flush_never_fails_when_the_broker_is_down(monkeypatch, caplog):
    from inventory import tasks

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    conf = tasks.stock_feeds_flush.app.conf
    monkeypatch.setattr(tasks.stock_feeds_flush, "apply_async", down)  # a broker that is down
    saved, conf.task_always_eager = conf.task_always_eager, False
    try:
        feeds.wake_flush()  # logs a warning; the beat job flushes when the broker is back
    finally:
        conf.task_always_eager = saved
    assert "could not queue inventory.tasks.stock_feeds_flush (ConnectionError)" in caplog.text


# --- reconciliation and republishing -----------------------------------------------------------------


def test_the_reconciliation_corrects_drift_and_records_the_run(web, app, warehouse, shirt, cream, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    hat = make_variant(style_code="HAT")
    receive(warehouse, shirt, 10)
    receive(warehouse, hat, 4)
    receive(warehouse, cream, 6, lot_code="L1", expiry_date=timezone.localdate() + timedelta(days=60))
    publish_changes(time_machine)
    sent = len(channel_events())
    # the published table goes wrong behind the feed's back
    ChannelStockPublished.objects.filter(channel=web, variant=shirt).update(quantity=7)
    ChannelStockPublished.objects.filter(channel=app, variant=hat).delete()
    ChannelStockPublished.objects.create(channel=app, variant=make_variant(style_code="GONE"), quantity=3,
                                         published_at=timezone.now())  # fmt: skip

    run = feeds.stock_feeds_reconcile()

    corrections = channel_events()[sent:]
    assert [(code, agg, p["quantity"], p["previous"], p["reconciliation"]) for code, agg, p in corrections] == [
        ("WEB", "WEB:SHIRT-M", 10, 7, True),
        ("APP", "APP:HAT-M", 2, None, True),
        ("APP", "APP:GONE-M", 0, 3, True),
    ]
    assert published(web) == {"SHIRT-M": 10, "HAT-M": 4, "CREAM-50ML": 6}
    assert published(app) == {"SHIRT-M": 8, "CREAM-50ML": 4, "GONE-M": 0, "HAT-M": 2}
    run.refresh_from_db()
    assert (run.channels, run.skus_checked, run.drift_count) == (["WEB", "APP"], 4, 3)
    assert run.drifts == [
        {"channel": "WEB", "sku": "SHIRT-M", "published": 7, "actual": 10},
        {"channel": "APP", "sku": "HAT-M", "published": None, "actual": 2},
        {"channel": "APP", "sku": "GONE-M", "published": 3, "actual": 0},
    ]
    assert run.finished_at is not None
    # a second run finds nothing
    assert feeds.stock_feeds_reconcile().drift_count == 0
    assert StockFeedReconciliation.objects.count() == 2


def test_a_sku_waiting_for_its_flush_is_not_drift(web, warehouse, shirt, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    receive(warehouse, shirt, 5)
    publish_changes(time_machine)
    services.stock_sell(lines=[services.StockLine(shirt, warehouse, 1)], actor=None, reference="R1")
    relay_all()  # marked dirty, not yet flushed

    assert feeds.stock_feeds_reconcile().drift_count == 0
    time_machine.shift(timedelta(seconds=settings.STOCK_FEED_COALESCE_SECONDS + 1))
    assert feeds.stock_feeds_flush() == 1
    assert published(web) == {"SHIRT-M": 4}


def test_a_new_buffer_is_published_by_a_republish(web, warehouse, shirt, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    receive(warehouse, shirt, 5)
    publish_changes(time_machine)
    ChannelStockFeed.objects.filter(channel=web).update(buffer=3)

    assert feeds.stock_feed_republish(channel=web) == 1

    assert channel_events()[-1][2] == payload("WEB", shirt, 2, 5)


# --- the pull API -----------------------------------------------------------------------------------


def test_the_api_lists_the_calling_channels_quantities_only(web, app, market, warehouse, shirt, hq_admin, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    hat = make_variant(style_code="HAT")
    receive(warehouse, shirt, 10)
    receive(warehouse, hat, 1)
    publish_changes(time_machine)
    time_machine.shift(timedelta(minutes=5))
    services.stock_sell(lines=[services.StockLine(shirt, warehouse, 4)], actor=None, reference="R1")
    publish_changes(time_machine)
    later = timezone.now()
    web_api = api_for(web)

    everything = web_api.get("/api/v1/inventory/channel-stock/")
    since = web_api.get(
        "/api/v1/inventory/channel-stock/", {"updated_since": (later - timedelta(seconds=1)).isoformat()}
    )
    app_view = api_for(app).get("/api/v1/inventory/channel-stock/").json()

    assert everything.status_code == 200
    assert [(r["sku"], r["quantity"]) for r in everything.json()["results"]] == [("HAT-M", 1), ("SHIRT-M", 6)]
    assert everything.json()["count"] == 2
    assert [(r["sku"], r["quantity"]) for r in since.json()["results"]] == [("SHIRT-M", 6)]
    assert [(r["sku"], r["quantity"]) for r in app_view["results"]] == [("SHIRT-M", 4)]  # HAT: 1 - 2 < 0, never sent
    off = api_for(market).get("/api/v1/inventory/channel-stock/")
    assert (off.status_code, off.json()["code"]) == (404, "stock_feed_disabled")
    assert client_for(hq_admin).get("/api/v1/inventory/channel-stock/").status_code == 403
