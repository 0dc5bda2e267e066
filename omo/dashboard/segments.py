"""OMO segments of the members who bought in a period: store only, online only, or both. One SQL
definition, used live for any period and by the monthly rollup. A store's members are those registered
there or who bought there in the period; their spend counts in every channel."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import connection

from members.models import Member, Purchase
from omo.dashboard.filters import sql_in
from omo.org.models import SalesChannel

SEGMENTS = ("both", "store_only", "online_only")


def _seg(store: str, online: str) -> str:
    return (
        f"CASE WHEN {store} > 0 AND {online} > 0 THEN 'both' WHEN {store} > 0 THEN 'store_only' "
        f"WHEN {online} > 0 THEN 'online_only' ELSE 'none' END"
    )


def _tables() -> dict:
    return {
        "purchase": Purchase._meta.db_table,
        "channel": SalesChannel._meta.db_table,
        "member": Member._meta.db_table,
    }


def segment_figures(start: datetime, until: datetime, store_ids=None) -> dict[str, dict]:
    """{segment: {members, purchases, store_purchases, online_purchases, spend}} for [start, until)."""
    return segment_periods((start, start), (start, until), store_ids)[1]  # an empty period before it


def segment_periods(
    then: tuple[datetime, datetime], now: tuple[datetime, datetime], store_ids=None
) -> tuple[dict[str, dict], dict[str, dict], dict[tuple[str, str], int]]:
    """(figures then, figures now, moves) in one scan of the purchases of both periods: the figures are
    ``segment_figures`` of each period, the moves {(segment then, segment now): members} of the members
    who bought in either ('none' where they did not buy in one of them). For a store, a member counts in
    a period's figures when registered there or bought there in that period, and in the moves when
    registered there or bought there in either."""
    t = _tables()
    pos = SalesChannel.Kind.POS
    in_then = "p.paid_at >= %s AND p.paid_at < %s"
    in_now = in_then
    params: list = [*then, pos, *then, pos, *then, *now, pos, *now, pos, *now]
    here_then = here_now = "0"
    registered, join, candidates, scope_params = "TRUE", "", "", []
    if store_ids is not None:
        bought_here, ids = sql_in("p.store_id", store_ids)
        registered, scope_params = sql_in("m.registered_store_id", store_ids)
        here_then = f"MAX(CASE WHEN {in_then} AND {bought_here} THEN 1 ELSE 0 END)"
        here_now = f"MAX(CASE WHEN {in_now} AND {bought_here} THEN 1 ELSE 0 END)"
        params += [*then, *ids, *now, *ids]
        join = f"JOIN {t['member']} m ON m.id = pm.member_id"
        # only the store's members: registered there, or bought there in either period (then read
        # through the index by member, not the whole period's purchases)
        candidates = (
            f"AND p.member_id IN (SELECT m.id FROM {t['member']} m WHERE {registered} "  # noqa: S608 (model tables)
            f"UNION SELECT p.member_id FROM {t['purchase']} p WHERE {bought_here} AND (({in_then}) OR ({in_now})))"
        )
    params += [*then, *now]
    if store_ids is not None:
        params += [*scope_params, *ids, *then, *now]
    sql = f"""
        WITH pm AS (
            SELECT p.member_id,
                   SUM(CASE WHEN {in_then} AND c.kind = %s THEN 1 ELSE 0 END) AS a_store,
                   SUM(CASE WHEN {in_then} AND c.kind <> %s THEN 1 ELSE 0 END) AS a_online,
                   SUM(CASE WHEN {in_then} THEN p.amount - p.refunded ELSE 0 END) AS a_spend,
                   SUM(CASE WHEN {in_now} AND c.kind = %s THEN 1 ELSE 0 END) AS b_store,
                   SUM(CASE WHEN {in_now} AND c.kind <> %s THEN 1 ELSE 0 END) AS b_online,
                   SUM(CASE WHEN {in_now} THEN p.amount - p.refunded ELSE 0 END) AS b_spend,
                   {here_then} AS a_here, {here_now} AS b_here
            FROM {t["purchase"]} p JOIN {t["channel"]} c ON c.id = p.channel_id
            WHERE (({in_then}) OR ({in_now})) {candidates}
            GROUP BY p.member_id
        )
        SELECT {_seg("pm.a_store", "pm.a_online")}, {_seg("pm.b_store", "pm.b_online")},
               pm.a_here = 1 OR {registered}, pm.b_here = 1 OR {registered}, COUNT(*),
               SUM(pm.a_store), SUM(pm.a_online), SUM(pm.a_spend), SUM(pm.b_store), SUM(pm.b_online), SUM(pm.b_spend)
        FROM pm {join}
        GROUP BY 1, 2, 3, 4
    """  # noqa: S608 (table names from the models; values are parameters)
    figures_then: dict[str, dict] = {}
    figures_now: dict[str, dict] = {}
    moves: dict[tuple[str, str], int] = {}

    def add(into: dict, seg: str, n: int, store_n, online_n, spend) -> None:
        f = into.setdefault(
            seg, {"members": 0, "purchases": 0, "store_purchases": 0, "online_purchases": 0, "spend": Decimal("0.00")}
        )
        f["members"] += n
        f["store_purchases"] += int(store_n)
        f["online_purchases"] += int(online_n)
        f["purchases"] += int(store_n) + int(online_n)
        f["spend"] = (f["spend"] + Decimal(spend)).quantize(Decimal("0.01"))

    with connection.cursor() as cursor:
        cursor.execute(sql, params + scope_params * 2)
        for a, b, a_in, b_in, n, a_store, a_online, a_spend, b_store, b_online, b_spend in cursor.fetchall():
            if a != "none" and a_in:
                add(figures_then, a, n, a_store, a_online, a_spend)
            if b != "none" and b_in:
                add(figures_now, b, n, b_store, b_online, b_spend)
            if a_in or b_in:
                moves[(a, b)] = moves.get((a, b), 0) + n
    return figures_then, figures_now, moves
