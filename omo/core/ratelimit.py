"""Per-client rate limits that hold across every web worker: the counters live in the shared cache
(Redis when ``REDIS_URL`` is set; local memory, per process, without it).

A limit is ``"N/period"`` (``30/m``, ``5/10m``, ``100/h``; periods s, m, h, d) or ``off``; the values
come from ``settings.RATE_LIMITS`` by name. Counting is a sliding window: a counter per fixed window,
and a request is let through while ``previous window × the part of it still inside the period + this
window`` stays within N. Each counter moves by one atomic ``INCR`` (on Redis, ``INCR`` and ``EXPIRE``
in one ``MULTI``), so any number of processes hitting the same counter at once let through at most N
per window: every request sees a count no other saw. A refused request gives its count back, so a
client that keeps hammering while refused does not push its own window further out.

A request checks several counters (say the phone and the channel key); when one refuses, the others
it already took are given back too. If the cache cannot be reached the request goes through (logged):
a Redis outage must not stop the tills.

Views use a ``RuleThrottle`` subclass (``throttle_classes``) whose ``rules`` names the counters; a
refusal is a 429 ``rate_limited`` in the project's error shape with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

log = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE_RE = re.compile(r"^(\d+)/(\d*)([smhd])$")
KEY_PREFIX = "omo:rl"


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"5/10m"`` -> ``(5, 600)``; ``off``, empty or ``0/...`` -> ``None`` (no limit)."""
    rate = (rate or "").strip().lower()
    if rate in ("", "off"):
        return None
    match = RATE_RE.match(rate)
    if not match:
        raise ValueError(f"{rate!r} is not a rate: use N/period, e.g. 30/m, 5/10m, 100/h, or off")
    count, multiple, unit = int(match[1]), int(match[2] or 1), match[3]
    if count == 0:
        return None
    return count, multiple * PERIODS[unit]


@dataclass(frozen=True)
class Rule:
    """One counter: ``name`` is the limit in ``settings.RATE_LIMITS``, ``ident`` whose counter it is."""

    name: str
    ident: str


class RateLimited(exceptions.Throttled):
    default_code = "rate_limited"

    def __init__(self, wait: float):
        seconds = max(1, math.ceil(wait))
        super().__init__(
            detail=_("Too many requests; try again in %(seconds)d seconds.") % {"seconds": seconds},
            code="rate_limited",
        )
        self.wait = seconds


def _cache():
    return caches[getattr(settings, "RATE_LIMIT_CACHE", "default")]


def _key(rule: Rule, window: int) -> str:
    # Hashed: phone numbers and addresses stay out of the cache's key space.
    digest = hashlib.blake2b(rule.ident.encode(), digest_size=12).hexdigest()
    return f"{KEY_PREFIX}:{rule.name}:{digest}:{window}"


def _incr(cache, key: str, ttl: int, delta: int = 1) -> int:
    if isinstance(cache, RedisCache):
        full = cache.make_and_validate_key(key)
        pipe = cache._cache.get_client(full, write=True).pipeline(transaction=True)
        pipe.incrby(full, delta)
        pipe.expire(full, ttl)
        return int(pipe.execute()[0])
    # Other caches: add() creates the counter (atomic within the backend), incr() moves it.
    for _attempt in range(3):
        cache.add(key, 0, ttl)
        try:
            return cache.incr(key, delta)
        except ValueError:  # expired between add and incr
            continue
    return 1


def _wait(limit: int, period: int, prev: int, count: int, elapsed: float) -> float:
    """Seconds until one more request would fit, given ``count`` already let through this window."""
    rest = period - elapsed
    room = limit - 1 - count
    if room >= 0 and prev > 0:  # fits later in this window, as the previous window slides out
        return max(0.0, rest - room * period / prev)
    if count <= 0:
        return rest
    # next window: this one's count becomes the previous one and slides out in turn
    return rest + max(0.0, period - (limit - 1) * period / count)


