"""The set-based SQL attribution (``attribution.bulk``) gives exactly the lines and rules of the
per-order rules in Python (``services.decide`` + ``build_lines``), on random members, bindings of every
source (some ended, some not counting), clerks who left, referral codes and counter sales, under every
conflict rule and leaver rule, with category and channel rates, exclusions and age factors."""

import io
import random
import threading
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from attribution import services as attribution
from attribution.bulk import orders_attribute_bulk
from attribution.models import AttributionLine, Binding, OrderAttribution, Source
from members import services as member_services
from omo.org import services as org
from omo.org.roles import Role
from orders import services as orders
from orders.models import Order
from tests.attribution.conftest import ADDRESS, DAY0
from tests.factories import make_staff
from tests.inventory.conftest import receive

FIELDS = ("order_id", "lines", "clerk_id", "store_id", "binding_id", "rule", "share", "base", "rate", "factor",
          "commission", "store_amount", "personal_amount", "eligible_on")  # fmt: skip


def _scenario(shop, policy, clock, hq_admin, conflict: str, departed: str) -> tuple[list, dict]:
    """36 paid orders of every kind over 60 days of random bindings; returns the lines and rules the
    Python rules give them (nothing attributed yet)."""
    rng = random.Random(f"{conflict}-{departed}")
    policy(
        conflict=conflict,
        departed_clerk=departed,
        category_rates={"women": "0.06", "women/bottoms": "0.1"},
        channel_rates={"WEB": "0.04"},
        excluded_categories=["accessories"],
        age_factors=[[0, "1"], [10, "0.75"], [40, "0.5"]],
    )
    clerks = [
        make_staff(Role.CLERK, store=store, username=f"c{i}").user
        for i, store in enumerate([shop.store_a, shop.store_a, shop.store_b, shop.store_b, shop.store_a])
    ]
    members = [shop.member] + [member_services.member_register(phone=f"092200{i:04d}").member for i in range(9)]
    sources = list(Source.values)
    rows = []
    for _ in range(45):
        clerk = rng.choice([*clerks, None])
        store = clerk.staff_profile.home_store if clerk else rng.choice([shop.store_a, shop.store_b])
        start = DAY0 + timedelta(days=rng.uniform(0, 58))
        rows.append(
            Binding(
                member=rng.choice(members),
                clerk=clerk,
                store=store,
                source=rng.choice(sources),
                started_at=start,
                counts=rng.random() > 0.15,
                ended_at=start + timedelta(days=rng.uniform(1, 20)) if rng.random() < 0.15 else None,
            )
        )
    Binding.objects.bulk_create(rows)
    org.staff_deactivate(actor=hq_admin, profile=clerks[4].staff_profile)  # one clerk has left
    org.staff_deactivate(actor=hq_admin, profile=clerks[1].staff_profile)  # and another
    for variant in (shop.tee, shop.jeans, shop.cap):
        receive(shop.store_b, variant, 40)
        receive(shop.store_a, variant, 40)
    clock(60)
    for n in range(36):
        member = rng.choice([*members, None])
        lines = [(sku, rng.randint(1, 3)) for sku in rng.sample(["TEE-M", "JEANS-M", "CAP-M"], rng.randint(1, 3))]
        if n % 4 == 0:  # a counter sale by a clerk (one who has left included)
            clerk = rng.choice(clerks)
            store = clerk.staff_profile.home_store
            order = orders.order_place(
                channel=shop.pos, lines=lines, fulfilment="counter", member=member, store=store, clerk=clerk
            )
            orders.order_pay(order=order, tenders=[{"tender": "cash"}])
        else:
            code = rng.choice(clerks).staff_profile.referral_code if n % 5 == 0 else ""
            order = orders.order_place(
                channel=shop.web,
                lines=lines,
                fulfilment="ship",
                member=member,
                shipping_address=ADDRESS,
                referral_code=code,
            )
            orders.order_pay(order=order, tenders=[{"tender": "card", "token": "tok_visa"}])
        clock(60, hours=n)
    paid = list(
        Order.objects.filter(paid_at__isnull=False)
        .select_related("channel", "store", "clerk", "member")
        .prefetch_related("lines__variant__product__category")
        .order_by("pk")
    )
    the_policy = attribution.policy_at(paid[0].paid_at)
    bindings: dict[int, list] = {}
    for b in Binding.objects.select_related("clerk"):
        bindings.setdefault(b.member_id, []).append(b)

    expected, rules = [], {}
    for order in paid:
        decision = attribution.decide(order, the_policy, bindings.get(order.member_id, []))
        rules[order.pk] = decision.rule
        for line in attribution.build_lines(order, list(order.lines.all()), the_policy, decision):
            expected.append(plain(getattr(line, f) for f in FIELDS))

    assert len(paid) == 36 and not OrderAttribution.objects.exists()
    return expected, rules


