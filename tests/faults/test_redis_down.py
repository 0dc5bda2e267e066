"""Redis down (the Celery broker and the shared cache): a POS sale and an online order still commit,
answer at once (201, paid) and are not failed by the tasks they could not queue; when Redis is back the
beat's catch-up jobs, run by a real worker, do what was not queued: the outbox events are relayed and
the orders are attributed to the clerk.

Redis being down is a closed port (the test's broker URL and cache point there); the Redis server
that other processes use is never stopped. The real worker (``live_worker``) keeps its own connection
to the real Redis."""

from __future__ import annotations

import logging
import time
import uuid

import pytest

from attribution import services as attribution
from attribution.models import AttributionLine
from omo.events.models import OutboxEvent
from orders.models import Order
from tests.attribution.conftest import POLICY
from tests.conftest import client_for, free_port
from tests.events.test_sync_faults import broker
from tests.orders.test_orders_api import ADDRESS, frontend

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def post(client, url, body):
    started = time.monotonic()
    response = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    return response, time.monotonic() - started


@pytest.fixture
def redis_down(settings, live_worker):
    """A block in which this process's broker and cache are a Redis that does not answer."""
    from contextlib import contextmanager

    @contextmanager
    def down():
        closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
        saved = settings.CACHES
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": closed,
                "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
            }
        }
        from celery.backends.redis import RedisBackend

        from omo.celery import app

        saved_backend = app.backend
        app._local.backend = RedisBackend(url=closed, app=app)  # REDIS_URL is the result store too
        try:
            with broker(closed, live_worker):
                yield
        finally:
            settings.CACHES = saved
            app._local.backend = saved_backend

    return down


def test_sales_commit_with_redis_down_and_the_work_catches_up(
    shop, clerk_a, hq_admin, live_worker, redis_down, caplog, tmp_path
):
    from omo.celery import app

    attribution.policy_adopt(actor=hq_admin, policy=attribution.policy_create(actor=hq_admin, **POLICY))
    clerk, web = client_for(clerk_a), frontend(shop.web, shop.member)
    caplog.set_level(logging.WARNING)
    rounds = []

    with redis_down():
        for _round in range(2):  # the first requests of a process also pay its imports: timed apart
            timings = {}
            sale, timings["pos place"] = post(
                clerk, "/api/v1/orders/", {"lines": [{"sku": "JEANS-M", "quantity": 1}], "fulfilment": "counter",
                                           "member_no": shop.member.member_no}
            )  # fmt: skip
            assert sale.status_code == 201, sale.json()
            paid, timings["pos pay"] = post(
                clerk, f"/api/v1/orders/{sale.json()['number']}/pay/", {"tenders": [{"tender": "cash"}]}
            )
            assert (paid.status_code, paid.json()["status"]) == (200, "completed")
            online, timings["web place"] = post(
                web, "/api/v1/orders/", {"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "ship",
                                         "shipping_address": ADDRESS}
            )  # fmt: skip
            assert online.status_code == 201, online.json()
            web_paid, timings["web pay"] = post(
                web, f"/api/v1/orders/{online.json()['number']}/pay/", {"tenders": [{"tender": "card", "token": "t"}]}
            )
            assert (web_paid.status_code, web_paid.json()["status"]) == (200, "paid")
            rounds.append({k: round(v, 3) for k, v in timings.items()})

    print("request times with Redis down (s):", rounds)  # noqa: T201
    assert max(rounds[1].values()) < 1, rounds  # nothing waits for Redis (a plain delay() waited ~19 s)
    orders = list(Order.objects.order_by("pk"))
    assert [(o.channel.code, o.status) for o in orders] == [("POS", "completed"), ("WEB", "paid")] * 2  # committed
    # what could not be queued is logged, and is still to do
    assert any("could not queue" in r.getMessage() for r in caplog.records)
    waiting = list(OutboxEvent.objects.filter(published_at__isnull=True).values_list("pk", flat=True))
    assert len(waiting) >= 8  # at least created and paid, of each order
    assert not AttributionLine.objects.exists()

    # Redis is back: the beat's catch-up jobs (every second and every minute) on the real worker
    def run(name):
        try:
            return app.send_task(name, queue=live_worker).get(timeout=60)
        except Exception:
            pytest.fail(f"{name} did not run:\n{(tmp_path / 'worker.log').read_text()[-4000:]}")

    app.send_task("omo.events.tasks.outbox_relay_all", queue=live_worker)  # keeps no result: polled below
    assert run("attribution.tasks.orders_attribute_pending") == 4
    deadline = time.monotonic() + 60
    while OutboxEvent.objects.filter(pk__in=waiting, published_at__isnull=True).exists():
        assert time.monotonic() < deadline, f"the relay did not catch up\n{(tmp_path / 'worker.log').read_text()}"
        time.sleep(0.2)
    credited = sorted(
        AttributionLine.objects.filter(kind="sale").values_list("order__channel__code", "clerk__username", "base")
    )
    assert [(c, u) for c, u, _b in credited] == [("POS", "a.clerk")] * 2 + [("WEB", "a.clerk")] * 2
