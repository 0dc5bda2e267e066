"""Health checks for /healthz: the database, Redis and a round trip through a Celery worker.

Each check returns ``{"status": "ok" | "error" | "disabled" | "skipped", ...}``; the report is healthy
when no check says ``error``. Timeouts are short so a dead dependency answers in about two seconds.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection

WORKER_TIMEOUT_SECONDS = 3.0
BEAT_HEARTBEAT_KEY = "omo:beat:last"
BEAT_STALE_SECONDS = 180  # three missed heartbeats
REPORT_KEY = "omo:healthz:report"
REPORT_LOCK_KEY = "omo:healthz:lock"


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def check_database() -> dict:
    start = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down" here
        return {"status": "error", "vendor": connection.vendor, "error": exc.__class__.__name__}
    return {"status": "ok", "vendor": connection.vendor, "ms": _ms(start)}


def check_redis(url: str | None = None) -> dict:
    url = settings.REDIS_URL if url is None else url
    if not url:
        return {"status": "disabled", "detail": "REDIS_URL is not set: tasks run eagerly in the web process"}
    start = time.perf_counter()
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"status": "error", "error": exc.__class__.__name__}
    finally:
        client.close()
    return {"status": "ok", "ms": _ms(start)}


def check_worker(*, redis_ok: bool, timeout: float = WORKER_TIMEOUT_SECONDS) -> dict:
    from omo.celery import app
    from omo.core.tasks import ping

    if app.conf.task_always_eager:
        start = time.perf_counter()
        result = ping.apply().get()
        return {"status": "ok", "mode": "eager", "reply": result["pong"], "ms": _ms(start)}
    if not redis_ok:
        return {"status": "skipped", "detail": "the broker is unreachable"}
    start = time.perf_counter()
    async_result = ping.apply_async(expires=timeout, queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    try:
        result = async_result.get(timeout=timeout, disable_sync_subtasks=False)
    except Exception as exc:  # TimeoutError when no worker listens, broker errors otherwise
        return {
            "status": "error",
            "mode": "worker",
            "error": exc.__class__.__name__,
            "detail": f"no worker answered within {timeout:g} s",
        }
    return {"status": "ok", "mode": "worker", "worker": result["hostname"], "ms": _ms(start)}


def beat_last_seen() -> dict:
    try:
        last = cache.get(BEAT_HEARTBEAT_KEY)
    except Exception as exc:
        return {"status": "error", "error": exc.__class__.__name__}
    if last is None:
        return {"status": "unknown", "detail": "no beat heartbeat recorded yet"}
    age = round(time.time() - last, 1)
    return {"status": "ok" if age <= BEAT_STALE_SECONDS else "stale", "age_seconds": age}


def health_report() -> tuple[bool, dict]:
    database = check_database()
    redis_status = check_redis()
    worker = check_worker(redis_ok=redis_status["status"] in {"ok", "disabled"})
    checks = {"database": database, "redis": redis_status, "worker": worker}
    healthy = all(c["status"] != "error" for c in checks.values())
    # beat is informational: a missing beat does not make the web process unhealthy.
    checks["beat"] = beat_last_seen() if redis_status["status"] == "ok" else {"status": "skipped"}
    return healthy, {"status": "ok" if healthy else "error", "checks": checks}


def cached_health_report() -> tuple[bool, dict]:
    """The report, computed at most once per ``HEALTHZ_CACHE_SECONDS`` however many callers ask: an
    anonymous flood of /healthz cannot pile up Redis connections and worker round trips."""
    ttl = settings.HEALTHZ_CACHE_SECONDS
    if ttl <= 0:
        return health_report()
    try:
        cached = cache.get(REPORT_KEY)
        if cached is not None:
            return cached
        computing_here = cache.add(REPORT_LOCK_KEY, 1, timeout=ttl)
    except Exception:  # the cache is Redis and Redis is down: say so without the cache
        return health_report()
    result = health_report()
    if computing_here:
        try:
            cache.set(REPORT_KEY, result, timeout=ttl)
            cache.delete(REPORT_LOCK_KEY)
        except Exception:  # noqa: S110 - the report itself says what is down
            pass
    return result