@dataclass(frozen=True)
class _Window:
    """Where ``now`` falls for one rule: its limit and period, the current window's key, the seconds
    into it, and the previous window's count (which slides out as this window goes on)."""

    limit: int
    period: int
    key: str
    elapsed: float
    prev: int

    def over(self, count: int) -> bool:
        """Whether ``count`` requests in this window (with the previous one's share) exceed the limit."""
        return self.prev * (self.period - self.elapsed) / self.period + count > self.limit

    def wait(self, count: int) -> float:
        """Seconds until one more fits, ``count`` being let through in this window already."""
        return max(_wait(self.limit, self.period, self.prev, count, self.elapsed), 1.0)


def _windows(cache, rules: Iterable[Rule], now: float):
    for rule in rules:
        parsed = parse_rate(settings.RATE_LIMITS.get(rule.name))
        if parsed is None:
            continue
        limit, period = parsed
        window = int(now // period)
        prev = int(cache.get(_key(rule, window - 1)) or 0)
        yield _Window(limit, period, _key(rule, window), now - window * period, prev)


def check(rules: Iterable[Rule], *, now: float | None = None) -> float:
    """Counts one request against every rule: 0 when it is let through, otherwise the seconds to wait
    (and then nothing was counted)."""
    now = time.time() if now is None else now
    cache = _cache()
    taken: list[tuple[str, int]] = []
    wait = 0.0
    try:
        for w in _windows(cache, rules, now):
            count = _incr(cache, w.key, 2 * w.period + 1)
            taken.append((w.key, 2 * w.period + 1))
            if w.over(count):
                wait = w.wait(count - 1)
                break
        if wait:
            for key, ttl in taken:
                _incr(cache, key, ttl, -1)
    except Exception:  # the cache is down: let the request through rather than fail the sale
        log.warning("rate limit not checked: the cache did not answer", exc_info=True)
        return 0.0
    if wait:
        log.info("rate limited: %s", ", ".join(rule.name for rule in rules))
    return wait


def peek(rules: Iterable[Rule], *, now: float | None = None) -> float:
    """Whether one more request would fit under every rule, counting nothing: 0 when it would,
    otherwise the seconds to wait (for a limit on failures, checked before the attempt, counted by
    ``check`` only when it fails). A cache that does not answer lets it through."""
    now = time.time() if now is None else now
    cache = _cache()
    wait = 0.0
    try:
        for w in _windows(cache, rules, now):
            count = int(cache.get(w.key) or 0)
            if w.over(count + 1):
                wait = max(wait, w.wait(count))
    except Exception:
        log.warning("rate limit not read: the cache did not answer", exc_info=True)
        return 0.0
    return wait


# --- who is calling --------------------------------------------------------------------------------


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def network_ip(request) -> str | None:
    """The address the request came from: ``REMOTE_ADDR``, or, behind ``RATE_LIMIT_PROXIES`` reverse
    proxies of our own, the address the outermost of them saw (X-Forwarded-For, counted from the
    right, so a client cannot choose it by sending the header itself). Also used by the staff login
    lockout (``AXES_CLIENT_IP_CALLABLE``)."""
    meta = getattr(request, "META", {})
    proxies = getattr(settings, "RATE_LIMIT_PROXIES", 0)
    if proxies:
        hops = [hop for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies and (address := _ip(hops[-proxies])):
            return address
    return meta.get("REMOTE_ADDR") or None  # None: a request made in-process (the test client's login)


def forwarded_shopper_ip(request) -> str | None:
    """The shopper's address a frontend forwards, only when ``RATE_LIMIT_SHOPPER_IP_HEADER`` names the
    header (the frontend authenticates with its channel key; callers make sure this is such a call)."""
    header = getattr(settings, "RATE_LIMIT_SHOPPER_IP_HEADER", "")
    if not header:
        return None
    return _ip(request.headers.get(header, "") or "")


class RuleThrottle(BaseThrottle):
    """A DRF throttle checking the counters ``rules(request, view)`` names, all or none."""

    def rules(self, request, view) -> list[Rule]:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rules = self.rules(request, view)
        if rules and (wait := check(rules)):
            raise RateLimited(wait)
        return True
