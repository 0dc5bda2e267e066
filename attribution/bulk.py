"""Attribution of many paid orders at once, set-based in SQL (PostgreSQL): the same rules as
``services.decide`` and ``services.build_lines`` (a test runs both on the same orders and compares every
line), written as one statement per policy version instead of a Python loop per order.

Used by the catch-up job and for a month of orders at a time (``bench/attribution.py`` runs it on
1,000,000 order lines). Each order is claimed by inserting its ``OrderAttribution`` row in the same
statement that writes its lines, one row per order and credit with each order line's part. An order
the queue claims at the same moment makes that plain INSERT fail on the order's key: the statement
is rolled back and runs again without it (``_attribute_slice``), so every order is attributed once.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from attribution.models import Policy
from attribution.services import PAID_STATES, _adopted

RULE_WORDS = {
    "pos_sale": "Sold at the counter by this clerk: counts for them directly.",
    "pos_sale_departed": "Sold at the counter by a clerk who has left: nobody is credited.",
    "referral_code": "The clerk's referral code was used on this order.",
    "referral_code_departed": "The referral code belongs to a clerk who has left.",
    "no_member": "No member on the order: nobody is credited.",
    "no_binding": "The member had no binding in force when they paid: nobody is credited.",
    "latest_binding": "The latest binding in force wins.",
    "first_binding": "The first binding in force wins.",
    "split": "Split between the bindings in force.",
    "latest_binding_departed": "The bound clerk has left: nobody is credited.",
    "first_binding_departed": "The bound clerk has left: nobody is credited.",
    "split_departed": "The bound clerk has left: nobody is credited.",
}


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


def _category_rate_sql(policy: Policy, params: list) -> str:
    """A variant's category rate (the most specific), or NULL: the channel's or the default applies."""
    whens = []
    for path in sorted(policy.category_rates, key=len, reverse=True):
        whens.append("WHEN cat.path = %s OR cat.path LIKE %s ESCAPE '\\' THEN %s::numeric")
        params += [path, _like(path), policy.category_rates[path]]
    return f"CASE {' '.join(whens)} END" if whens else "NULL::numeric"


def _category_excluded_sql(policy: Policy, params: list) -> str:
    parts = []
    for path in policy.excluded_categories:
        parts.append("cat.path = %s OR cat.path LIKE %s ESCAPE '\\'")
        params += [path, _like(path)]
    return f"({' OR '.join(parts)})" if parts else "FALSE"


def _rate_sql(policy: Policy, params: list) -> str:
    """The line's rate: its variant's category rate, else the channel's, else the default."""
    whens = []
    for code, rate in sorted(policy.channel_rates.items()):
        whens.append("WHEN cr.ccode = %s THEN %s::numeric")
        params += [code, rate]
    params.append(str(policy.default_rate))
    fallback = f"CASE {' '.join(whens)} ELSE %s::numeric END" if whens else "%s::numeric"
    return f"coalesce(vr.rate, {fallback})"


def _channel_excluded_sql(policy: Policy, params: list) -> str:
    if not policy.excluded_channels:
        return "TRUE"
    params.append(list(policy.excluded_channels))
    return "NOT (cr.ccode = ANY(%s))"


def _factor_sql(policy: Policy, params: list) -> str:
    whens = []
    for day, factor in sorted(policy.age_factors, key=lambda s: s[0], reverse=True):
        whens.append("WHEN cr.age_days >= %s THEN %s::numeric")
        params += [day, factor]
    return f"CASE {' '.join(whens)} ELSE 1::numeric END" if whens else "1::numeric"


