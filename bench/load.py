"""Load test: a realistic mix of API and POS traffic through gunicorn, at increasing rates, beside a
plain DRF endpoint with no database (``GET /api/v1/ping/``) measured the same way in the same run.

``python -m bench load`` (settings below from the environment):

- a fresh PostgreSQL database (``BENCH_DATABASE_URL``, default ``…/omo_bench_load``; migrated by
  ``bench.__main__.prepare_database``), seeded with the demo brand (``seed_demo``: 2 warehouses, 5
  stores, the catalog on every channel, 3,000 members with points and a purchase history; its year of
  past orders, attribution, dashboard and marketing data only with ``BENCH_LOAD_FULL_DEMO=1``) plus, for
  the load: 20,000 units of every SKU at the e-commerce warehouse and 5,000 at each store, and
  ``BENCH_LOAD_CLERKS`` (48) clerks with a register each and an open shift, spread over the stores;
- gunicorn (``BENCH_LOAD_WORKERS`` sync workers, default 2 x cores + 1; ``BENCH_LOAD_THREADS`` > 1
  makes them gthread) with ``DEBUG=0``, ``HTTPS=0``, a random ``SECRET_KEY``, ``ALLOWED_HOSTS``,
  persistent database connections and the real Redis (``BENCH_REDIS_URL``, default db 7), and one
  Celery worker with beat on a queue of its own (``BENCH_LOAD_CELERY=0``: none, tasks stay queued);
  the rate limits (``RATE_LIMIT_*``) are set to 1,000,000 a minute for it, so they are counted (in
  Redis, as in production) but never refuse;
- locust as a library (``FastHttpUser``, headless, in this process): steps of increasing target rate
  (``BENCH_LOAD_RATES``, default 10,15,20,30,40,60,80 ... 1280 requests/s, about 1.4x a step), each
  ``BENCH_LOAD_STEP_SECONDS`` (30) measured after ``BENCH_LOAD_WARMUP_SECONDS`` (5), stopping after
  ``BENCH_LOAD_OVER_STEPS`` (2) steps in a row whose p99 is over 200 ms (or ``BENCH_LOAD_MAX_RATE``).
  Each user paces its tasks so the step's mix of requests is:

  - 70% catalog and availability reads (channel key): product lists by category and search, product
    detail, availability of several SKUs, one SKU in detail, a cart's pickup stores;
  - 20% online orders: ``POST /api/v1/orders/`` (1-3 lines, 70% shipped, 30% picked up in a store,
    40% with a member's ``X-Member-Token``, a fresh ``Idempotency-Key``, retried with the same key on a
    transport error, a 5xx or a transient 409) and ``POST …/pay/`` by card;
  - 5% POS sales through the real till pages (a clerk's session and CSRF cookie): scan x3, member by
    phone, coupon, pay (cash + card), receipt;
  - 5% member calls: ``me/``, ``me/points/``, ``me/coupons/`` with a member token, and a log-in by SMS
    code (``login/code/`` + ``login/verify/``; the code comes back through Redis from
    ``RedisSmsProvider``, standing in for the SMS gateway).

  Then the same steps against ``/api/v1/ping/``.

Per step: the target and achieved rate, p50/p95/p99 and errors, overall and per request type. The
sustained rate is the highest step with p99 <= 200 ms and no errors. Afterwards every order the run
placed is checked (each 201 exactly once in the database under its key and number, each paid one
paid, each POS receipt one completed order; orders nobody acknowledged counted apart), and the stock
ledger against the balances. Last, a markdown table for the README with the date.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from http.cookiejar import Cookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
LOG = Path(tempfile.gettempdir()) / "omo-bench-load-gunicorn.log"
WORKER_LOG = Path(tempfile.gettempdir()) / "omo-bench-load-celery.log"
P99_GOAL_MS = 200.0
SMS_KEY = "omo:bench:load:sms:"
TILL_COUPON = "LOAD100"
WAREHOUSE_UNITS = 20_000
STORE_UNITS = 5_000
HIGH_LIMIT = "1000000/m"
RATE_LIMIT_ENV = [
    "RATE_LIMIT_OTP_PHONE",
    "RATE_LIMIT_OTP_VERIFY_PHONE",
    "RATE_LIMIT_OTP_CLIENT",
    "RATE_LIMIT_OTP_CHANNEL",
    "RATE_LIMIT_COUPON_SHOPPER",
    "RATE_LIMIT_COUPON_CHANNEL",
    "RATE_LIMIT_ORDER_SHOPPER",
    "RATE_LIMIT_ORDER_CHANNEL",
]
# Share of the requests per kind, and the requests one task of that kind makes.
MIX = {"catalog": 0.70, "order": 0.20, "pos": 0.05, "member": 0.05}
REQUESTS_PER_TASK = {"catalog": 1.0, "order": 2.0, "pos": 7.0, "member": 1.1, "ping": 1.0}
# Seconds between two tasks of one user at most (more users when the rate needs it): a shopper clicks
# every few seconds, a clerk finishes a sale every half minute or so.
CYCLE = {"catalog": 2.0, "order": 4.0, "pos": 30.0, "member": 4.0, "ping": 1.0}

_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_SALE_ID = re.compile(r'name="sale_id" value="([0-9a-f]+)"')
_TOTAL = re.compile(r'id="total">NT\$ ([0-9,.]+)<')
_CODE = re.compile(r"\b(\d{6})\b")


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


class RedisSmsProvider:
    """The SMS gateway of the load run (``MEMBER_SMS_PROVIDER`` of its gunicorn): keeps each phone's
    last text in Redis for ten minutes, where the simulated shopper reads the code."""

    def send(self, *, phone: str, text: str) -> None:
        import redis
        from django.conf import settings

        client = redis.Redis.from_url(settings.REDIS_URL)
        try:
            client.set(SMS_KEY + phone, text, ex=600)
        finally:
            client.close()


# --- data ---------------------------------------------------------------------------------------------


def seed(clerks: int) -> dict:
    """The demo brand, topped up for the load; returns what the simulated users need."""
    from datetime import timedelta
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.db.models import Count, Q
    from django.utils import timezone

    from catalog.models import Category, Product, Variant
    from inventory import services as inventory
    from inventory.models import ChannelLocation
    from members import coupons
    from members.auth import member_token
    from members.models import Coupon, Member
    from omo.demo.seed import CHANNELS, seed_demo
    from omo.org import services as org
    from omo.org.models import Location, SalesChannel
    from omo.org.roles import Role
    from pos import services as pos

    started = time.perf_counter()
    if not Location.objects.filter(code="S-TPE01").exists():
        if os.environ.get("BENCH_LOAD_FULL_DEMO") == "1":
            seed_demo()
        else:  # without the year of past orders, attribution, dashboard and marketing data: minutes faster
            from unittest import mock

            with contextlib.ExitStack() as stack:
                for part in ("seed_orders", "seed_attribution", "seed_dashboard", "seed_marketing"):
                    stack.enter_context(mock.patch(f"omo.demo.seed.{part}", lambda result: None))
                seed_demo()
    web = SalesChannel.objects.get(code="WEB")
    pos_channel = SalesChannel.objects.get(code="POS")
    web_key = next(key for code, _name, _kind, key in CHANNELS if code == "WEB")
    stores = list(Location.objects.filter(kind=Location.Kind.STORE, is_active=True).order_by("code"))
    warehouse = Location.objects.get(code="WH-EC")
    # Non-perishable active SKUs priced on both the web and the POS channel: the load's catalog.
    variants = list(
        Variant.objects.filter(product__status=Product.Status.ACTIVE, product__tracks_lots=False, is_active=True)
        .annotate(n=Count("prices", filter=Q(prices__channel__in=[web, pos_channel]), distinct=True))
        .filter(n=2)
        .select_related("product")
        .order_by("sku")
    )
    marker = "LOAD-BENCH-STOCK"
    from inventory.models import GoodsReceipt

    if not GoodsReceipt.objects.filter(supplier_reference=marker).exists():
        for location, units in [(warehouse, WAREHOUSE_UNITS)] + [(store, STORE_UNITS) for store in stores]:
            receipt = inventory.goods_receipt_create(
                location=location,
                supplier="load bench",
                supplier_reference=marker,
                actor=None,
                lines=[{"variant": v, "quantity": units, "unit_cost": Decimal("200")} for v in variants],
            )
            inventory.goods_receipt_post(receipt=receipt, actor=None)
    if not Coupon.objects.filter(code=TILL_COUPON).exists():  # a shared NT$100-off code for the tills
        now = timezone.now()
        campaign = coupons.campaign_create(
            name="Load bench NT$100 off",
            discount_type="amount",
            amount=Decimal(100),
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=30),
        )
        coupons.coupon_create_shared(campaign=campaign, code=TILL_COUPON)
    pickup_stores = list(
        ChannelLocation.objects.filter(channel=web, offers_pickup=True).values_list("location__code", flat=True)
    )
    # Clerks with a register each and an open shift; their till sessions are made here (a till stays
    # logged in all day), so the run spends no time on password hashing.
    session_store = import_module(settings.SESSION_ENGINE).SessionStore
    from omo.org.models import User
    from pos.models import Register

    tills = []
    for i in range(clerks):
        store = stores[i % len(stores)]
        username = f"load.clerk{i:03d}"
        user = User.objects.filter(username=username).first()
        if user is None:
            user = org.staff_create(
                username=username,
                password=None,
                display_name=f"Load clerk {i}",
                employee_code=f"LD-{i:03d}",
                role=Role.CLERK,
                home_store=store,
            ).user
        register = Register.objects.filter(store=store, code=f"L{i:03d}").first() or pos.register_create(
            actor=None, store=store, code=f"L{i:03d}", name=f"Load till {i}"
        )
        if pos.shift_current(register=register) is None:
            pos.shift_open(actor=user, register=register, opening_cash=Decimal("5000"))
        session = session_store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        tills.append({"register": register.pk, "session": session.session_key, "store": store.code})
    members = list(Member.objects.filter(status=Member.Status.ACTIVE, phone__isnull=False).order_by("member_no")[:3000])
    categories = list(
        Category.objects.filter(products__status=Product.Status.ACTIVE).values_list("path", flat=True).distinct()
    )
    styles = sorted({v.product.style_code for v in variants})
    data = {
        "web_key": web_key,
        "skus": [v.sku for v in variants],
        "styles": styles,
        "categories": sorted(categories),
        "pickup_stores": pickup_stores,
        "tills": tills,
        "members": [(m.phone, member_token(m)) for m in members],
        "local_phones": ["0" + m.phone.removeprefix("+886") for m in members if m.phone.startswith("+886")],
        "coupon": TILL_COUPON,
        "web_channel": web.pk,
        "pos_channel": pos_channel.pk,
        "seconds": time.perf_counter() - started,
    }
    return data


# --- processes ----------------------------------------------------------------------------------------


def _server_env(url: str, queue: str) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "HTTPS": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "60",
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": queue,
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "omo.settings",
        "MEMBER_SMS_PROVIDER": "bench.load.RedisSmsProvider",
    }
    env.update({name: HIGH_LIMIT for name in RATE_LIMIT_ENV})
    return env


def gunicorn_start(url: str, queue: str, *, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    from bench.flash_sale import gunicorn_start as start

    return start(url, workers=workers, threads=threads, env=_server_env(url, queue), log=LOG, wait=60)


def celery_start(url: str, queue: str) -> subprocess.Popen:
    schedule = Path(tempfile.gettempdir()) / f"omo-bench-load-beat-{os.getpid()}"
    command = [
        sys.executable, "-m", "celery", "-A", "omo", "worker", "--beat", f"--schedule={schedule}",
        "--pool=prefork", "--concurrency=1", f"--queues={queue}", f"--hostname={queue}@%h",
        "--without-gossip", "--without-mingle", "--loglevel=WARNING",
    ]  # fmt: skip
    with open(WORKER_LOG, "w") as log:
        return subprocess.Popen(
            command, cwd=ROOT, env=_server_env(url, queue), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _postmaster() -> int | None:
    """The local PostgreSQL server's main process (its backends are its children), if it runs here."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if stat.split(" (", 1)[1].startswith("postgres)") and stat.rsplit(")", 1)[1].split()[1] == "1":
                    return int(entry.name)
    return None


