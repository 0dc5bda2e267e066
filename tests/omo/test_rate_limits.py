"""Rate limits on member log-in codes, coupon checks and order placement (omo/core/ratelimit.py):
a refusal is a 429 ``rate_limited`` with Retry-After and changes nothing; the counters are shared
through Redis by every thread and process; a frontend's many shoppers do not share one limit."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis
import time_machine
from rest_framework.test import APIClient

from members import auth
from members import services as member_services
from members.models import LoginCode
from members.sms import FakeSmsProvider
from omo.core import ratelimit
from omo.core.models import IdempotencyKey
from omo.org import services as org
from orders.models import Order
from tests.conftest import ROOT, client_for, free_port
from tests.factories import SalesChannelFactory
from tests.orders import conftest as orders_fixtures
from tests.orders.conftest import on_hand

shop, fake_gateway = orders_fixtures.shop, orders_fixtures.fake_gateway  # the orders tests' small shop

CODE_URL, VERIFY_URL = "/api/v1/members/login/code/", "/api/v1/members/login/verify/"
COUPON_URL, QUOTE_URL, ORDER_URL = "/api/v1/members/coupons/validate/", "/api/v1/orders/quote/", "/api/v1/orders/"
ADDRESS = {"name": "林美華", "phone": "0912345678", "address": "台北市信義區松高路 1 號"}


@pytest.fixture(autouse=True)
def fresh_counters():
    from django.core.cache import cache

    cache.clear()  # local memory here; the Redis tests use a key prefix of their own
    FakeSmsProvider.outbox.clear()
    yield
    FakeSmsProvider.outbox.clear()


@pytest.fixture
def limits(settings):
    """``limits(otp_phone="2/m", ...)``: lowers the named limits for this test (the test settings keep
    every limit out of reach)."""

    def set_limits(**rates):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, **rates}

    return set_limits


@pytest.fixture
def redis_cache(settings, redis_url):
    """The default cache on the real Redis, under a key prefix of this test's own."""
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
        }
    }
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def frontend(channel=None, member=None, **headers) -> APIClient:
    channel = channel or SalesChannelFactory(kind="web")
    _credential, key = org.channel_credential_issue(channel=channel, name="test", created_by=None)
    client = APIClient()
    if member is not None:
        headers["HTTP_X_MEMBER_TOKEN"] = auth.member_token(member)
    client.credentials(HTTP_X_API_KEY=key, **headers)
    return client


def refused_properly(response) -> int:
    """The 429 in the project's error shape; the Retry-After seconds."""
    assert response.status_code == 429, response.content
    body = response.json()
    assert (body["code"], body["details"]) == ("rate_limited", {})
    assert body["message"].startswith("Too many requests; try again in ")
    return int(response["Retry-After"])


# --- the counter -------------------------------------------------------------------------------------


def test_rates_are_read_as_count_per_period():
    assert ratelimit.parse_rate("30/m") == (30, 60)
    assert ratelimit.parse_rate("5/10m") == (5, 600)
    assert ratelimit.parse_rate("100/h") == (100, 3600)
    assert ratelimit.parse_rate("off") is None
    assert ratelimit.parse_rate("0/m") is None
    with pytest.raises(ValueError):
        ratelimit.parse_rate("lots")


def test_the_window_slides_and_retry_after_says_when_one_more_fits(limits):
    limits(otp_phone="2/m")
    rule = [ratelimit.Rule("otp_phone", "+886900000001")]
    t0 = 6_000_000 * 60.0  # the start of a window

    allowed = [ratelimit.check(rule, now=t0 + s) for s in (0, 10)]
    refused_same_window = ratelimit.check(rule, now=t0 + 30)
    # next window, 1 s in: the previous window's 2 still weigh 59/60 of 2
    refused_next_window = ratelimit.check(rule, now=t0 + 61)
    allowed_when_told = ratelimit.check(rule, now=t0 + 61 + refused_next_window)

    assert allowed == [0, 0]
    assert refused_same_window == 60  # the window's 2 slide out over the whole next window
    assert refused_next_window == 29  # 2 × (60 - 1 - 29) / 60 + 1 = 2
    assert allowed_when_told == 0


def test_a_refused_request_counts_nowhere(limits):
    limits(otp_phone="5/m", otp_client="1/m")
    t = 6_000_000 * 60.0
    phone, other_ip = ratelimit.Rule("otp_phone", "+886900000002"), ratelimit.Rule("otp_client", "ip:2")

    assert ratelimit.check([phone, ratelimit.Rule("otp_client", "ip:1")], now=t) == 0
    refusals = [ratelimit.check([phone, ratelimit.Rule("otp_client", "ip:1")], now=t + 1) for _ in range(10)]
    # the phone's counter was given back each time: four more fit from another address
    after = [ratelimit.check([phone, other_ip], now=t + 2)] + [ratelimit.check([phone], now=t + 2) for _ in range(3)]

    assert all(wait > 0 for wait in refusals)
    assert after == [0, 0, 0, 0]
    assert ratelimit.check([phone], now=t + 3) > 0


