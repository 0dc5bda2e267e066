"""The audit trail's write overhead: the same writes with the audit triggers firing, skipped with
``pgtrigger.ignore()``, and disabled in the database, one after the other in the same run.

- 10,000 stock adjustments (``BENCH_AUDIT_OPERATIONS``; ``inventory.services.stock_adjust``, +1 each,
  on one SKU and location): each updates the stock level's ``on_hand``, so the trigger writes one event per adjustment;
- 10,000 points earns (``members.services.points_earn``, over 100 members): each updates the
  member's ``points_balance`` (one event; the lot and the entry are ledger inserts, not tracked);
- one bulk ``UPDATE`` of 10,000 members' balances in a single statement (10,000 events).

The audited runs open a ``pghistory.context`` (as a request or a job does), so they also pay for the
context written beside each event. Modes alternate in rounds so drift hits them alike.
"""

from __future__ import annotations

import os
import statistics
import time

OPERATIONS = int(os.environ.get("BENCH_AUDIT_OPERATIONS", "10000"))  # smaller while developing
ROUNDS = 4
MEMBERS = 100
BULK_MEMBERS = 10_000
MODES = ("no triggers", "pgtrigger.ignore", "audited")


def _setup():
    from inventory.models import StockLevel
    from inventory.services import stock_adjust
    from members.models import Member
    from omo.org.models import Location
    from tests.factories import make_variant

    location, _ = Location.objects.get_or_create(code="WH-AUDIT", defaults={"name": "Audit bench", "kind": "warehouse"})
    variant = make_variant(style_code=f"AUDIT{int(time.time() * 1000) % 10**8}")
    stock_adjust(variant=variant, location=location, quantity=1, reason="bench", actor=None)
    StockLevel.objects.get(variant=variant, location=location)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO members_member (member_no, name, phone, status, referral_code, points_balance, profile,
                                        created_at, updated_at)
            SELECT 'A' || lpad(g::text, 9, '0'), '', '+8869' || lpad(g::text, 8, '0'), 'active',
                   'Q' || lpad(g::text, 9, '0'), 0, '{}', now(), now()
            FROM generate_series(1, %s) g
            ON CONFLICT DO NOTHING""",
            [BULK_MEMBERS],
        )
        cursor.execute("ANALYZE")
    members = list(Member.objects.filter(member_no__startswith="A").order_by("id")[:MEMBERS])
    return variant, location, members


def _audit_triggers() -> list[tuple[str, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE tgname LIKE 'pgtrigger_audit_%' ORDER BY 1, 2"
        )
        return cursor.fetchall()


def _set_triggers(triggers, enabled: bool) -> None:
    from django.db import connection

    verb = "ENABLE" if enabled else "DISABLE"
    with connection.cursor() as cursor:
        for table, name in triggers:
            cursor.execute(f'ALTER TABLE {table} {verb} TRIGGER "{name}"')


def _in_mode(mode, triggers, work) -> float:
    import pghistory
    import pgtrigger

    _set_triggers(triggers, enabled=mode != "no triggers")
    try:
        t = time.perf_counter()
        if mode == "audited":
            with pghistory.context(job="bench.audit"):
                work()
        elif mode == "pgtrigger.ignore":
            with pgtrigger.ignore():
                work()
        else:
            work()
        return time.perf_counter() - t
    finally:
        _set_triggers(triggers, enabled=True)


def _event_count() -> int:
    from omo.audit.models import TRACKED

    return sum(model.objects.count() for model in TRACKED)


def run() -> dict:
    from django.db import connection

    from inventory.services import stock_adjust
    from members.services import points_earn

    variant, location, members = _setup()
    triggers = _audit_triggers()
    per_round = OPERATIONS // ROUNDS

    def adjustments():
        for _ in range(per_round):
            stock_adjust(variant=variant, location=location, quantity=1, reason="bench", actor=None)

    def earns():
        for i in range(per_round):
            points_earn(member=members[i % MEMBERS], points=1, reference=f"bench-{i}")

    def bulk():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE members_member SET points_balance = points_balance + 1 WHERE member_no LIKE 'A%%'")
            assert cursor.rowcount == BULK_MEMBERS

    results = {}
    for name, work, rounds in (("stock adjustments", adjustments, ROUNDS), ("points earns", earns, ROUNDS),
                               ("bulk UPDATE of 10,000 balances", bulk, 5)):  # fmt: skip
        times = {mode: [] for mode in MODES}
        before = _event_count()
        for r in range(rounds):
            for mode in MODES[r % 2 :] + MODES[: r % 2]:  # alternate which mode goes first
                times[mode].append(_in_mode(mode, triggers, work))
        written = _event_count() - before
        if name.startswith("bulk"):
            results[name] = {mode: statistics.median(t) for mode, t in times.items()}
            results[name]["unit"] = "s per statement (median of 5)"
        else:
            results[name] = {mode: OPERATIONS / sum(t) for mode, t in times.items()}
            results[name]["unit"] = "per second"
        results[name]["events written"] = written

    print(f"\nAudit trail write overhead ({len(triggers)} audit triggers; {OPERATIONS:,} operations per mode)")
    print(f"{'workload':<34}{'no triggers':>14}{'ignore()':>14}{'audited':>14}{'audited/none':>14}  events")
    for name, r in results.items():
        if r["unit"] == "per second":
            ratio = r["audited"] / r["no triggers"]
            cells = "".join(f"{r[m]:>12,.0f}/s" for m in MODES)
            print(f"{name:<34}{cells}{ratio:>13.1%}  {r['events written']:,}")
        else:
            ratio = r["audited"] / r["no triggers"]
            cells = "".join(f"{r[m] * 1000:>12,.0f}ms" for m in MODES)
            print(f"{name:<34}{cells}{ratio:>13.2f}x  {r['events written']:,}")
    print("(throughput: audited as a share of no triggers; bulk: audited time as a multiple of no triggers)")
    return results
