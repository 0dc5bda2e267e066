"""Migration 0006 merges the per-order-line attribution rows of a running shop into one row per order
and credit, keeping every amount (so settled months add up as before), each order line's part, the
claw-backs' link to what they take back, and the append-only guard."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("attribution", "0005_unchecked_order_references")]
AFTER = [("attribution", "0006_lines_per_credit")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_per_line_rows_become_one_row_per_order_and_credit():
    old = _migrate(BEFORE)
    try:
        Line = old.get_model("attribution", "AttributionLine")
        at = timezone.now()
        # the references are unchecked (no foreign keys): the ids need not exist for the merge
        common = {"policy_id": 1, "factor": Decimal("1"), "occurred_at": at, "eligible_on": at.date()}

        def sale(order, line, clerk, base, rate, commission, store, share="0.5", period=None):
            return Line.objects.create(
                kind="sale", order_id=order, order_line_id=line, clerk_id=clerk, store_id=10, rule="split",
                share=Decimal(share), base=Decimal(base), rate=Decimal(rate), commission=Decimal(commission),
                store_amount=Decimal(store), personal_amount=Decimal(commission) - Decimal(store), period_id=period,
                **common,
            )  # fmt: skip

        a11 = sale(1, 11, 7, "250.00", "0.0500", "12.50", "3.75")
        b11 = sale(1, 11, 8, "250.00", "0.0500", "12.50", "3.75")
        a12 = sale(1, 12, 7, "100.00", "0.1000", "10.00", "3.00")
        sale(1, 12, 8, "100.00", "0.1000", "10.00", "3.00")
        settled = sale(2, 21, 7, "300.00", "0.0500", "15.00", "4.50", share="1", period=99)
        for original, base, commission, store in (
            (a11, "-125.00", "-6.25", "-1.88"),
            (a12, "-100.00", "-10.00", "-3.00"),
        ):
            Line.objects.create(
                kind="clawback", order_id=1, order_line_id=original.order_line_id, ret_id=5, reverses=original,
                clerk_id=7, store_id=10, rule="return", share=original.share, base=Decimal(base), rate=original.rate,
                commission=Decimal(commission), store_amount=Decimal(store),
                personal_amount=Decimal(commission) - Decimal(store), **{**common, "occurred_at": at},
            )  # fmt: skip
        totals_before = Line.objects.values_list("base", "commission", "store_amount", "personal_amount")
        sums = [sum(column) for column in zip(*totals_before, strict=True)]

        new = _migrate(AFTER)
        Line = new.get_model("attribution", "AttributionLine")
        rows = {
            (r.kind, r.order_id, r.clerk_id): r for r in Line.objects.all()
        }  # one per (order, credit), one per (return, credit)
        assert sorted(rows) == [("clawback", 1, 7), ("sale", 1, 7), ("sale", 1, 8), ("sale", 2, 7)]
        assert rows[("sale", 1, 8)].pk == b11.pk and len(rows[("sale", 1, 8)].lines) == 2
        mine = rows[("sale", 1, 7)]
        assert (mine.pk, mine.base, mine.commission, mine.store_amount, mine.rate) == (
            a11.pk, Decimal("350.00"), Decimal("22.50"), Decimal("6.75"), None  # the lines' rates differ
        )  # fmt: skip
        assert mine.lines == [[11, "250.00", "0.0500", "12.50"], [12, "100.00", "0.1000", "10.00"]]
        back = rows[("clawback", 1, 7)]
        assert (back.reverses_id, back.base, back.commission, back.store_amount) == (
            a11.pk, Decimal("-225.00"), Decimal("-16.25"), Decimal("-4.88")
        )  # fmt: skip
        assert [line[0] for line in back.lines] == [11, 12]
        kept = rows[("sale", 2, 7)]
        assert (kept.pk, kept.period_id, kept.rate, kept.lines) == (
            settled.pk, 99, Decimal("0.0500"), [[21, "300.00", "0.0500", "15.00"]]
        )  # fmt: skip
        after = Line.objects.values_list("base", "commission", "store_amount", "personal_amount")
        assert [sum(column) for column in zip(*after, strict=True)] == sums  # not a cent moved
        if connection.vendor == "postgresql":  # the append-only guard is back on
            from django.db import InternalError

            with pytest.raises(InternalError):
                Line.objects.filter(pk=kept.pk).update(base=0)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