def _cpu_of(pid: int) -> dict[int, float]:
    """CPU seconds of a process and its children (gunicorn's workers: same session; PostgreSQL's backends:
    its children) by process id, from /proc."""
    seconds = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[1] is the parent, fields[3] the session id (gunicorn and Celery lead their own session)
        if int(fields[3]) == pid or int(fields[1]) == pid or int(entry.name) == pid:
            seconds[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings by the processes alive at the second (a process that ended
    in between is not counted; one that started counts whole)."""
    return sum(max(0.0, seconds - before.get(pid, 0.0)) for pid, seconds in after.items())


# --- the simulated users ------------------------------------------------------------------------------


@dataclass
class Record:
    at: float
    kind: str
    name: str
    ms: float
    error: str


@dataclass
class Ledger:
    """What the clients were told: orders placed and paid, POS receipts, and the attempts nobody answered."""

    placed: dict[str, str] = field(default_factory=dict)  # idempotency key -> order number
    paid: set[str] = field(default_factory=set)
    unanswered: set[str] = field(default_factory=set)  # keys given up on (no 201 in the end)
    retries: int = 0
    receipts: list[str] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])  # in every key: an earlier run's orders stay out


def build_users(data: dict, records: list[Record], ledger: Ledger):
    """The locust user classes of the mix and of the baseline (imported late: locust patches the
    standard library with gevent when imported, see bench/__main__.py)."""
    import redis
    from locust import FastHttpUser, task

    run_id = ledger.run_id
    sms = redis.Redis.from_url(REDIS_URL)
    key_header = {"Authorization": f"Api-Key {data['web_key']}"}
    members = data["members"]
    phone_turn = iter(range(10**9))

    def paced(user) -> float:
        """Like locust's constant_pacing with the class's current interval (set per step), starting at a
        random point of the first interval so the users do not all fire together."""
        interval = type(user).interval
        now = time.monotonic()
        last = getattr(user, "_paced_at", None)
        if last is None:
            user._paced_at = now + random.uniform(0, interval)
            return user._paced_at - now
        user._paced_at = max(now, last + interval)
        return user._paced_at - now

    class Base(FastHttpUser):
        abstract = True
        wait_time = paced
        interval = 1.0
        kind = ""
        network_timeout = 30.0
        connection_timeout = 10.0

        def call(self, method, path, name, *, ok=(200,), check=None, **kwargs):
            """One request, recorded as an error unless its status is in ``ok`` (and ``check`` passes)."""
            began = time.perf_counter()
            error = ""
            with self.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
                status = response.status_code
                if status not in ok:
                    error = f"{status} {(response.text or '')[:120]}"
                elif check is not None and (problem := check(response)):
                    error = problem
                if error:
                    response.failure(error)
                else:
                    response.success()
            records.append(Record(time.time(), self.kind, name, (time.perf_counter() - began) * 1000, error))
            return response, error

    class Shopper(Base):
        """Catalog and availability reads of a web frontend."""

        abstract = True
        kind = "catalog"

        @task(25)
        def product_list(self):
            category = random.choice(data["categories"])
            self.call("GET", f"/api/v1/catalog/products/?category={category}", "catalog: products by category",
                      headers=key_header)  # fmt: skip

        @task(5)
        def search(self):
            term = random.choice(data["styles"])[:4]
            self.call("GET", f"/api/v1/catalog/products/?q={term}", "catalog: search", headers=key_header)

        @task(20)
        def product(self):
            style = random.choice(data["styles"])
            self.call("GET", f"/api/v1/catalog/products/{style}/", "catalog: product", headers=key_header)

        @task(30)
        def availability(self):
            skus = ",".join(random.sample(data["skus"], 8))
            self.call("GET", f"/api/v1/inventory/availability/?sku={skus}", "availability: 8 SKUs", headers=key_header)

        @task(15)
        def availability_one(self):
            sku = random.choice(data["skus"])
            self.call("GET", f"/api/v1/inventory/availability/{sku}/", "availability: one SKU", headers=key_header)

        @task(5)
        def cart_stores(self):
            lines = [{"sku": s, "quantity": 1} for s in random.sample(data["skus"], 2)]
            self.call("POST", "/api/v1/inventory/availability/cart/", "availability: cart pickup stores",
                      headers=key_header, json={"lines": lines})  # fmt: skip

    class Buyer(Base):
        """Online orders: place, then pay by card."""

        abstract = True
        kind = "order"

        @task
        def order(self):
            lines = [
                {"sku": sku, "quantity": random.choice((1, 1, 1, 2))}
                for sku in random.sample(data["skus"], random.choice((1, 1, 2, 3)))
            ]
            body: dict = {"lines": lines}
            if random.random() < 0.3 and data["pickup_stores"]:
                body.update(fulfilment="pickup", store=random.choice(data["pickup_stores"]))
            else:
                body.update(
                    fulfilment="ship",
                    shipping_address={"name": "林美華", "phone": "0912345678", "address": "台北市信義路五段7號"},
                )
            headers = dict(key_header)
            if random.random() < 0.4:
                headers["X-Member-Token"] = random.choice(members)[1]
            key = f"load-{run_id}-{uuid.uuid4().hex}"
            number = ""
            for attempt in range(4):  # a client that got no answer tries again with the same key
                headers["Idempotency-Key"] = key
                response, error = self.call("POST", "/api/v1/orders/", "order: place", ok=(201,), headers=headers,
                                            json=body)  # fmt: skip
                if not error:
                    number = response.json()["number"]
                    break
                transient = response.status_code in (0, 409, 500, 502, 503, 504) and "insufficient_stock" not in (
                    response.text or ""
                )
                if not transient:
                    break
                ledger.retries += 1
                time.sleep(0.5 * (attempt + 1))
            if not number:
                ledger.unanswered.add(key)
                return
            ledger.placed[key] = number
            headers["Idempotency-Key"] = f"{key}-pay"
            tender = {"tenders": [{"tender": "card", "token": "tok_load"}]}
            _response, error = self.call("POST", f"/api/v1/orders/{number}/pay/", "order: pay", headers=headers,
                                         json=tender)  # fmt: skip
            if not error:
                ledger.paid.add(number)

    class Clerk(Base):
        """A till: a clerk's session (made by the seed) selling through the POS pages."""

        abstract = True
        kind = "pos"
        tills: list = []

        def on_start(self):
            till = type(self).tills.pop()
            self.till = till
            self.base = f"/pos/r/{till['register']}"
            self.csrf = secrets.token_hex(16)  # Django accepts its own unmasked 32-character secret
            host = self.host.split("//", 1)[1].split(":")[0]
            for name, value in (("sessionid", till["session"]), ("csrftoken", self.csrf)):
                self.client.cookiejar.set_cookie(
                    Cookie(
                        0, name, value, None, False, host, False, False, "/", True, False, None, False, None, None, {}
                    )
                )
            self.turn = random.randrange(1000)

        def on_stop(self):
            type(self).tills.append(self.till)

        def post(self, path, name, form, *, htmx=True, ok=(200,), check=None):
            headers = {"X-CSRFToken": self.csrf, "Referer": f"{self.host}{self.base}/"}
            if htmx:
                headers["HX-Request"] = "true"
            return self.call(
                "POST",
                f"{self.base}/{path}",
                name,
                ok=ok,
                check=check,
                headers=headers,
                data=form,
                allow_redirects=False,
            )

        @task
        def sale(self):
            self.turn += 1
            no_error = lambda r: "pos-error" in (r.text or "") and "the page shows an error"  # noqa: E731
            for k in range(3):
                sku = data["skus"][(self.turn * 3 + k) % len(data["skus"])]
                _r, error = self.post("scan/", "pos: scan", {"code": sku}, check=no_error)
                if error:
                    return
            phone = data["local_phones"][self.turn % len(data["local_phones"])]
            _r, error = self.post("member/", "pos: member", {"phone": phone}, check=no_error)
            if error:
                return
            response, error = self.post("coupon/", "pos: coupon", {"coupon": data["coupon"], "points": ""})
            if error:
                return
            html = response.text or ""
            sale_id, total, token = _SALE_ID.search(html), _TOTAL.search(html), _TOKEN.search(html)
            if not (sale_id and total and token):
                records.append(Record(time.time(), self.kind, "pos: coupon", 0.0, "no pay form on the panel"))
                return
            total = Decimal(total.group(1).replace(",", ""))
            cash = min(total, Decimal(200))
            form = {
                "csrfmiddlewaretoken": token.group(1),
                "sale_id": sale_id.group(1),
                "cash": "500" if cash else "0",
                "card": str(total - cash),
            }
            response, error = self.post("pay/", "pos: pay", form, htmx=False, ok=(302,))
            location = response.headers.get("Location", "") if not error else ""
            if error or "/receipt/" not in location:
                return
            number = location.rstrip("/").rsplit("/", 1)[1]
            ledger.receipts.append(number)
            self.call("GET", location, "pos: receipt", check=lambda r: number not in (r.text or "") and "no number")

    class MemberApp(Base):
        """A member in the shop's app: profile, points, wallet, and now and then a log-in by SMS code."""

        abstract = True
        kind = "member"

        def on_start(self):
            self.token = random.choice(members)[1]

        @task(30)
        def points(self):
            self.call("GET", "/api/v1/members/me/points/", "member: points", headers={**key_header,
                      "X-Member-Token": self.token})  # fmt: skip

        @task(25)
        def me(self):
            self.call("GET", "/api/v1/members/me/", "member: me", headers={**key_header, "X-Member-Token": self.token})

        @task(25)
        def coupons(self):
            self.call("GET", "/api/v1/members/me/coupons/", "member: coupons", headers={**key_header,
                      "X-Member-Token": self.token})  # fmt: skip

        @task(10)
        def login(self):
            phone = members[next(phone_turn) % len(members)][0]  # each phone in turn: 5 codes an hour each
            _r, error = self.call("POST", "/api/v1/members/login/code/", "member: login code", ok=(202,),
                                  headers=key_header, json={"phone": phone})  # fmt: skip
            if error:
                return
            text = (sms.get(SMS_KEY + phone) or b"").decode()
            code = _CODE.search(text)
            if code is None:
                records.append(Record(time.time(), self.kind, "member: login code", 0.0, "no SMS in Redis"))
                return
            response, error = self.call("POST", "/api/v1/members/login/verify/", "member: login verify",
                                        headers=key_header, json={"phone": phone, "code": code.group(1)})  # fmt: skip
            if not error:
                self.token = response.json()["token"]

    class Ping(Base):
        abstract = True
        kind = "ping"

        @task
        def ping(self):
            self.call("GET", "/api/v1/ping/", "ping", check=lambda r: r.text.strip() != '{"ok":true}' and "body")

    return {"catalog": Shopper, "order": Buyer, "pos": Clerk, "member": MemberApp, "ping": Ping}


# --- running the steps --------------------------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


@dataclass
class Step:
    target: float
    seconds: float
    rows: dict  # name -> (count, errors, p50, p95, p99)
    total: tuple
    achieved: float
    errors: int
    error_samples: list
    users: dict
    cpu: dict


def _summary(records: list[Record]) -> tuple:
    times = [r.ms for r in records]
    return (len(records), sum(1 for r in records if r.error), _pct(times, 50), _pct(times, 95), _pct(times, 99))


def run_step(host: str, classes: dict, kinds: dict[str, float], target: float, records: list, *, warmup, seconds,
             pids) -> Step:  # fmt: skip
    """One step at ``target`` requests/s, shared among ``kinds`` (kind -> share of the requests)."""
    import gevent
    from locust.env import Environment

    user_classes, users = [], {}
    for kind, share in kinds.items():
        tasks_per_second = target * share / REQUESTS_PER_TASK[kind]
        n = max(1, math.ceil(tasks_per_second * CYCLE[kind]))
        cls = classes[kind]
        if kind == "pos":
            n = min(n, len(cls.tills))
        subclass = type(f"{cls.__name__}At{int(target)}", (cls,), {"abstract": False, "fixed_count": n,
                        "interval": n / tasks_per_second, "host": host})  # fmt: skip
        user_classes.append(subclass)
        users[kind] = n
    env = Environment(user_classes=user_classes, host=host, stop_timeout=30)
    runner = env.create_local_runner()
    del records[:]
    cpu_before = {name: _cpu_of(pid) for name, pid in pids.items()}
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    runner.start(sum(users.values()), spawn_rate=10_000)
    gevent.sleep(warmup)
    window_start = time.time()
    gevent.sleep(seconds)
    window_end = time.time()
    cpu = {name: _cpu_used(cpu_before[name], _cpu_of(pid)) for name, pid in pids.items()}
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu["load generator"] = own.ru_utime + own.ru_stime - own_before.ru_utime - own_before.ru_stime
    runner.stop()  # returns when each user finished its task (a sale, an order and its payment), 30 s at most
    runner.quit()  # (its greenlet group holds a CPU monitor that never ends: nothing to join)
    measured = [r for r in records if window_start <= r.at < window_end]
    names = sorted({r.name for r in measured})
    rows = {name: _summary([r for r in measured if r.name == name]) for name in names}
    total = _summary(measured)
    errors = [r for r in records if r.error]  # also the warm-up and the drain: a lost order is an error anywhere
    return Step(
        target=target,
        seconds=window_end - window_start,
        rows=rows,
        total=total,
        achieved=total[0] / (window_end - window_start),
        errors=len(errors),
        error_samples=[f"{r.name}: {r.error}" for r in errors[:5]],
        users=users,
        cpu={name: value / (window_end - window_start) for name, value in cpu.items()},
    )


def _print_step(label: str, step: Step) -> None:
    count, _errors, p50, p95, p99 = step.total
    users = ", ".join(f"{n} {kind}" for kind, n in step.users.items())
    cpu = ", ".join(f"{name} {value:.2f}" for name, value in step.cpu.items())
    print(
        f"\n{label} target {step.target:g} req/s: achieved {step.achieved:.1f} req/s, p50 {p50:.0f} ms, "
        f"p95 {p95:.0f} ms, p99 {p99:.0f} ms, errors {step.errors} ({count} requests in {step.seconds:.0f} s; "
        f"users: {users}; CPU cores busy: {cpu})"
    )
    print(f"  {'request':<34} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'errors':>6}")
    for name, (n, errs, r50, r95, r99) in step.rows.items():
        print(f"  {name:<34} {n / step.seconds:>7.1f} {r50:>6.0f} {r95:>6.0f} {r99:>6.0f} {errs:>6}")
    for sample in step.error_samples:
        print(f"  error: {sample}")


def stepping(label, host, classes, kinds, rates, records, *, warmup, seconds, pids) -> list[Step]:
    """The steps in turn, until ``BENCH_LOAD_OVER_STEPS`` (2) steps in a row have a p99 over the goal: at
    these rates a step's p99 is its few slowest requests (one POS payment more or less moves it), so
    one step over the line does not end the curve."""
    steps, over, stop_after = [], 0, int(os.environ.get("BENCH_LOAD_OVER_STEPS") or 2)
    for rate in rates:
        step = run_step(host, classes, kinds, rate, records, warmup=warmup, seconds=seconds, pids=pids)
        _print_step(label, step)
        steps.append(step)
        over = over + 1 if step.total[4] > P99_GOAL_MS else 0
        if over >= stop_after:
            break
    return steps


def sustained(steps: list[Step]) -> Step | None:
    good = [s for s in steps if s.total[4] <= P99_GOAL_MS and s.errors == 0]
    return max(good, key=lambda s: s.target) if good else None


# --- checks afterwards --------------------------------------------------------------------------------


def verify(data: dict, ledger: Ledger, since) -> dict:
    from django.db import connection
    from django.db.models import Count

    from orders.models import Order

    mine = f":load-{ledger.run_id}-"
    web = Order.objects.filter(channel_id=data["web_channel"], idempotency_key__contains=mine)
    by_key: dict[str, list] = {}
    for key, number, total, paid in web.values_list("idempotency_key", "number", "total", "paid_total"):
        by_key.setdefault(key.rsplit(":", 1)[-1], []).append((number, total, paid))
    duplicated = sum(1 for rows in by_key.values() if len(rows) > 1)
    lost = sum(1 for key, number in ledger.placed.items() if [r[0] for r in by_key.get(key, [])] != [number])
    unacknowledged = sum(1 for key in by_key if key not in ledger.placed)
    numbers = {rows[0][0]: rows[0] for rows in by_key.values()}
    unpaid = sum(1 for number in ledger.paid if number not in numbers or numbers[number][2] < numbers[number][1])
    pos_orders = Order.objects.filter(channel_id=data["pos_channel"], placed_at__gte=since)
    pos_numbers = dict(pos_orders.values_list("number", "status"))
    receipts = ledger.receipts
    pos_lost = sum(1 for n in set(receipts) if pos_numbers.get(n) != "completed")
    pos_duplicated = len(receipts) - len(set(receipts))
    pos_unacknowledged = sum(1 for n in pos_numbers if n not in set(receipts))
    dup_keys = (
        Order.objects.filter(idempotency_key__contains=mine)
        .values("idempotency_key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE s.on_hand <> coalesce(m.total, 0)),
                   count(*) FILTER (WHERE s.reserved <> coalesce(r.total, 0)),
                   count(*)
            FROM inventory_stocklevel s
            LEFT JOIN (SELECT variant_id, location_id, sum(quantity) AS total FROM inventory_stockmovement
                       GROUP BY 1, 2) m ON m.variant_id = s.variant_id AND m.location_id = s.location_id
            LEFT JOIN (SELECT variant_id, location_id, sum(quantity) AS total FROM inventory_reservation
                       WHERE status = 'active' GROUP BY 1, 2) r
                   ON r.variant_id = s.variant_id AND r.location_id = s.location_id
            """
        )
        ledger_off, reserved_off, levels = cursor.fetchone()
    result = {
        "orders acknowledged (201)": len(ledger.placed),
        "orders in the database": len(by_key),
        "lost (201 but not there once with its number)": lost,
        "duplicated (a key twice)": duplicated + dup_keys,
        "in the database but never acknowledged": unacknowledged,
        "given up by the client (no 201 after retries)": len(ledger.unanswered),
        "retries with the same key": ledger.retries,
        "payments acknowledged": len(ledger.paid),
        "acknowledged payments not on the order": unpaid,
        "POS receipts": len(receipts),
        "POS receipts lost (not one completed order)": pos_lost,
        "POS receipts duplicated": pos_duplicated,
        "POS orders without a receipt seen": pos_unacknowledged,
        "stock levels": levels,
        "stock levels whose on hand differs from the ledger": ledger_off,
        "stock levels whose reserved differs from active reservations": reserved_off,
    }
    result["ok"] = (
        lost == duplicated == dup_keys == unpaid == pos_lost == pos_duplicated == ledger_off == reserved_off == 0
    )
    return result


# --- the run ------------------------------------------------------------------------------------------


def _rates() -> list[float]:
    rates = [
        float(r)
        for r in os.environ.get("BENCH_LOAD_RATES", "10,15,20,30,40,60,80,120,160,240,320,480,640,960,1280").split(",")
        if r.strip()
    ]
    cap = float(os.environ.get("BENCH_LOAD_MAX_RATE") or 0)
    return [r for r in rates if not cap or r <= cap]


def _table(label: str, steps: list[Step]) -> list[str]:
    lines = []
    best = sustained(steps)
    for step in steps:
        _n, _e, p50, p95, p99 = step.total
        mark = " (sustained)" if step is best else ""
        lines.append(
            f"| {label}{mark} | {step.target:g} | {step.achieved:.0f} | {p50:.0f} | {p95:.0f} | {p99:.0f} "
            f"| {step.errors} |"
        )
    return lines


def run(url: str) -> int:
    from django.db import connections
    from django.utils import timezone

    seconds = _env_float("BENCH_LOAD_STEP_SECONDS", 30)
    warmup = _env_float("BENCH_LOAD_WARMUP_SECONDS", 5)
    cores = os.cpu_count() or 2
    workers = int(os.environ.get("BENCH_LOAD_WORKERS") or 2 * cores + 1)
    threads = int(os.environ.get("BENCH_LOAD_THREADS") or 1)
    clerks = int(os.environ.get("BENCH_LOAD_CLERKS") or 48)
    rates = _rates()
    print(f"load: {cores} cores, load average {os.getloadavg()[0]:.1f}; rates {rates} req/s, {seconds:g} s a step")

    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG=0 pages need WhiteNoise's manifest
    data = seed(clerks)
    print(
        f"seeded in {data['seconds']:.0f} s: {len(data['skus'])} SKUs, {len(data['categories'])} categories, "
        f"{len(data['members'])} members, {len(data['tills'])} tills, pickup at {len(data['pickup_stores'])} stores"
    )
    connections.close_all()
    since = timezone.now()
    queue = f"omo-load-{os.getpid()}"
    server, port = gunicorn_start(url, queue, workers=workers, threads=threads)
    worker = celery_start(url, queue) if os.environ.get("BENCH_LOAD_CELERY", "1") != "0" else None
    print(
        f"gunicorn: {workers} {'gthread x' + str(threads) if threads > 1 else 'sync'} workers on port {port} "
        f"(log {LOG}); Celery worker with beat: {'on queue ' + queue if worker else 'none (tasks stay queued)'}; "
        f"rate limits {HIGH_LIMIT} ({', '.join(RATE_LIMIT_ENV)})"
    )
    postmaster = _postmaster()
    pids = {
        "gunicorn": server.pid,
        **({"celery": worker.pid} if worker else {}),
        **({"postgres": postmaster} if postmaster else {}),
    }
    host = f"http://127.0.0.1:{port}"
    records: list[Record] = []
    ledger = Ledger()
    try:
        classes = build_users(data, records, ledger)
        classes["pos"].tills = list(data["tills"])
        mix = stepping("mix", host, classes, MIX, rates, records, warmup=warmup, seconds=seconds, pids=pids)
        ping = stepping("ping", host, classes, {"ping": 1.0}, rates, records, warmup=warmup, seconds=seconds,
                        pids=pids)  # fmt: skip
    finally:
        stop(server)
        if worker:
            stop(worker)
    checks = verify(data, ledger, since)
    print("\nafter the run:")
    for name, value in checks.items():
        print(f"  {name}: {value}")
    best_mix, best_ping = sustained(mix), sustained(ping)
    kind = f"gthread x{threads}" if threads > 1 else "sync"
    print(
        f"\n### Load test ({date.today().isoformat()}, {cores} cores, {workers} {kind} workers, {seconds:g} s a step)\n"
    )
    print("| traffic | target req/s | achieved req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for line in _table("mix", mix) + _table("`/api/v1/ping/`", ping):
        print(line)
    mix_rate = f"{best_mix.achieved:.0f} req/s" if best_mix else "none"
    ping_rate = f"{best_ping.achieved:.0f} req/s" if best_ping else "none"
    print(
        f"\nSustained (p99 <= {P99_GOAL_MS:.0f} ms, no errors): mix {mix_rate}, plain DRF ping {ping_rate}; orders: "
        f"{checks['orders acknowledged (201)']} placed, "
        f"{checks['lost (201 but not there once with its number)']} lost, "
        f"{checks['duplicated (a key twice)']} duplicated; POS receipts {checks['POS receipts']}, "
        f"{checks['POS receipts lost (not one completed order)']} lost; stock ledger "
        f"{'= balances' if not checks['stock levels whose on hand differs from the ledger'] else 'DIFFERS'}."
    )
    return 0 if checks["ok"] else 1