def _statement(policy: Policy, paid_from: datetime, paid_to: datetime, order_ids: list[int] | None):
    """One INSERT … SELECT that claims and attributes every unattributed paid order of the window (or
    of ``order_ids``) under ``policy``; returns (sql, params)."""
    p: dict = {
        "from": paid_from,
        "to": paid_to,
        "states": list(PAID_STATES),
        "policy": policy.pk,
        "nobody": policy.departed_clerk == Policy.Departed.NOBODY,
        "conflict": policy.conflict,
        "store_share": str(policy.store_share),
        "lockup": policy.lockup_days,
        "tz": settings.TIME_ZONE,
    }
    windows = ", ".join(f"('{source}', {int(days)})" for source, days in sorted(policy.validity_days.items()))
    windows = windows or "(NULL, NULL)"
    pick = {
        "latest": "DISTINCT ON (order_id) * FROM act ORDER BY order_id, started_at DESC, binding_id DESC",
        "first": "DISTINCT ON (order_id) * FROM act ORDER BY order_id, started_at, binding_id",
        "split": (
            "DISTINCT ON (order_id, clerk_id, store_id) * FROM act "
            "ORDER BY order_id, clerk_id, store_id, started_at DESC, binding_id DESC"
        ),
    }[policy.conflict]
    rule_of_pick = {"latest": "latest_binding", "first": "first_binding", "split": "split"}[policy.conflict]
    # how many credits the order has and which one this is: only a split has more than one
    n_and_k = (
        "count(*) OVER (PARTITION BY order_id), "
        "row_number() OVER (PARTITION BY order_id ORDER BY started_at, binding_id)"
        if policy.conflict == "split"
        else "1, 1"
    )
    only = "AND o.id = ANY(%(ids)s)" if order_ids is not None else ""
    if order_ids is not None:
        p["ids"] = list(order_ids)
    words = {rule: _(text) for rule, text in RULE_WORDS.items()}
    words_sql = " ".join(f"WHEN '{rule}' THEN %(w_{rule})s" for rule in words)
    p.update({f"w_{rule}": text for rule, text in words.items()})

    # the line-level CASE expressions are built with positional parameters and inlined as literals
    # (the statement itself takes named ones; a literal's % is doubled for that)
    category_rate = _inline(_category_rate_sql, policy)
    category_excluded = _inline(_category_excluded_sql, policy)
    rate = _inline(_rate_sql, policy)
    channel_allowed = _inline(_channel_excluded_sql, policy)
    factor = _inline(_factor_sql, policy)

    sql = f"""
WITH o AS (
    SELECT o.id, o.paid_at, o.member_id, o.store_id, o.clerk_id, c.kind AS ckind, c.code AS ccode,
           upper(o.referral_code) AS ref, (c.kind = 'pos' AND o.clerk_id IS NOT NULL) AS at_counter
    FROM orders_order o JOIN org_saleschannel c ON c.id = o.channel_id
    WHERE o.paid_at >= %(from)s AND o.paid_at < %(to)s AND o.status = ANY(%(states)s) {only}
      AND NOT EXISTS (SELECT 1 FROM attribution_orderattribution a WHERE a.order_id = o.id)
),
direct AS (
    SELECT o.id AS order_id, o.clerk_id, o.store_id, NULL::bigint AS binding_id, o.paid_at AS started_at,
           'pos_sale'::text AS rule
    FROM o WHERE o.at_counter
    UNION ALL
    SELECT o.id, sp.user_id, sp.home_store_id, NULL::bigint, o.paid_at, 'referral_code'
    FROM o JOIN org_staffprofile sp ON sp.referral_code = o.ref AND sp.home_store_id IS NOT NULL
    WHERE o.ref <> '' AND NOT o.at_counter
),
win(source, days) AS (VALUES {windows}),
act AS (
    SELECT o.id AS order_id, b.clerk_id, b.store_id, b.id AS binding_id, b.started_at
    FROM o
    JOIN attribution_binding b ON b.member_id = o.member_id
    JOIN win ON win.source = b.source
    WHERE NOT o.at_counter AND NOT EXISTS (SELECT 1 FROM direct d WHERE d.order_id = o.id)
      AND b.counts AND b.started_at <= o.paid_at AND o.paid_at < b.started_at + win.days * interval '1 day'
      AND (b.ended_at IS NULL OR o.paid_at < b.ended_at)
),
picked AS (SELECT {pick}),
chosen AS (
    SELECT order_id, clerk_id, store_id, binding_id, started_at, rule,
           1 AS n, 1 AS k
    FROM direct
    UNION ALL
    SELECT order_id, clerk_id, store_id, binding_id, started_at, '{rule_of_pick}', {n_and_k}
    FROM picked
),
judged AS (
    SELECT ch.*, (ch.clerk_id IS NOT NULL AND NOT u.is_active) AS departed
    FROM chosen ch LEFT JOIN org_user u ON u.id = ch.clerk_id
),
credits AS (
    SELECT j.order_id, j.k, CASE WHEN j.departed THEN NULL ELSE j.clerk_id END AS clerk_id, j.store_id,
           j.binding_id, CASE WHEN j.rule = 'referral_code' AND j.departed THEN 'referral_code_departed'
                              ELSE j.rule END AS rule,
           j.n, o.paid_at, o.ccode,
           CASE WHEN j.binding_id IS NULL THEN 0
                ELSE floor(extract(epoch FROM (o.paid_at - j.started_at)) / 86400)::int END AS age_days
    FROM judged j JOIN o ON o.id = j.order_id
    WHERE NOT (j.departed AND %(nobody)s)
),
decided AS (
    SELECT o.id AS order_id,
           CASE
             WHEN j.pos THEN CASE WHEN j.any_departed AND %(nobody)s THEN 'pos_sale_departed' ELSE 'pos_sale' END
             WHEN j.ref THEN CASE WHEN j.any_departed THEN 'referral_code_departed' ELSE 'referral_code' END
             WHEN o.member_id IS NULL THEN 'no_member'
             WHEN j.order_id IS NULL THEN 'no_binding'
             WHEN j.all_departed AND %(nobody)s THEN '{rule_of_pick}_departed'
             ELSE '{rule_of_pick}'
           END AS rule
    FROM o LEFT JOIN (
        SELECT order_id, bool_or(rule = 'pos_sale') AS pos, bool_or(rule = 'referral_code') AS ref,
               bool_or(departed) AS any_departed, bool_and(departed) AS all_departed
        FROM judged GROUP BY order_id
    ) j ON j.order_id = o.id
),
claimed AS (
    -- a plain INSERT: an order claimed meanwhile by another transaction (the queue) makes it fail, and
    -- the slice runs again without it (_attribute_slice); cheaper than ON CONFLICT for every order
    INSERT INTO attribution_orderattribution (order_id, policy_id, rule, explanation, attributed_at)
    SELECT order_id, %(policy)s, rule, CASE rule {words_sql} ELSE rule END, now() FROM decided
    RETURNING order_id
),
vr AS (
    -- each variant's category rate and exclusion, decided once per variant rather than per line
    SELECT v.id AS variant_id, {category_rate} AS rate, {category_excluded} AS excluded
    FROM catalog_variant v
    JOIN catalog_product pr ON pr.id = v.product_id
    JOIN catalog_category cat ON cat.id = pr.category_id
),
priced AS (
    SELECT cr.order_id, cr.k, l.id AS line_id,
           CASE WHEN cr.n = 1 THEN l.net
                WHEN cr.k = 1 THEN l.net - (cr.n - 1) * trunc(l.net / cr.n, 2)
                ELSE trunc(l.net / cr.n, 2) END AS base,
           {rate} AS rate,
           {factor} AS factor
    FROM credits cr
    JOIN orders_orderline l ON l.order_id = cr.order_id
    JOIN vr ON vr.variant_id = l.variant_id
    WHERE l.net > 0 AND NOT vr.excluded AND {channel_allowed}
),
credited AS (
    -- per credit: the totals, and each line's part as JSON text (cheaper than jsonb_agg), its lines
    -- in the order of their ids (the sorted input of the group)
    SELECT order_id, k, min(factor) AS factor, sum(base) AS base, sum(commission) AS commission,
           min(rate) AS low, max(rate) AS high,
           ('[' || string_agg('[' || line_id || ',"' || base || '","' || rate || '","' || commission || '"]', ',')
            || ']')::jsonb AS lines
    FROM (
        SELECT priced.*, round(base * rate * factor, 2) AS commission FROM priced ORDER BY order_id, k, line_id
    ) amounts
    GROUP BY order_id, k
),
inserted AS (
    INSERT INTO attribution_attributionline
        (kind, order_id, clerk_id, store_id, binding_id, policy_id, rule, share, base, rate, factor, commission,
         store_amount, personal_amount, occurred_at, eligible_on, lines, created_at)
    SELECT 'sale', order_id, clerk_id, store_id, binding_id, %(policy)s, rule,
           CASE WHEN n = 1 THEN 1 WHEN k = 1 THEN 1 - (n - 1) * trunc(1.0 / n, 4) ELSE trunc(1.0 / n, 4) END,
           base, CASE WHEN low = high THEN low END, factor, commission, store_amount, commission - store_amount,
           paid_at, (paid_at AT TIME ZONE %(tz)s)::date + %(lockup)s, lines, now()
    FROM (
        SELECT cr.order_id, cr.k, cr.clerk_id, cr.store_id, cr.binding_id, cr.rule, cr.n, cr.paid_at,
               g.factor, g.base, g.commission, g.low, g.high, g.lines,
               CASE WHEN cr.clerk_id IS NULL THEN g.commission
                    ELSE round(g.commission * %(store_share)s::numeric, 2) END AS store_amount
        FROM credited g JOIN credits cr USING (order_id, k)
    ) split
    RETURNING 1
)
SELECT (SELECT count(*) FROM claimed), (SELECT count(*) FROM inserted)
"""  # noqa: S608 (only validated sources, numbers, rule names and literals rendered by the driver)
    return sql, p