def test_a_cache_that_does_not_answer_lets_requests_through(db, settings, limits):
    limits(otp_phone="1/h")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    app = frontend()

    answers = [app.post(CODE_URL, {"phone": "0912345678"}, format="json").status_code for _ in range(2)]

    assert answers == [202, 202]  # not 500: a Redis outage must not stop log-ins and sales


# --- member log-in codes -----------------------------------------------------------------------------


def test_login_codes_are_limited_per_phone_and_a_refused_request_sends_nothing(db, limits):
    limits(otp_phone="2/10m")
    app = frontend()

    sent = [app.post(CODE_URL, {"phone": "0912-345-678"}, format="json").status_code for _ in range(2)]
    refused = app.post(CODE_URL, {"phone": "0912345678"}, format="json")  # the same phone, typed otherwise
    other_phone = app.post(CODE_URL, {"phone": "0922000111"}, format="json")

    assert sent == [202, 202]
    assert 1 <= refused_properly(refused) <= 900  # at most the rest of this window and half the next
    assert other_phone.status_code == 202
    assert LoginCode.objects.filter(phone="+886912345678").count() == 2
    assert [m.phone for m in FakeSmsProvider.outbox] == ["+886912345678", "+886912345678", "+886922000111"]


def test_code_checks_are_limited_per_phone(db, limits):
    limits(otp_verify_phone="3/10m")
    app = frontend()
    app.post(CODE_URL, {"phone": "0912345678"}, format="json")

    wrong = [app.post(VERIFY_URL, {"phone": "0912345678", "code": "000000"}, format="json") for _ in range(3)]
    refused = app.post(VERIFY_URL, {"phone": "0912345678", "code": "000000"}, format="json")

    assert [r.json()["code"] for r in wrong] == ["invalid_code"] * 3
    refused_properly(refused)
    assert LoginCode.objects.get().attempts == 3  # the refused check did not reach the code


def test_a_forwarded_shopper_address_counts_only_when_configured(db, settings, limits):
    limits(otp_client="2/10m")
    channel = SalesChannelFactory(kind="web")
    app = frontend(channel)
    phones = iter(f"09120000{n:02d}" for n in range(20))

    def ask(ip):
        return app.post(CODE_URL, {"phone": next(phones)}, format="json", HTTP_X_SHOPPER_IP=ip).status_code

    untrusted = [ask("203.0.113.5") for _ in range(4)]  # the header is ignored: many shoppers, one server
    settings.RATE_LIMIT_SHOPPER_IP_HEADER = "X-Shopper-IP"
    trusted = [ask("203.0.113.9") for _ in range(3)] + [ask("198.51.100.7")]

    assert untrusted == [202, 202, 202, 202]
    assert trusted == [202, 202, 429, 202]


def test_a_frontend_without_shopper_identity_is_held_only_by_its_key(db, limits):
    limits(otp_phone="100/m", otp_client="1/m", otp_channel="3/m")
    channel = SalesChannelFactory(kind="web")
    one, other = frontend(channel), frontend(channel)

    first = [one.post(CODE_URL, {"phone": f"091200001{n}"}, format="json").status_code for n in range(4)]
    second_key = other.post(CODE_URL, {"phone": "0912000020"}, format="json").status_code

    assert first == [202, 202, 202, 429]
    assert second_key == 202
    assert len(FakeSmsProvider.outbox) == 4


# --- coupon checks -----------------------------------------------------------------------------------


def test_coupon_checks_are_limited_per_member_not_per_frontend(shop, limits):
    limits(coupon_shopper="3/m")
    other_member = member_services.member_register(phone="0922333444").member
    web = frontend(shop.web, shop.member)
    same_shop_other_member = frontend(shop.web, other_member)
    body = {"code": "GUESS", "lines": []}

    checks = [web.post(COUPON_URL, body, format="json").status_code for _ in range(3)]
    refused = web.post(COUPON_URL, body, format="json")
    quote = web.post(QUOTE_URL, {"lines": [{"sku": "TEE-M", "quantity": 1}], "coupon": "GUESS"}, format="json")
    quote_without_coupon = web.post(QUOTE_URL, {"lines": [{"sku": "TEE-M", "quantity": 1}]}, format="json")
    other = same_shop_other_member.post(COUPON_URL, body, format="json").json()["code"]

    assert checks == [404, 404, 404]  # coupon_not_found: what a guesser gets
    refused_properly(refused)
    refused_properly(quote)  # a quote with a coupon is a coupon check too
    assert quote_without_coupon.status_code == 200
    assert other == "coupon_not_found"


def test_collecting_a_coupon_by_code_counts_as_a_coupon_check(shop, limits):
    limits(coupon_shopper="3/m")
    web = frontend(shop.web, shop.member)
    wallet = f"/api/v1/members/{shop.member.member_no}/coupons/"

    tries = [web.post(wallet, {"code": f"GUESS{n}"}, format="json").status_code for n in range(2)]
    check = web.post(COUPON_URL, {"code": "GUESS", "lines": []}, format="json").status_code
    refused = web.post(wallet, {"code": "GUESS9"}, format="json")

    assert tries == [404, 404] and check == 404  # one counter for every way of trying a code
    refused_properly(refused)
    assert web.get(wallet).status_code == 200  # reading the wallet is not a try


