"""Restore drill: ``bin/backup`` (pg_dump, custom format) of a database with stock, points, store credit,
commission and a settlement, ``bin/restore`` into a new database, and every balance is the same there:
stock per location and SKU, points and store credit per member, the commission lines and the
settlement, each balance still equal to the sum of its ledger in the copy. The copy is dropped."""

from __future__ import annotations

import os
import subprocess
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from attribution import services as attribution
from attribution import settlement
from members import services as member_services
from orders import services as orders
from tests.attribution.conftest import ADDRESS, POLICY
from tests.conftest import ROOT, database_url_for_subprocess
from tests.faults.conftest import other_connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Each query gives rows that must be equal in the original and the copy; the *_books ones compare a
# balance with its ledger and must also come out empty (no row where they differ) in both.
FINGERPRINT = {
    "stock": "SELECT location_id, variant_id, on_hand, reserved FROM inventory_stocklevel ORDER BY 1, 2",
    "stock_books": """
        SELECT s.location_id, s.variant_id, s.on_hand, COALESCE(SUM(m.quantity), 0)
        FROM inventory_stocklevel s LEFT JOIN inventory_stockmovement m
          ON m.location_id = s.location_id AND m.variant_id = s.variant_id
        GROUP BY s.id HAVING s.on_hand <> COALESCE(SUM(m.quantity), 0)""",
    "points": "SELECT id, points_balance FROM members_member ORDER BY id",
    "points_books": """
        SELECT m.id FROM members_member m
        WHERE m.points_balance <> (SELECT COALESCE(SUM(points), 0) FROM members_pointsentry e
                                   WHERE e.member_id = m.id)
           OR m.points_balance <> (SELECT COALESCE(SUM(remaining), 0) FROM members_pointslot l
                                   WHERE l.member_id = m.id)""",
    "store_credit": "SELECT member_id, balance FROM orders_storecreditaccount ORDER BY 1",
    "store_credit_books": """
        SELECT a.id FROM orders_storecreditaccount a
        WHERE a.balance <> (SELECT COALESCE(SUM(amount), 0) FROM orders_storecreditentry e
                            WHERE e.account_id = a.id)""",
    "commission": """
        SELECT store_id, clerk_id, kind, COUNT(*), SUM(base), SUM(commission) FROM attribution_attributionline
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
    "settlement": """
        SELECT p.month, p.status, p.fingerprint, l.store_id, l.clerk_id, l.lines, l.commission, l.payable
        FROM attribution_settlementperiod p JOIN attribution_settlementline l ON l.period_id = p.id
        ORDER BY 1, 4, 5""",
    "orders": "SELECT number, status, total, paid_total, refunded_total FROM orders_order ORDER BY number",
}  # fmt: skip


def fingerprint(conn) -> dict:
    with conn.cursor() as cur:
        result = {}
        for name, sql in FINGERPRINT.items():
            cur.execute(sql)
            result[name] = cur.fetchall()
    return result


def run(*args, env=None):
    done = subprocess.run(args, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def restored(require_postgres, tmp_path):
    """``restored()``: the test database backed up and restored into a new one; a connection to the copy."""
    name = f"omo_restore_{uuid.uuid4().hex[:8]}"
    env = {"DATABASE_URL": database_url_for_subprocess()}
    opened = []

    def make():
        dump = run("bin/backup", str(tmp_path / "omo.dump"), env=env)
        assert dump == str(tmp_path / "omo.dump")
        url = run("bin/restore", dump, name, env=env)
        assert url.endswith(f"/{name}")
        import psycopg2

        s = connection.settings_dict
        conn = psycopg2.connect(
            dbname=name, user=s["USER"], password=s["PASSWORD"] or None, host=s["HOST"] or "127.0.0.1",
            port=s["PORT"] or 5432,
        )  # fmt: skip
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()
    admin = other_connection()
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def test_a_backup_restored_into_a_new_database_has_every_balance(shop, hq_admin, clerk_a, restored):
    # given: a shop with sales in both channels, points, store credit, commission and a settlement draft
    attribution.policy_adopt(
        actor=hq_admin, policy=attribution.policy_create(actor=hq_admin, **{**POLICY, "lockup_days": 0})
    )
    member_services.points_earn(member=shop.member, points=120, reference="GIFT")
    sale = orders.order_place(
        channel=shop.pos, lines=[("JEANS-M", 1)], fulfilment="counter", member=shop.member, store=shop.store_a,
        clerk=clerk_a,
    )  # fmt: skip
    orders.order_pay(order=sale, tenders=[{"tender": "cash"}])
    online = orders.order_place(
        channel=shop.web, lines=[("TEE-M", 2)], fulfilment="ship", member=shop.member, shipping_address=ADDRESS,
        points=20,
    )  # fmt: skip
    orders.order_pay(order=online, tenders=[{"tender": "card", "token": "tok"}])
    orders.order_place(channel=shop.web, lines=[("CAP-M", 3)], fulfilment="ship", shipping_address=ADDRESS)  # unpaid
    orders.order_ship(order=online, location=shop.warehouse, tracking="T1")
    line = sale.lines.get()
    orders.return_create(
        order=sale, lines=[{"line": line.pk, "quantity": 1}], channel=shop.pos, store=shop.store_a,
        refund_to="store_credit", reason="size",
    )  # fmt: skip
    attribution.orders_attribute_pending()
    from django.utils import timezone

    settlement.settlement_build(actor=hq_admin, month=timezone.localdate())
    original = other_connection()
    before = fingerprint(original)
    original.close()
    assert before["stock_books"] == before["points_books"] == before["store_credit_books"] == []
    assert len(before["orders"]) == 3 and before["settlement"] and before["commission"]
    assert before["store_credit"] == [(shop.member.pk, Decimal("1200.00"))]

    # when: backed up and restored into a new database
    copy = restored()

    # then: the same balances, and each still equal to its ledger
    after = fingerprint(copy)
    assert after == before
    assert after["stock_books"] == after["points_books"] == after["store_credit_books"] == []
