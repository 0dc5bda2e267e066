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
    t = _tables()
    params: list = [SalesChannel.Kind.POS, SalesChannel.Kind.POS]
    here, scope = "0", ""
    if store_ids is not None:
        bought_here, ids = sql_in("p.store_id", store_ids)
        registered_here, _ids = sql_in("m.registered_store_id", store_ids)
        here = f"MAX(CASE WHEN {bought_here} THEN 1 ELSE 0 END)"
        params += ids
        scope = f"JOIN {t['member']} m ON m.id = pm.member_id WHERE pm.here = 1 OR {registered_here}"
    params += [start, until]
    scope_params = ids if store_ids is not None else []
    sql = f"""
        WITH pm AS (
            SELECT p.member_id,
                   SUM(CASE WHEN c.kind = %s THEN 1 ELSE 0 END) AS store_n,
                   SUM(CASE WHEN c.kind = %s THEN 0 ELSE 1 END) AS online_n,
                   SUM(p.amount - p.refunded) AS spend,
                   {here} AS here
            FROM {t["purchase"]} p JOIN {t["channel"]} c ON c.id = p.channel_id
            WHERE p.paid_at >= %s AND p.paid_at < %s
            GROUP BY p.member_id
        )
        SELECT {_seg("pm.store_n", "pm.online_n")} AS seg, COUNT(*), SUM(pm.store_n), SUM(pm.online_n), SUM(pm.spend)
        FROM pm {scope}
        GROUP BY 1
    """  # noqa: S608 (table names from the models; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, params + scope_params)
        out = {}
        for seg, members, store_n, online_n, spend in cursor.fetchall():
            out[seg] = {
                "members": members,
                "purchases": int(store_n) + int(online_n),
                "store_purchases": int(store_n),
                "online_purchases": int(online_n),
                "spend": Decimal(spend).quantize(Decimal("0.01")),
            }
        return out


def segment_moves(then: tuple[datetime, datetime], now: tuple[datetime, datetime], store_ids=None) -> dict:
    """{(segment then, segment now): members} for members who bought in either period ('none' where
    they did not buy in one of them)."""
    t = _tables()
    pos = SalesChannel.Kind.POS
    params: list = [*then, pos, *then, pos, *now, pos, *now, pos]
    here, scope, scope_params = "0", "", []
    if store_ids is not None:
        bought_here, ids = sql_in("p.store_id", store_ids)
        registered_here, _ids = sql_in("m.registered_store_id", store_ids)
        here = f"MAX(CASE WHEN {bought_here} THEN 1 ELSE 0 END)"
        params += ids
        scope = f"JOIN {t['member']} m ON m.id = pm.member_id WHERE pm.here = 1 OR {registered_here}"
        scope_params = ids
    params += [*then, *now]
    in_then = "p.paid_at >= %s AND p.paid_at < %s"
    sql = f"""
        WITH pm AS (
            SELECT p.member_id,
                   SUM(CASE WHEN {in_then} AND c.kind = %s THEN 1 ELSE 0 END) AS a_store,
                   SUM(CASE WHEN {in_then} AND c.kind <> %s THEN 1 ELSE 0 END) AS a_online,
                   SUM(CASE WHEN {in_then} AND c.kind = %s THEN 1 ELSE 0 END) AS b_store,
                   SUM(CASE WHEN {in_then} AND c.kind <> %s THEN 1 ELSE 0 END) AS b_online,
                   {here} AS here
            FROM {t["purchase"]} p JOIN {t["channel"]} c ON c.id = p.channel_id
            WHERE ({in_then}) OR ({in_then})
            GROUP BY p.member_id
        )
        SELECT {_seg("pm.a_store", "pm.a_online")}, {_seg("pm.b_store", "pm.b_online")}, COUNT(*)
        FROM pm {scope}
        GROUP BY 1, 2
    """  # noqa: S608 (table names from the models; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, params + scope_params)
        return {(a, b): n for a, b, n in cursor.fetchall()}