def test_staff_coupon_checks_are_counted_per_login(db, clerk_a, clerk_b, limits):
    limits(coupon_shopper="1/m")
    body = {"code": "GUESS", "lines": []}

    first = client_for(clerk_a).post(COUPON_URL, body, format="json").json()["code"]
    second = client_for(clerk_a).post(COUPON_URL, body, format="json")
    colleague = client_for(clerk_b).post(COUPON_URL, body, format="json").json()["code"]

    assert first == "coupon_not_found"
    refused_properly(second)
    assert colleague == "coupon_not_found"


# --- order placement ---------------------------------------------------------------------------------


def place(client, key=None):
    return client.post(
        ORDER_URL,
        {"lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": "ship", "shipping_address": ADDRESS},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex,
    )


def test_a_refused_order_places_nothing_and_its_key_can_be_used_once_the_wait_is_over(shop, limits):
    limits(order_shopper="1/m")
    web = frontend(shop.web, shop.member)
    with time_machine.travel("2026-03-02 10:00:00 +0800", tick=False) as clock:
        first = place(web)
        stock_after_first = on_hand(shop.tee, shop.warehouse)
        refused = place(web, key="retry-me")
        wait = refused_properly(refused)

        assert first.status_code == 201
        assert Order.objects.count() == 1
        assert on_hand(shop.tee, shop.warehouse) == stock_after_first
        assert not IdempotencyKey.objects.filter(key="retry-me").exists()  # the 429 is not kept as the answer

        clock.shift(wait)
        retried = place(web, key="retry-me")
    assert retried.status_code == 201
    assert Order.objects.count() == 2


def test_reading_orders_is_not_limited(shop, limits):
    limits(order_shopper="1/m")
    web = frontend(shop.web, shop.member)
    assert [web.get(ORDER_URL).status_code for _ in range(3)] == [200, 200, 200]


def test_a_frontends_orders_are_held_by_its_key_limit(shop, limits):
    limits(order_shopper="1/m", order_channel="2/m")
    guest = frontend(shop.web)  # no member, no forwarded address: only the key's limit applies

    answers = [place(guest).status_code for _ in range(3)]

    assert answers == [201, 201, 429]
    assert Order.objects.count() == 2


# --- shared through the real Redis -------------------------------------------------------------------


def test_two_clients_share_the_limit_through_redis(db, redis_cache, redis_url, limits):
    limits(otp_phone="3/10m")
    shop_a, shop_b = frontend(), frontend()  # two frontends, two keys, the same phone

    answers = [c.post(CODE_URL, {"phone": "0912345678"}, format="json").status_code for c in (shop_a, shop_b) * 3]

    assert answers == [202, 202, 202, 429, 429, 429]
    assert LoginCode.objects.count() == 3
    keys = list(redis.Redis.from_url(redis_url).scan_iter(f"{redis_cache}:*omo:rl:otp_phone:*"))
    assert len(keys) == 1
    assert 0 < redis.Redis.from_url(redis_url).ttl(keys[0]) <= 1201  # never a counter without expiry


def test_threads_hammering_one_counter_never_pass_more_than_the_limit(redis_cache, limits):
    limits(order_shopper="100/h")
    rule = [ratelimit.Rule("order_shopper", f"member:{uuid.uuid4().hex}")]
    now = 500_000 * 3600.0 + 1800  # mid-window, fixed: the count alone decides
    allowed, barrier = [], threading.Barrier(8)

    def hammer():
        barrier.wait()
        allowed.extend(1 for _ in range(60) if ratelimit.check(rule, now=now) == 0)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(allowed) == 100  # 480 tries, each thread with its own Redis connection


HAMMER = """
import json, sys, threading, time
import django
django.setup()
from omo.core import ratelimit
rule, now, allowed = [ratelimit.Rule("order_shopper", sys.argv[1])], float(sys.argv[2]), []
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # both processes start together
def hammer():
    allowed.extend(1 for _ in range(100) if ratelimit.check(rule, now=now) == 0)
threads = [threading.Thread(target=hammer) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
print(json.dumps(len(allowed)))
"""


def test_two_processes_hammering_one_counter_never_pass_more_than_the_limit(redis_url):
    ident = f"member:{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "omo.settings",
        "REDIS_URL": redis_url,
        "RATE_LIMIT_ORDER_SHOPPER": "150/h",
    }
    now, start_at = str(500_000 * 3600.0 + 1800), str(time.time() + 4)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, ident, now, start_at], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]

    assert [proc.returncode for proc in procs] == [0, 0]
    counts = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    assert sum(counts) == 150  # 800 tries from two processes
    client = redis.Redis.from_url(redis_url)
    client.delete(*client.scan_iter(f"*{ratelimit._key(ratelimit.Rule('order_shopper', ident), 500_000)}"))
