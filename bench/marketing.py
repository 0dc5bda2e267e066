"""Precision marketing at scale: evaluating a segment rule over 1,000,000 members (time and statements)
beside a hand-written SQL count of the same rule, and sending a 100,000-member campaign through the
fake SMS provider (sends per second) beside the provider alone, each measured in the same run.

Set-up (bulk SQL, deterministic): 10 stores, the channels POS / WEB / APP; ``BENCH_MARKETING_MEMBERS``
members (1,000,000), half registered at a store (a tenth of those at each), 70% with SMS consent and
60% with LINE consent; 0-4 paid purchases each over the last two years (about 2 per member), in stores
or online; then the nightly RFM scores (timed).

Measured, one after the other:
  rule       ``{"omo": "both", "last_purchase_days": {"min": 60, "max": 365}, "consent": "line",
             "rfm": {"m": [4, 5]}}``: ``members_matching(rule).count()`` (median of 5) and its
             statements; the hand-written SQL of the same rule (median of 5)
  segment    ``segment_create`` of that rule (the first evaluation writes every member's stay) and
             ``segment_evaluate`` again with nothing changed
  campaign   an SMS campaign to the members of two stores (~100,000; 10% held out): launch (the
             audience fixed), then every batch until done; sends per second. Baseline: the fake
             provider's ``send`` alone, as many times
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import timedelta
from unittest import mock

MEMBERS = int(os.environ.get("BENCH_MARKETING_MEMBERS", "1000000"))
RUNS = 5
STORES = 10
RULE = {"omo": "both", "last_purchase_days": {"min": 60, "max": 365}, "consent": "line", "rfm": {"m": [4, 5]}}


def _run(sql: str, params=None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _scalar(sql: str, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def setup() -> dict:
    from django.utils import timezone

    from omo.org import services as org
    from omo.org.models import Location, SalesChannel

    stores = [
        org.location_create(code=f"S-M{i:02d}", name=f"Store {i}", kind=Location.Kind.STORE).pk
        for i in range(1, STORES + 1)
    ]
    channels = {
        code: SalesChannel.objects.create(code=code, name=code, kind=kind).pk
        for code, kind in (("POS", "pos"), ("WEB", "web"), ("APP", "app"))
    }
    now = timezone.now()
    t = time.perf_counter()
    _run(
        """
        INSERT INTO members_member (id, member_no, name, phone, status, referral_code, points_balance, created_at,
                                    updated_at, registered_store_id, profile)
        SELECT i, 'K' || lpad(i::text, 9, '0'), 'Member ' || i, '+8869' || lpad(i::text, 8, '0'), 'active',
               'K' || lpad(i::text, 9, '0'), 0, %(now)s::timestamptz - interval '800 days', %(now)s,
               CASE WHEN mod(i, 2) = 0 THEN (%(stores)s::bigint[])[1 + mod(i / 2, %(n)s)] END, '{}'::jsonb
        FROM generate_series(1, %(members)s) i
        """,
        {"now": now, "stores": stores, "n": STORES, "members": MEMBERS},
    )
    _run(
        """
        INSERT INTO members_consent (member_id, purpose, granted, source, recorded_at)
        SELECT i, 'sms', true, 'bench', %(now)s FROM generate_series(1, %(members)s) i
        WHERE (hashint8(i * 3) & 2147483647) %% 10 < 7
        UNION ALL
        SELECT i, 'line', true, 'bench', %(now)s FROM generate_series(1, %(members)s) i
        WHERE (hashint8(i * 5) & 2147483647) %% 5 < 3
        """,
        {"now": now, "members": MEMBERS},
    )
    _run(
        """
        INSERT INTO members_purchase (member_id, reference, channel_id, store_id, amount, refunded, paid_at)
        SELECT i, 'P' || i || '-' || k,
               CASE WHEN mod(i + k, 3) = 0 THEN %(pos)s WHEN mod(i + k, 3) = 1 THEN %(web)s ELSE %(app)s END,
               CASE WHEN mod(i + k, 3) = 0 THEN (%(stores)s::bigint[])[1 + mod(i, %(n)s)] END,
               200 + mod(hashint8(i * 7 + k) & 2147483647, 3000), 0,
               %(now)s::timestamptz - ((hashint8(i * 13 + k) & 2147483647) %% 730) * interval '1 day'
        FROM generate_series(1, %(members)s) i
        CROSS JOIN LATERAL generate_series(1, (hashint8(i) & 2147483647) %% 5) k
        """,
        {"now": now, "pos": channels["POS"], "web": channels["WEB"], "app": channels["APP"], "stores": stores,
         "n": STORES, "members": MEMBERS},
    )  # fmt: skip
    _run("SELECT setval(pg_get_serial_sequence('members_member', 'id'), (SELECT max(id) FROM members_member))")
    _run("VACUUM ANALYZE")  # what autovacuum would do after the bulk load, before anything is measured
    return {"stores": stores, "setup": time.perf_counter() - t, "now": now}


def _median(fn, runs: int = RUNS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


HAND_WRITTEN = """
SELECT count(*) FROM members_member m
WHERE m.status = 'active'
  AND EXISTS (SELECT 1 FROM members_purchase p JOIN org_saleschannel c ON c.id = p.channel_id
              WHERE p.member_id = m.id AND c.kind = 'pos')
  AND EXISTS (SELECT 1 FROM members_purchase p JOIN org_saleschannel c ON c.id = p.channel_id
              WHERE p.member_id = m.id AND c.kind IN ('web', 'app', 'marketplace'))
  AND EXISTS (SELECT 1 FROM members_purchase p WHERE p.member_id = m.id)
  AND NOT EXISTS (SELECT 1 FROM members_purchase p WHERE p.member_id = m.id AND p.paid_at > %(min)s)
  AND EXISTS (SELECT 1 FROM members_purchase p WHERE p.member_id = m.id AND p.paid_at >= %(max)s)
  AND (SELECT c.granted FROM members_consent c WHERE c.member_id = m.id AND c.purpose = 'line'
       ORDER BY c.id DESC LIMIT 1)
  AND EXISTS (SELECT 1 FROM marketing_memberrfm r WHERE r.member_id = m.id AND r.m BETWEEN 4 AND 5)
