"""Recommendations computed every night from all channels: products often bought together, and each
member's category affinity. Both set-based in SQL (one INSERT … SELECT each, window functions for the
top N), replacing the night before's."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Product, Variant
from marketing.models import BoughtTogether, CategoryAffinity
from members.models import Member
from omo.core.locks import advisory_xact_lock
from orders.models import Order, OrderLine

TOGETHER_TOP = 10
AFFINITY_TOP = 5
MIN_ORDERS = 2  # a pair seen in one order only is chance


def recommendations_refresh(*, now=None) -> tuple[int, int]:
    """Rebuilds both tables from the paid orders of the ``RECO_DAYS`` up to ``now``; returns their rows."""
    now = now or timezone.now()
    since = now - timedelta(days=settings.RECO_DAYS)
    o, line, v, p = Order._meta.db_table, OrderLine._meta.db_table, Variant._meta.db_table, Product._meta.db_table
    m = Member._meta.db_table
    # the products of each paid order, once per order
    baskets = f"""
        SELECT DISTINCT l.order_id, var.product_id
        FROM {line} l JOIN {o} o ON o.id = l.order_id JOIN {v} var ON var.id = l.variant_id
        WHERE o.paid_at >= %s AND o.paid_at < %s AND o.status <> 'cancelled'
    """  # noqa: S608 (the models' tables)
    together = f"""
        INSERT INTO {BoughtTogether._meta.db_table} (product_id, other_id, orders, confidence, rank)
        SELECT product_id, other_id, n, ROUND(n * 1.0 / total, 4), rank FROM (
            SELECT a.product_id, b.product_id AS other_id, COUNT(*) AS n, t.total,
                   ROW_NUMBER() OVER (PARTITION BY a.product_id ORDER BY COUNT(*) DESC, b.product_id) AS rank
            FROM ({baskets}) a JOIN ({baskets}) b ON b.order_id = a.order_id AND b.product_id <> a.product_id
            JOIN (SELECT product_id, COUNT(*) AS total FROM ({baskets}) x GROUP BY product_id) t
                 ON t.product_id = a.product_id
            GROUP BY a.product_id, b.product_id, t.total
            HAVING COUNT(*) >= %s
        ) ranked WHERE rank <= %s
    """  # noqa: S608
    affinity = f"""
        INSERT INTO {CategoryAffinity._meta.db_table} (member_id, category_id, spend, share, rank)
        SELECT member_id, category_id, spend, ROUND(spend * 1.0 / total, 4), rank FROM (
            SELECT o.member_id, prod.category_id, SUM(l.net) AS spend,
                   SUM(SUM(l.net)) OVER (PARTITION BY o.member_id) AS total,
                   ROW_NUMBER() OVER (PARTITION BY o.member_id ORDER BY SUM(l.net) DESC, prod.category_id) AS rank
            FROM {line} l JOIN {o} o ON o.id = l.order_id JOIN {v} var ON var.id = l.variant_id
                 JOIN {p} prod ON prod.id = var.product_id JOIN {m} mem ON mem.id = o.member_id AND mem.status = %s
            WHERE o.paid_at >= %s AND o.paid_at < %s AND o.status <> 'cancelled' AND l.net > 0
                  AND prod.category_id IS NOT NULL
            GROUP BY o.member_id, prod.category_id
        ) ranked WHERE rank <= %s AND total > 0
    """  # noqa: S608
    with transaction.atomic():
        advisory_xact_lock("marketing-recommendations")
        BoughtTogether.objects.all().delete()
        CategoryAffinity.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(together, [since, now] * 3 + [MIN_ORDERS, TOGETHER_TOP])
            pairs = cursor.rowcount
            cursor.execute(affinity, [Member.Status.ACTIVE, since, now, AFFINITY_TOP])
            return pairs, cursor.rowcount