def plain(values) -> tuple:
    """A row's values comparable whatever wrote them: decimals normalized, and each order line's part
    ([id, base, rate, commission], amounts as text) as numbers."""

    def one(v):
        if isinstance(v, list):
            return tuple((int(i), *(Decimal(str(x)).normalize() for x in rest)) for i, *rest in v)
        return v.normalize() if hasattr(v, "normalize") else v

    return tuple(one(v) for v in values)


def _plain_lines() -> list:
    return [plain(row) for row in AttributionLine.objects.values_list(*FIELDS)]


@pytest.mark.postgres
@pytest.mark.parametrize("conflict", ["latest", "first", "split"])
@pytest.mark.parametrize("departed", ["store", "nobody"])
def test_the_sql_engine_agrees_with_the_rules_line_for_line(
    require_postgres, shop, policy, clock, hq_admin, conflict, departed
):
    expected, rules = _scenario(shop, policy, clock, hq_admin, conflict, departed)

    done = orders_attribute_bulk(paid_from=DAY0, paid_to=DAY0 + timedelta(days=90))

    assert done == 36
    assert sorted(_plain_lines(), key=str) == sorted(expected, key=str)
    assert dict(OrderAttribution.objects.values_list("order_id", "rule")) == rules
    # the scenario reaches several rules, and credits of one order line and of several
    assert len(set(rules.values())) >= 4 and len(expected) > 12
    assert {len(row[1]) for row in expected} >= {1, 2}
    assert orders_attribute_bulk(paid_from=DAY0, paid_to=DAY0 + timedelta(days=90)) == 0  # once only


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_backfill_on_several_connections_gives_the_same_lines(require_postgres, shop, policy, clock, hq_admin):
    """``manage.py attribute_orders --workers 3``: three slices of time, each on its own connection and
    in its own transaction, at the same time; the lines are those of the rules, each order once."""
    with mock.patch("omo.core.queue.enqueue"):  # the queue attributes nothing as the orders are paid
        expected, rules = _scenario(shop, policy, clock, hq_admin, "split", "store")
    first, last = DAY0.date(), (DAY0 + timedelta(days=90)).date()
    out = io.StringIO()

    call_command("attribute_orders", "--from", str(first), "--to", str(last), "--workers", "3", stdout=out)

    assert out.getvalue().startswith("36 orders attributed")
    assert sorted(_plain_lines(), key=str) == sorted(expected, key=str)
    assert dict(OrderAttribution.objects.values_list("order_id", "rule")) == rules
    call_command("attribute_orders", "--from", str(first), "--to", str(last), "--workers", "3", stdout=out)
    assert "\n0 orders attributed" in out.getvalue()  # once only


def _claim_elsewhere(order, policy, release: threading.Event) -> threading.Thread:
    """Another transaction (the queue, say) claims ``order`` and commits only when ``release`` is set;
    returns once the claim is written."""
    written = threading.Event()

    def other():
        try:
            with transaction.atomic():
                OrderAttribution.objects.create(order=order, policy=policy, rule="elsewhere", explanation="")
                written.set()
                release.wait(20)
        finally:
            connection.close()

    thread = threading.Thread(target=other)
    thread.start()
    assert written.wait(20)
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_order_claimed_meanwhile_elsewhere_is_left_to_that_claim(require_postgres, shop, policy, clock, hq_admin):
    """The statement's claims are a plain INSERT: one order claimed by another transaction while it
    runs makes it fail on that order's key, and it runs again without it."""
    with mock.patch("omo.core.queue.enqueue"):
        expected, _rules = _scenario(shop, policy, clock, hq_admin, "latest", "store")
    taken = Order.objects.filter(paid_at__isnull=False, lines__isnull=False).order_by("pk").first()
    release = threading.Event()
    thread = _claim_elsewhere(taken, attribution.policy_at(taken.paid_at), release)
    threading.Timer(1.0, release.set).start()  # the statement waits for the other claim's fate

    done = orders_attribute_bulk(paid_from=DAY0, paid_to=DAY0 + timedelta(days=90))

    thread.join()
    assert done == 35
    assert OrderAttribution.objects.get(order=taken).rule == "elsewhere"
    assert sorted(_plain_lines(), key=str) == sorted((row for row in expected if row[0] != taken.pk), key=str)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_queue_meeting_a_claim_made_meanwhile_returns_it_and_writes_nothing(
    require_postgres, shop, policy, clock, hq_admin
):
    with mock.patch("omo.core.queue.enqueue"):
        _scenario(shop, policy, clock, hq_admin, "latest", "store")
    order = Order.objects.filter(paid_at__isnull=False, lines__isnull=False).order_by("pk").first()
    release = threading.Event()
    thread = _claim_elsewhere(order, attribution.policy_at(order.paid_at), release)
    threading.Timer(1.0, release.set).start()

    claim = attribution.order_attribute(order=order)

    thread.join()
    assert claim.rule == "elsewhere"
    assert not AttributionLine.objects.filter(order=order).exists()
