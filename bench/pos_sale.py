"""Counter sales over HTTP: 16 clerks sell through the real POS pages under gunicorn.

The app runs under gunicorn as in ``bench/flash_sale.py`` (``DEBUG=0``, ``HTTPS=0``, its own bench
database, persistent database connections, Redis), with an access log that records each request's
server time (gunicorn's ``%(D)s``: from the parsed request to the response written, without the time
spent waiting in the listen backlog) tagged with an ``X-Bench`` header the clients send.

16 clerks (4 processes x 4 threads), each a staff login of one store with a register of their own,
log in through the login form (CSRF cookie + ``csrfmiddlewaretoken``), open their register's shift
through its form, then sell until the time is up, back to back (no think time): per sale

  scan x3 (three SKUs, ``HX-Request``), member (phone, as a clerk types it), coupon (a shared code),
  pay (cash + card, the ``sale_id`` read from the ``pay-form`` of the last panel), receipt (the redirect)

After the run every sale must be there exactly once: one completed order per sale, two shift entries
and two captured payments per sale, three units per sale off the store's stock, none left reserved.
Then one sale through Django's test client in this process counts the SQL statements of each request.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import re
import resource
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench.flash_sale import _cpu_seconds, _latency, gunicorn_start, gunicorn_stop

CLERKS = 16
CLIENT_PROCESSES = 4  # x 4 threads, one clerk each
WARMUP_SECONDS = 4.0
SKUS = 6  # each sale takes three different ones, in turn
UNITS = 100_000  # per SKU at the store: far more than any run sells
MEMBERS = 400
PASSWORD = "bench-pass-2026"
COUPON = "BENCH100"
GOAL_MS = 150.0
KINDS = ("scan", "member", "coupon", "pay", "receipt")
ACCESS_LOG = Path(tempfile.gettempdir()) / "omo-bench-pos-access.log"

_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_SALE_ID = re.compile(r'name="sale_id" value="([0-9a-f]+)"')
_TOTAL = re.compile(r'id="total">NT\$ ([0-9,.]+)<')


def _phone(n: int) -> str:
    return f"0930-{n // 1000:03d}-{n % 1000:03d}"


# --- data ---------------------------------------------------------------------------------------------


def _shop() -> dict:
    """A store supplied by a warehouse, the POS channel selling there with prices for SKUS SKUs, stock
    at the store, the loyalty base earn rule and a tier, MEMBERS members, a shared coupon, and CLERKS
    clerks of the store (+ one for counting queries) with a register each."""
    from datetime import timedelta

    from django.utils import timezone

    from catalog.services import price_set
    from inventory import services as inventory
    from inventory.models import ChannelLocation, StockLevel
    from members import coupons
    from members import services as member_services
    from members.models import EarnRule, Tier
    from omo.org import services as org
    from omo.org.models import Location, SalesChannel
    from omo.org.roles import Role
    from pos import services as pos
    from tests.factories import make_category, make_variant

    warehouse = org.location_create(code="WH-POSB", name="POS bench warehouse", kind=Location.Kind.WAREHOUSE)
    store = org.location_create(
        code="S-POSB", name="POS bench store", kind=Location.Kind.STORE, supplying_warehouse=warehouse
    )
    channel = SalesChannel.objects.create(code="POS", name="門市 POS", kind=SalesChannel.Kind.POS)
    ChannelLocation.objects.create(channel=channel, location=store, ships=False)
    category = make_category("bench/apparel")
    variants = []
    for i in range(SKUS):
        variant = make_variant(style_code=f"POSB{i}", category=category)
        price_set(variant=variant, channel=channel, price=Decimal(390 + 100 * i))
        variants.append(variant)
    receipt = inventory.goods_receipt_create(
        location=store,
        supplier="bench",
        actor=None,
        lines=[{"variant": v, "quantity": UNITS, "unit_cost": Decimal("150")} for v in variants],
    )
    inventory.goods_receipt_post(receipt=receipt, actor=None)
    Tier.objects.create(code="MEMBER", name="一般會員", rank=0, min_spend_12m=0)
    EarnRule.objects.create(name="NT$100 = 1 點", spend_per_point=Decimal(100))
    for n in range(MEMBERS):
        member_services.member_register(phone=_phone(n).replace("-", ""), name=f"會員{n}")
    now = timezone.now()
    campaign = coupons.campaign_create(
        name="POS bench NT$100 off",
        discount_type="amount",
        amount=Decimal(100),
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
    )
    coupons.coupon_create_shared(campaign=campaign, code=COUPON)
    clerks = []
    for i in range(CLERKS + 1):
        user = org.staff_create(
            username=f"posbench{i:02d}",
            password=PASSWORD,
            display_name=f"Clerk {i}",
            employee_code=f"PB-{i:02d}",
            role=Role.CLERK,
            home_store=store,
        ).user
        register = pos.register_create(actor=None, store=store, code=f"B{i:02d}", name=f"收銀台 {i}")
        clerks.append((user.username, register.pk))
    levels = {v.sku: StockLevel.objects.get(variant=v, location=store).pk for v in variants}
    return {"store": store, "channel": channel, "skus": [v.sku for v in variants], "levels": levels, "clerks": clerks}


# --- one clerk over HTTP ------------------------------------------------------------------------------


class Clerk:
    """A browser, as far as the POS needs one: cookies, the CSRF token, one keep-alive connection
    (sync gunicorn workers close it after each answer; http.client then reconnects)."""

    def __init__(self, port: int, index: int):
        self.port, self.index = port, index
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None, *, htmx=False, tag="") -> tuple:
        headers = {"Host": f"127.0.0.1:{self.port}", "Connection": "keep-alive"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            headers["X-CSRFToken"] = self.cookies.get("csrftoken", "")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if htmx:
            headers["HX-Request"] = "true"
        if tag:
            headers["X-Bench"] = tag
        body = urlencode(form or {}).encode() if method == "POST" else None
        began = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            return 0, "", b"", time.perf_counter() - began
        elapsed = time.perf_counter() - began
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _sep, val = pair.partition("=")
                if val and "max-age=0" not in value.lower():
                    self.cookies[key.strip()] = val.strip()
                else:
                    self.cookies.pop(key.strip(), None)
        return response.status, response.getheader("Location", ""), data, elapsed

    def login(self, username: str, register_id: int) -> None:
        status, _loc, page, _t = self.request("GET", "/accounts/login/")
        token = _TOKEN.search(page.decode())
        if status != 200 or token is None:
            raise RuntimeError(f"login page: {status}")
        form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1), "next": "/pos/"}
        status, _location, _page, _t = self.request("POST", "/accounts/login/", form)
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login of {username}: {status}")
        status, _location, _page, _t = self.request(
            "POST", f"/pos/r/{register_id}/shift/open/", {"opening_cash": "5000"}
        )
        if status != 302:
            raise RuntimeError(f"shift open at register {register_id}: {status}")
        status, _loc, page, _t = self.request("GET", f"/pos/r/{register_id}/")
        if status != 200 or b"opening_cash" in page:
            raise RuntimeError(f"sale page at register {register_id}: {status}")

    def sell(self, register_id: int, skus: list[str], phone: str, n: int) -> tuple[list, str, str]:
        """One sale; returns ([(kind, seconds, status, tag)], order number or "", error or "")."""
        base, records = f"/pos/r/{register_id}", []

        def step(kind, method, path, form=None, htmx=False):
            if records and THINK:
                time.sleep(THINK)  # the clerk scans, reads, asks the customer
            tag = f"{self.index}.{n}.{len(records)}.{kind}"
            status, location, data, elapsed = self.request(method, path, form, htmx=htmx, tag=tag)
            records.append((kind, elapsed, status, tag))
            return status, location, data.decode(errors="replace")

        for sku in skus:
            status, _loc, html = step("scan", "POST", f"{base}/scan/", {"code": sku}, htmx=True)
            if status != 200 or 'id="pos-error"' in html:
                return records, "", f"scan {sku}: {status}"
        status, _loc, html = step("member", "POST", f"{base}/member/", {"phone": phone}, htmx=True)
        if status != 200 or 'id="pos-error"' in html or phone[-3:] not in html:
            return records, "", f"member {phone}: {status}"
        status, _loc, html = step("coupon", "POST", f"{base}/coupon/", {"coupon": COUPON, "points": ""}, htmx=True)
        sale_id, total, token = _SALE_ID.search(html), _TOTAL.search(html), _TOKEN.search(html)
        if status != 200 or not (sale_id and total and token) or 'id="coupon-reasons"' in html:
            return records, "", f"coupon: {status}"
        total = Decimal(total.group(1).replace(",", ""))
        card = total - 200  # the rest, 200, in cash: 500 handed over, 300 change
        form = {"csrfmiddlewaretoken": token.group(1), "sale_id": sale_id.group(1), "cash": "500", "card": str(card)}
        status, location, _html = step("pay", "POST", f"{base}/pay/", form)
        if status != 302 or "/receipt/" not in location:
            return records, "", f"pay: {status} {location}"
        number = location.rstrip("/").rsplit("/", 1)[1]
        status, _loc, html = step("receipt", "GET", urlsplit(location).path)
        if status != 200 or number not in html:
            return records, number, f"receipt: {status}"
        return records, number, ""


def _clerk_thread(port, index, username, register_id, skus, barrier, seconds, out):
    clerk = Clerk(port, index)
    try:
        clerk.login(username, register_id)
    except RuntimeError as error:
        out.append(("login", str(error)))
        barrier.abort()
        return
    barrier.wait()
    started = time.time()
    warm_until, deadline = started + WARMUP_SECONDS, started + WARMUP_SECONDS + seconds
    n = 0
    while time.time() < deadline:
        began = time.time()
        lines = [skus[(index + n + k) % len(skus)] for k in range(3)]
        records, number, error = clerk.sell(register_id, lines, _phone((index * 97 + n) % MEMBERS), n)
        out.append(("sale", index, n, began, time.time(), began >= warm_until, records, number, lines, error))
        n += 1
        if error:
            break
    out.append(("window", warm_until, deadline))


def _client_process(port, clerks, skus, barrier, seconds, results):
    out: list = []
    workers = [
        threading.Thread(target=_clerk_thread, args=(port, index, username, register_id, skus, barrier, seconds, out))
        for index, username, register_id in clerks
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    results.put((out, usage.ru_utime + usage.ru_stime))


def http_run(port: int, clerks: list, skus: list[str], seconds: float):
    ctx = multiprocessing.get_context("fork")
    results, barrier = ctx.Queue(), ctx.Barrier(CLERKS, timeout=180)
    per = CLERKS // CLIENT_PROCESSES
    indexed = [(i, username, register_id) for i, (username, register_id) in enumerate(clerks[:CLERKS])]
    procs = [
        ctx.Process(
            target=_client_process, args=(port, indexed[p * per : (p + 1) * per], skus, barrier, seconds, results)
        )
        for p in range(CLIENT_PROCESSES)
    ]
    for proc in procs:
        proc.start()
    out, cpu = [], 0.0
    for _proc in procs:
        got, used = results.get(timeout=seconds + WARMUP_SECONDS + 600)
        out += got
        cpu += used
    for proc in procs:
        proc.join()
    return out, cpu


def _server_times() -> dict[str, float]:
    """tag -> server seconds, from the access log."""
    times = {}
    for line in ACCESS_LOG.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] != "-":
            times[parts[0]] = int(parts[2]) / 1e6
    return times


# --- queries per request, in this process -------------------------------------------------------------


def _queries_per_request(username: str, register_id: int, skus: list[str]) -> list[tuple[str, int]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from omo.org.models import User

    client = Client(HTTP_HOST="bench")
    client.force_login(User.objects.get(username=username))
    counts = []

    def post(kind, path, form, **extra):
        with CaptureQueriesContext(connection) as queries:
            response = client.post(path, form, secure=True, **extra)
        counts.append((kind, len(queries)))
        return response

    base = f"/pos/r/{register_id}"
    client.post(f"{base}/shift/open/", {"opening_cash": "0"}, secure=True)
    for i, sku in enumerate(skus[:3]):
        post(f"scan (line {i + 1})", f"{base}/scan/", {"code": sku}, HTTP_HX_REQUEST="true")
    post("member", f"{base}/member/", {"phone": _phone(1)}, HTTP_HX_REQUEST="true")
    html = post("coupon", f"{base}/coupon/", {"coupon": COUPON}, HTTP_HX_REQUEST="true").content.decode()
    total = Decimal(_TOTAL.search(html).group(1).replace(",", ""))
    sale_id = _SALE_ID.search(html).group(1)
    paid = post("pay", f"{base}/pay/", {"sale_id": sale_id, "cash": "500", "card": str(total - 200)})
    with CaptureQueriesContext(connection) as queries:
        client.get(paid["Location"], secure=True)
    counts.append(("receipt", len(queries)))
    return counts


# --- the run ------------------------------------------------------------------------------------------


def _verify(shop: dict, before: dict[str, int], sales: list) -> dict:
    from django.db.models import Count, Sum

    from inventory.models import StockLevel
    from orders.models import Order, OrderLine, Payment
    from pos.models import Shift, ShiftEntry

    done = [s for s in sales if s[7] and not s[9]]
    numbers = {s[7] for s in done}
    orders = Order.objects.filter(channel=shop["channel"])
    units: dict[str, int] = {}
    for s in done:
        for sku in s[8]:
            units[sku] = units.get(sku, 0) + 1
    stock_ok, reserved = True, 0
    for sku, level_id in shop["levels"].items():
        level = StockLevel.objects.get(pk=level_id)
        stock_ok &= before[sku] - level.on_hand == units.get(sku, 0)
        reserved += level.reserved
    per_shift = {
        register: n
        for register, n in ShiftEntry.objects.values_list("shift__register_id").annotate(n=Count("id")).order_by()
    }
    per_clerk: dict[int, int] = {}
    for s in done:
        per_clerk[s[1]] = per_clerk.get(s[1], 0) + 1
    registers = [shop["clerks"][i][1] for i in range(CLERKS)]
    result = {
        "sales": len(done),
        "distinct": len(numbers),
        "orders": orders.count(),
        "completed": orders.filter(status="completed").count(),
        "orders_match": set(orders.values_list("number", flat=True)) == numbers,
        "entries": ShiftEntry.objects.filter(kind="sale").count(),
        "entries_per_register": all(per_shift.get(r, 0) == 2 * per_clerk.get(i, 0) for i, r in enumerate(registers)),
        "payments": Payment.objects.filter(order__in=orders, status=Payment.Status.CAPTURED).count(),
        "lines": OrderLine.objects.filter(order__in=orders).aggregate(n=Sum("quantity"))["n"] or 0,
        "stock_ok": stock_ok,
        "reserved": reserved,
        "open_shifts": Shift.objects.filter(status=Shift.Status.OPEN, register_id__in=registers).count(),
    }
    n = result["sales"]
    result["ok"] = (
        n > 0
        and result["distinct"] == result["orders"] == result["completed"] == n
        and result["orders_match"]
        and result["entries"] == result["payments"] == 2 * n
        and result["entries_per_register"]
        and result["lines"] == 3 * n
        and result["stock_ok"]
        and result["reserved"] == 0
        and result["open_shifts"] == CLERKS
    )
    return result


THINK = 0.0  # seconds a clerk takes between two requests of a sale (0: back to back, saturating)


def run(url: str, *, seconds: float = 20.0, workers: int = 4, threads: int = 1, think: float = 0.0) -> dict:
    global THINK
    THINK = think
    from django.core.management import call_command
    from django.db import connections

    from inventory.models import StockLevel

    load = os.getloadavg()
    # DEBUG=0 serves static files through WhiteNoise's manifest, as in production (the Dockerfile runs
    # this too): the pages' {% static %} tags need it. It fills STATIC_ROOT (staticfiles/, not in git).
    call_command("collectstatic", interactive=False, verbosity=0)
    shop = _shop()
    before = {sku: StockLevel.objects.get(pk=pk).on_hand for sku, pk in shop["levels"].items()}
    connections.close_all()

    os.environ["GUNICORN_CMD_ARGS"] = f"--access-logfile={ACCESS_LOG} --access-logformat='%({{x-bench}}i)s %(s)s %(D)s'"
    try:
        proc, port = gunicorn_start(url, workers=workers, threads=threads)
    finally:
        os.environ.pop("GUNICORN_CMD_ARGS")
    try:
        database = urlsplit(url).path.lstrip("/")
        cpu_before = _cpu_seconds(proc.pid, database)
        out, client_cpu = http_run(port, shop["clerks"], shop["skus"], seconds)
        cpu_after = _cpu_seconds(proc.pid, database)
    finally:
        gunicorn_stop(proc)  # flushes the access log

    failures = [o for o in out if o[0] == "login"]
    if failures:
        raise SystemExit(f"clerks could not start: {failures}")
    sales = [o for o in out if o[0] == "sale"]
    windows = [o for o in out if o[0] == "window"]
    warm_until, deadline = min(w[1] for w in windows), max(w[2] for w in windows)
    errors = [s[9] for s in sales if s[9]]
    server = _server_times()

    measured = [s for s in sales if s[5] and not s[9]]
    client_by_kind = {k: [r[1] for s in measured for r in s[6] if r[0] == k] for k in KINDS}
    server_by_kind = {k: [server[r[3]] for s in measured for r in s[6] if r[0] == k and r[3] in server] for k in KINDS}
    client_sale = [sum(r[1] for r in s[6]) for s in measured]
    server_sale = [sum(server.get(r[3], 0.0) for r in s[6]) for s in measured]
    in_window = [s for s in sales if not s[9] and warm_until <= s[4] <= deadline]
    rate = len(in_window) / (deadline - warm_until)
    done_total = sum(1 for s in sales if s[7] and not s[9])
    cpu = {name: (cpu_after[name] - cpu_before[name]) / max(done_total, 1) * 1000 for name in cpu_after}
    cpu["clients"] = client_cpu / max(done_total, 1) * 1000

    verified = _verify(shop, before, sales)
    queries = _queries_per_request(*shop["clerks"][CLERKS], shop["skus"])
    connections.close_all()

    kind = f"gthread, {workers} workers x {threads} threads" if threads > 1 else f"sync, {workers} workers"
    print(
        f"\nCounter sales over HTTP: {CLERKS} clerks ({CLIENT_PROCESSES} processes), each logged in at a register "
        f"of its own with an open shift, back to back; gunicorn {kind}, PostgreSQL, Redis"
    )
    print(
        "per sale: scan x3 (HX-Request), member by phone, shared coupon, pay cash + card, receipt (the redirect); "
        f"warm-up {WARMUP_SECONDS:.0f} s, then {seconds:.0f} s measured"
    )
    print(f"gunicorn access log: {ACCESS_LOG}")
    print(
        "client = time to the response at the client (client and server share the machine; includes the wait in "
        "gunicorn's backlog); server = gunicorn's request time (parsed request to response written)"
    )
    print(
        f"\n{'request':<22} {'n':>6}  {'client p50':>10} {'p95':>7} {'p99':>7}   "
        f"{'server p50':>10} {'p95':>7} {'p99':>7}"
    )
    rows = {}
    for k in KINDS:
        c, s = _latency(client_by_kind[k]), _latency(server_by_kind[k])
        rows[k] = (c, s)
        print(f"{k:<22} {len(client_by_kind[k]):>6}  {_row(c)}   {_row(s)}")
    c, s = _latency(client_sale), _latency(server_sale)
    rows["sale"] = (c, s)
    print(f"{'whole sale (7 req.)':<22} {len(client_sale):>6}  {_row(c)}   {_row(s)}")
    print(
        f"\ncompleted sales: {rate:.1f}/s in the measured window ({len(in_window)} in {deadline - warm_until:.1f} s); "
        f"{done_total} in all, {len(errors)} failed" + (f": {errors[:5]}" if errors else "")
    )
    print(
        "CPU per sale: "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in cpu.items())
        + f" (load average before the run {load[0]:.2f})"
    )
    print(f"\ngoal p95 < {GOAL_MS:.0f} ms per request:")
    for k in KINDS:
        c95, s95 = rows[k][0][1], rows[k][1][1]
        verdict = lambda v: "met" if v < GOAL_MS else "NOT met"  # noqa: E731
        print(f"  {k:<10} client p95 {c95:7.1f} ms {verdict(c95):<8} server p95 {s95:7.1f} ms {verdict(s95)}")
    v = verified
    print(
        f"\nledger: sales={v['sales']} distinct order numbers={v['distinct']} orders={v['orders']} "
        f"completed={v['completed']} (same numbers: {v['orders_match']}); shift sale entries={v['entries']} "
        f"(2 per sale per register: {v['entries_per_register']}); captured payments={v['payments']}; "
        f"units sold={v['lines']}; stock moved per SKU as sold: {v['stock_ok']}; reserved left={v['reserved']}; "
        f"open shifts={v['open_shifts']} -> {'ok, every sale exactly once' if v['ok'] else 'MISMATCH'}"
    )
    print("\nSQL statements per request (one sale through Django's test client, in this process):")
    print("  " + ", ".join(f"{k} {n}" for k, n in queries))
    return {"rows": rows, "rate": rate, "verified": verified, "queries": queries, "cpu": cpu, "errors": errors}


def _row(lat) -> str:
    return f"{lat[0]:>10.1f} {lat[1]:>7.1f} {lat[2]:>7.1f}"
