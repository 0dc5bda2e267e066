"""Members: phone lookup among 1,000,000 members, and concurrent points redemption against pgbench.

Lookup: ``members.selectors.member_by_phone`` (normalise what the clerk typed, then one indexed query)
for 2,000 random phones in the local format; median and p95. Goal: p95 under 5 ms.

Redemption: 1,000 members with 10,000 points each; 8 client processes redeem 1 point from random
members through ``points_redeem`` for a fixed time, then pgbench runs the same statements (lock the
member, sum the spendable lots, lock and draw the earliest lot, write the entry, update the balance).
"""

from __future__ import annotations

import multiprocessing
import random
import statistics
import time

MEMBERS = 1_000_000
REDEEMERS = 1_000
CLIENTS = 8


def _build() -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO members_member (member_no, name, phone, status, referral_code, points_balance,
                                        created_at, updated_at)
            SELECT 'B' || lpad(g::text, 9, '0'), '', '+8869' || lpad(g::text, 8, '0'), 'active',
                   'R' || lpad(g::text, 9, '0'), 0, now(), now()
            FROM generate_series(1, %s) g""",
            [MEMBERS],
        )
        cursor.execute("SELECT id FROM members_member ORDER BY id LIMIT %s", [REDEEMERS])
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            """
            INSERT INTO members_pointslot (member_id, earned, remaining, expires_on, reference, created_at)
            SELECT id, 10000, 10000, current_date + 365, 'bench', now() FROM members_member WHERE id = ANY(%s)""",
            [ids],
        )
        cursor.execute(
            """
            INSERT INTO members_pointsentry (member_id, kind, points, balance_after, reference, reason, created_at)
            SELECT id, 'earn', 10000, 10000, 'bench', '', now() FROM members_member WHERE id = ANY(%s)""",
            [ids],
        )
        cursor.execute("UPDATE members_member SET points_balance = 10000 WHERE id = ANY(%s)", [ids])
        cursor.execute("ANALYZE")
    return ids


def lookup_run() -> tuple[float, float]:
    from members.selectors import member_by_phone

    rng = random.Random(3)
    times = []
    for i in range(2_030):
        local = f"09{rng.randint(1, MEMBERS):08d}"
        phone = f"{local[:4]}-{local[4:7]}-{local[7:]}"
        t0 = time.perf_counter()
        member = member_by_phone(phone)
        elapsed = (time.perf_counter() - t0) * 1000
        assert member is not None
        if i >= 30:
            times.append(elapsed)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def _redeemer(ids, deadline, start_at, results, index):
    import django
    from django.db import connections

    django.setup()
    from members.models import Member
    from members.services import points_redeem

    connections.close_all()
    rng = random.Random(index)
    members = list(Member.objects.filter(pk__in=ids))
    ok = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < deadline:
        points_redeem(member=rng.choice(members), points=1, reference=f"bench:{index}")
        ok += 1
    results.put(ok)
    connections.close_all()


def service_run(ids, seconds: float) -> float:
    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start_at = time.time() + 2
    procs = [
        ctx.Process(target=_redeemer, args=(ids, start_at + seconds, start_at, results, i)) for i in range(CLIENTS)
    ]
    for proc in procs:
        proc.start()
    total = sum(results.get(timeout=seconds + 120) for _ in procs)
    for proc in procs:
        proc.join()
    return total / seconds


PGBENCH = """\\set m random({low}, {high})
BEGIN;
SELECT id FROM members_member WHERE id = :m FOR UPDATE;
SELECT SUM(remaining) FROM members_pointslot WHERE member_id = :m AND remaining > 0 AND expires_on >= current_date;
SELECT id FROM members_pointslot WHERE member_id = :m AND remaining > 0 AND expires_on >= current_date
  ORDER BY expires_on, id LIMIT 1 FOR UPDATE;
UPDATE members_pointslot SET remaining = remaining - 1 WHERE member_id = :m AND remaining > 0
  AND id = (SELECT id FROM members_pointslot WHERE member_id = :m AND remaining > 0 ORDER BY expires_on, id LIMIT 1);
INSERT INTO members_pointsentry (member_id, kind, points, balance_after, reference, reason, created_at)
  SELECT :m, 'redeem', -1, points_balance - 1, 'pgbench', '', now() FROM members_member WHERE id = :m;
UPDATE members_member SET points_balance = points_balance - 1, updated_at = now() WHERE id = :m;
COMMIT;
"""


def pgbench_run(url: str, ids: list[int], seconds: float) -> float:
    from bench.pgbench import pgbench

    return pgbench(url, PGBENCH.format(low=min(ids), high=max(ids)), clients=CLIENTS, seconds=seconds)[0]


def run(url: str, *, seconds: float) -> None:
    from members.models import Member, PointsEntry

    started = time.perf_counter()
    ids = _build()
    built = time.perf_counter() - started
    median, p95 = lookup_run()
    service_runs, raw_runs = [], []
    for _round in range(3):
        service_runs.append(service_run(ids, seconds / 3))
        raw_runs.append(pgbench_run(url, ids, seconds / 3))
    service, raw = statistics.median(service_runs), statistics.median(raw_runs)
    negative = Member.objects.filter(points_balance__lt=0).count()
    redeemed = -sum(PointsEntry.objects.filter(kind="redeem").values_list("points", flat=True))
    print(f"\nMembers: {MEMBERS:,} (built in {built:.1f} s)")
    print(f"{'phone lookup':<30} median {median:.2f} ms, p95 {p95:.2f} ms (2,000 lookups)")
    print(
        f"{'points redemption, ' + str(CLIENTS) + ' clients':<30} service {service:.0f} tx/s, raw SQL {raw:.0f} tx/s, "
        f"ratio {service / raw:.2f} (median of 3 alternating runs)"
    )
    print(f"{'':<30} {redeemed:,} points redeemed, members below zero: {negative}")
