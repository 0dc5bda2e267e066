"""Channel stock feeds: each sales channel with an enabled ``ChannelStockFeed`` is told its sellable
quantity per SKU (``selectors.channel_sellable``) whenever it changes, by a ``channel.stock_changed``
outbox event that only that channel's webhooks receive, and can pull the same figures from the API.

The path of a change, kept cheap for the sale that causes it:

1. The sale's stock update writes a ``stock.changed`` event (``services._change_level``).
2. The outbox relay hands the events to ``on_stock_changed``, which only marks their SKUs dirty: one
   ``StockFeedDirty`` row per SKU, due ``STOCK_FEED_COALESCE_SECONDS`` later, inserted with
   ``ON CONFLICT DO NOTHING`` (so a burst of 100 sales of one SKU leaves one row), and wakes the flush
   task for when it is due.
3. ``stock_feeds_flush`` (beat every second, and woken) claims the due rows (``FOR UPDATE SKIP LOCKED``)
   and deletes them *before* reading the stock, works out their quantities for every enabled channel
   in one query, and for each one that differs from ``ChannelStockPublished`` writes an event and the
   new published row. Deleting first matters: a change relayed while the flush runs either finds its
   SKU's row still there (and the flush's later read sees the change) or waits for the flush to commit
   and inserts a new row. So a burst sends one update per channel, not one per sale.
4. ``stock_feeds_reconcile`` (nightly) recomputes every SKU of every enabled channel, corrects what
   drifted (the same events, with ``reconciliation: true``) and records the run for HQ.

Flushes run side by side (each claims its own rows); a reconciliation or a republish takes the feed
lock exclusively, so no flush publishes a quantity read before the one they publish (PostgreSQL
advisory lock: shared for flushes, which skip a turn when it is taken, exclusive for the others).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Variant
from inventory import selectors
from inventory.models import ChannelStockFeed, ChannelStockPublished, StockFeedDirty, StockFeedReconciliation
from omo.core.locks import advisory_xact_lock
from omo.core.queue import enqueue
from omo.events.services import events_emit_many
from omo.org.models import SalesChannel

log = logging.getLogger(__name__)

CHANNEL_STOCK_CHANGED = "channel.stock_changed"
CHANNEL_STOCK_AGGREGATE = "channel_stock"
FEED_LOCK = "omo-stock-feeds"
FLUSH_BATCH = 500
DRIFTS_KEPT = 300  # a reconciliation run keeps this many drifts for the admin (the count is exact)


@dataclass(frozen=True)
class Feed:
    channel_id: int
    code: str


def _feeds(channel: SalesChannel | None = None) -> list[Feed]:
    """The enabled feeds of active channels (or ``channel``'s, when it has one)."""
    rows = ChannelStockFeed.objects.filter(enabled=True, channel__is_active=True)
    if channel is not None:
        rows = rows.filter(channel=channel)
    return [Feed(cid, code) for cid, code in rows.order_by("channel_id").values_list("channel_id", "channel__code")]


# --- 2. the outbox consumer -----------------------------------------------------------------------

_DIRTY = StockFeedDirty._meta.db_table


def on_stock_changed(events: list) -> None:
    """Outbox consumer of ``stock.changed`` (registered in ``InventoryConfig.ready``): marks the SKUs
    dirty, due after the coalescing window. One statement; idempotent (a SKU already waiting keeps its
    row and its due time), so a batch the relay runs again changes nothing."""
    variant_ids = sorted({event.payload["variant_id"] for event in events if event.payload.get("variant_id")})
    if not variant_ids:
        return
    due_at = connection.ops.adapt_datetimefield_value(
        timezone.now() + timedelta(seconds=settings.STOCK_FEED_COALESCE_SECONDS)
    )
    values = ", ".join(["(%s, %s)"] * len(variant_ids))
    params = [p for variant_id in variant_ids for p in (variant_id, due_at)]
    # in SKU order: two relays marking the same SKUs (their events sit in different partitions) wait
    # for each other in the same order, never in a cycle
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_DIRTY} (variant_id, due_at) VALUES {values} "  # noqa: S608
            "ON CONFLICT (variant_id) DO NOTHING RETURNING variant_id",
            params,
        )
        added = cursor.fetchall()
    if added:  # SKUs already waiting have a flush coming
        transaction.on_commit(wake_flush)


def wake_flush() -> None:
    """Asks a worker to flush when the window has passed (the beat job every second is the fallback).
    A broker that is down fails nothing: the dirty rows wait for the beat."""
    from inventory.tasks import stock_feeds_flush

    window = settings.STOCK_FEED_COALESCE_SECONDS
    enqueue(stock_feeds_flush, countdown=window, expires=window + 30)


# --- 3. the flush -----------------------------------------------------------------------------------