"""


def run() -> dict:
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.utils import timezone

    from marketing import campaigns, services
    from marketing.providers import Message, SmsProvider
    from marketing.rules import members_matching
    from members.sms import FakeSmsProvider

    shop = setup()
    t = time.perf_counter()
    scored = services.rfm_refresh()
    rfm_seconds = time.perf_counter() - t
    _run("ANALYZE marketing_memberrfm")
    counts = {
        table: _scalar(f"SELECT count(*) FROM {table}")
        for table in ("members_member", "members_purchase", "members_consent")
    }

    now = timezone.now()
    orm_seconds, matched = _median(lambda: members_matching(RULE, now=now).count())
    with CaptureQueriesContext(connection) as captured:
        members_matching(RULE, now=now).count()
    statements = len(captured.captured_queries)
    params = {"min": now - timedelta(days=60), "max": now - timedelta(days=365)}
    sql_seconds, by_hand = _median(lambda: _scalar(HAND_WRITTEN, params))

    t = time.perf_counter()
    segment = services.segment_create(actor=None, name="Bench rule", rules=RULE)
    create_seconds = time.perf_counter() - t
    t = time.perf_counter()
    again = services.segment_evaluate(segment=segment)
    again_seconds = time.perf_counter() - t

    audience = services.segment_create(
        actor=None, name="Two stores", rules={"home_stores": ["S-M01", "S-M02"]}, schedule="manual"
    )
    campaign = campaigns.campaign_create(
        actor=None, name="Bench SMS", segment=audience, channel="sms", message="{name}, new in store this week",
        control_percent=10, per_minute=1_000_000,
    )  # fmt: skip
    FakeSmsProvider.outbox.clear()
    t = time.perf_counter()
    with mock.patch("omo.core.queue.enqueue"):  # no worker woken: the batches are run here
        campaigns.campaign_launch(actor=None, campaign=campaign)
    launch_seconds = time.perf_counter() - t
    batches = 0
    t = time.perf_counter()
    with override_settings(MARKETING_BATCH=1000, MARKETING_QUIET_START="00:00", MARKETING_QUIET_END="00:00"):
        while not campaigns.campaign_send_batch(campaign=campaign)["done"]:
            batches += 1
    send_seconds = time.perf_counter() - t
    sent = campaign.recipients.filter(status="sent").count()
    outcome = dict(campaign.recipients.values_list("status").annotate(n=Count("id")).order_by())
    provider = SmsProvider()
    FakeSmsProvider.outbox.clear()
    t = time.perf_counter()
    for i in range(sent):
        provider.send(Message(to=f"+8869{i:08d}", text="Member, new in store this week"))
    provider_seconds = time.perf_counter() - t
    FakeSmsProvider.outbox.clear()

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    print(
        f"\nMarketing on {counts['members_member']:,} members, {counts['members_purchase']:,} purchases, "
        f"{counts['members_consent']:,} consents; {os.cpu_count()} cores, {version}, "
        f"batch {settings.MARKETING_BATCH} (bench: 1000)\n"
    )
    print(f"Set-up: {shop['setup']:.0f} s; RFM scores of {scored:,} buyers: {rfm_seconds:.1f} s\n")
    print("| measure | seconds | |\n|---|---:|---|")
    print(f"| the rule, counted through members_matching (median of {RUNS}) | {orm_seconds:.3f} | "
          f"{matched:,} members, {statements} statement |")  # fmt: skip
    print(f"| the same rule, hand-written SQL (median of {RUNS}) | {sql_seconds:.3f} | {by_hand:,} members |")
    print(f"| ratio | {orm_seconds / sql_seconds:.2f} | |")
    print(
        f"| segment_create (first evaluation: every stay written) | {create_seconds:.2f} | {segment.members_count:,} |"
    )
    print(f"| segment_evaluate again, nothing changed | {again_seconds:.2f} | in {again.entered}, out {again.left} |")
    print(f"| campaign launch (audience fixed, 10% held out) | {launch_seconds:.2f} | {audience.members_count:,} |")
    print(f"| campaign sending, {batches + 1} batches | {send_seconds:.2f} | {sent:,} sent: "
          f"{sent / send_seconds:,.0f} per second; {outcome} |")  # fmt: skip
    rate = sent / provider_seconds
    print(f"| the fake provider alone, {sent:,} sends | {provider_seconds:.2f} | {rate:,.0f} per second |")
    return {"matched": matched, "sent": sent}