def _inline(build, policy: Policy) -> str:
    params: list = []
    expression = build(policy, params)
    with connection.cursor() as cursor:
        return cursor.mogrify(expression, params).decode().replace("%", "%%")


def orders_attribute_bulk(
    *, paid_from: datetime, paid_to: datetime, order_ids: list[int] | None = None, workers: int = 1
) -> int:
    """Attributes every paid order of [paid_from, paid_to) not attributed yet (or only ``order_ids``),
    each under the policy in force when it was paid, one statement per policy version. Returns how
    many orders were attributed. PostgreSQL only.

    ``workers`` > 1 splits each policy's window into that many equal slices of time, each one
    statement in its own transaction on its own connection, run at the same time (a month at once:
    PostgreSQL runs an ``INSERT … SELECT`` on one core). Each slice commits by itself; one that fails
    leaves the others attributed, and running the call again attributes what is left (an order is
    claimed once, whoever claims it). Inside a caller's transaction the slices run one after the
    other in it, as with one worker."""
    if connection.vendor != "postgresql":
        raise RuntimeError("orders_attribute_bulk runs on PostgreSQL; elsewhere use orders_attribute_pending")
    policies = _adopted()
    slices = []
    for i, policy in enumerate(policies):
        start = max(paid_from, policy.effective_from)
        end = min(paid_to, policies[i + 1].effective_from) if i + 1 < len(policies) else paid_to
        if start >= end:
            continue
        parts = workers if workers > 1 and order_ids is None else 1
        step = (end - start) / parts
        bounds = [start + step * k for k in range(parts)] + [end]
        slices += [(policy, bounds[k], bounds[k + 1]) for k in range(parts) if bounds[k] < bounds[k + 1]]
    if workers <= 1 or len(slices) <= 1 or connection.in_atomic_block:
        return sum(_attribute_slice(policy, start, end, order_ids) for policy, start, end in slices)
    from concurrent.futures import ThreadPoolExecutor

    def run(part):
        try:  # a thread has its own connection: closed when its slice is done
            return _attribute_slice(*part, order_ids)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(run, slices))


CLAIM_TRIES = 5


def _attribute_slice(policy: Policy, start: datetime, end: datetime, order_ids: list[int] | None) -> int:
    """One statement in its own transaction (or savepoint). An order another transaction claimed
    while the statement ran (the queue attributing a just-paid order) makes its plain INSERT of the
    claims fail with a unique violation: the statement is rolled back and run again, and no longer
    sees that order. Given up after ``CLAIM_TRIES`` such collisions in a row."""
    sql, params = _statement(policy, start, end, order_ids)
    for attempt in range(1, CLAIM_TRIES + 1):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # a month is hundreds of thousands of orders: sort and hash them in memory, not on disk
                cursor.execute("SET LOCAL work_mem = '128MB'")
                cursor.execute(sql, params)
                return cursor.fetchone()[0]
        except IntegrityError as error:
            constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
            if attempt == CLAIM_TRIES or constraint != "attribution_orderattribution_pkey":
                raise
    raise AssertionError("unreachable")