def _try_shared_feed_lock() -> bool:
    """The feed lock, shared and without waiting (False while a reconciliation holds it). SQLite: True."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock_shared(hashtext(%s))", [FEED_LOCK])
        return cursor.fetchone()[0]


def stock_feeds_flush(*, batch_size: int = FLUSH_BATCH, budget_seconds: float = 20.0) -> int:
    """Publishes the new quantities of the dirty SKUs that are due, a batch per short transaction, until
    none are due or the time budget is spent; returns how many channel quantities changed."""
    changed = 0
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        if not StockFeedDirty.objects.filter(due_at__lte=timezone.now()).exists():  # idle: one query
            break
        count, claimed = _flush_batch(batch_size)
        changed += count
        if claimed < batch_size:
            break
    return changed


@transaction.atomic
def _flush_batch(batch_size: int) -> tuple[int, int]:
    if not _try_shared_feed_lock():
        return 0, 0
    variant_ids = list(
        StockFeedDirty.objects.filter(due_at__lte=timezone.now())
        .select_for_update(skip_locked=True)
        .order_by("due_at", "variant_id")
        .values_list("variant_id", flat=True)[:batch_size]
    )
    if not variant_ids:
        return 0, 0
    StockFeedDirty.objects.filter(variant_id__in=variant_ids).delete()  # before the stock is read
    feeds = _feeds()
    if not feeds:
        return 0, len(variant_ids)
    computed = selectors.channel_sellable(channel_ids=[f.channel_id for f in feeds], variant_ids=variant_ids)
    published = _published(feeds, variant_ids)
    changes = [
        (feed, variant_id, computed.get((feed.channel_id, variant_id), 0), published.get((feed.channel_id, variant_id)))
        for feed in feeds
        for variant_id in variant_ids
    ]
    return len(_publish(changes, reconciliation=False)), len(variant_ids)


def _published(feeds: list[Feed], variant_ids: Iterable[int] | None) -> dict[tuple[int, int], int]:
    rows = ChannelStockPublished.objects.filter(channel_id__in=[f.channel_id for f in feeds])
    if variant_ids is not None:
        rows = rows.filter(variant_id__in=variant_ids)
    return {(c, v): q for c, v, q in rows.values_list("channel_id", "variant_id", "quantity")}


def _publish(changes, *, reconciliation: bool) -> list[dict]:
    """Of ``changes`` [(feed, variant id, quantity, published or None)], publishes those that differ
    (a SKU never published counts as 0): one ``channel.stock_changed`` event each and the new
    published row, two statements in all. Returns what changed as dicts (channel, sku, quantity,
    previous)."""
    differing = [c for c in changes if c[2] != (c[3] or 0)]
    if not differing:
        return []
    skus = dict(Variant.objects.filter(pk__in={c[1] for c in differing}).values_list("pk", "sku"))
    now = timezone.now()
    events, rows, done = [], [], []
    for feed, variant_id, quantity, previous in differing:
        if variant_id not in skus:  # deleted meanwhile
            continue
        sku = skus[variant_id]
        payload = {
            "channel": feed.code,
            "sku": sku,
            "variant_id": variant_id,
            "quantity": quantity,
            "previous": previous,
            "reconciliation": reconciliation,
        }
        events.append(
            {
                "event_type": CHANNEL_STOCK_CHANGED,
                "aggregate_type": CHANNEL_STOCK_AGGREGATE,
                "aggregate_id": f"{feed.code}:{sku}",
                "channel": feed.channel_id,
                "payload": payload,
            }
        )
        rows.append(
            ChannelStockPublished(
                channel_id=feed.channel_id, variant_id=variant_id, quantity=quantity, published_at=now
            )
        )
        done.append({"channel": feed.code, "sku": sku, "quantity": quantity, "previous": previous})
    events_emit_many(events)
    ChannelStockPublished.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["channel", "variant"], update_fields=["quantity", "published_at"]
    )
    return done


# --- 4. reconciliation and republishing --------------------------------------------------------------


def _compare_channel(feed: Feed, *, reconciliation: bool) -> tuple[set[int], list[dict]]:
    """Every SKU of one channel against what it was told, with the feed lock held exclusively (no flush
    runs meanwhile). SKUs waiting in ``StockFeedDirty`` are left to their flush when reconciling, so a
    sale of a second ago is not reported as drift. Returns (the SKUs checked, what was corrected)."""
    advisory_xact_lock(FEED_LOCK)
    computed = {v: q for (_c, v), q in selectors.channel_sellable(channel_ids=[feed.channel_id]).items()}
    published = {v: q for (_c, v), q in _published([feed], None).items()}
    waiting = set(StockFeedDirty.objects.values_list("variant_id", flat=True)) if reconciliation else set()
    checked = (set(computed) | set(published)) - waiting
    changes = [(feed, v, computed.get(v, 0), published.get(v)) for v in sorted(checked)]
    return checked, _publish(changes, reconciliation=reconciliation)


def stock_feeds_reconcile() -> StockFeedReconciliation:
    """Checks every SKU of every enabled channel against what the channel was told, sends a correction
    (``reconciliation: true``) for each difference, and records the run (one transaction per channel)."""
    feeds = _feeds()
    run = StockFeedReconciliation.objects.create(started_at=timezone.now(), channels=[f.code for f in feeds])
    checked: set[int] = set()
    drifts: list[dict] = []
    for feed in feeds:
        with transaction.atomic():
            skus, corrected = _compare_channel(feed, reconciliation=True)
        checked |= skus
        drifts += corrected
    if drifts:
        log.warning("stock feeds: the reconciliation corrected %d channel quantities", len(drifts))
    run.skus_checked, run.drift_count = len(checked), len(drifts)
    run.drifts = [
        {"channel": d["channel"], "sku": d["sku"], "published": d["previous"], "actual": d["quantity"]}
        for d in drifts[:DRIFTS_KEPT]
    ]
    run.finished_at = timezone.now()
    run.save(update_fields=["skus_checked", "drift_count", "drifts", "finished_at"])
    return run


@transaction.atomic
def stock_feed_republish(*, channel: SalesChannel) -> int:
    """Brings one channel's feed up to date at once (its buffer, its locations or the feed itself were
    changed); returns how many quantities changed. Nothing for a channel without an enabled feed."""
    feeds = _feeds(channel)
    if not feeds:
        return 0
    return len(_compare_channel(feeds[0], reconciliation=False)[1])


def stock_feed_republish_later(channel_id: int) -> None:
    """After the current transaction commits, asks a worker to republish the channel's feed. A broker
    that is down fails nothing: the nightly reconciliation catches up."""

    def send():
        from inventory.tasks import stock_feed_republish as task

        enqueue(task, (channel_id,))

    transaction.on_commit(send)
