"""Infrastructure tasks: the health round trip and beat's heartbeat."""

import socket
import time

from celery import shared_task


@shared_task(name="omo.core.tasks.ping", ignore_result=False)
def ping():
    return {"pong": True, "hostname": socket.gethostname()}


@shared_task(name="omo.core.tasks.database_roundtrip", ignore_result=False)
def database_roundtrip():
    """Reads the database from the worker: proves a worker sees what the web process committed."""
    from django.db import connection

    from omo.org.selectors import location_codes

    return {"database": connection.settings_dict["NAME"], "locations": location_codes()}


@shared_task(name="omo.core.tasks.beat_heartbeat", soft_time_limit=10, time_limit=20)
def beat_heartbeat():
    from django.core.cache import cache

    from omo.core.health import BEAT_HEARTBEAT_KEY

    cache.set(BEAT_HEARTBEAT_KEY, time.time(), timeout=None)


@shared_task(name="omo.core.tasks.clear_expired_sessions", soft_time_limit=600, time_limit=660)
def clear_expired_sessions():
    from django.core.management import call_command

    call_command("clearsessions")


_counter = None


@shared_task(name="omo.core.tasks.noop_count", ignore_result=True)
def noop_count(key: str) -> None:
    """Does nothing but count itself in Redis (one INCR on a kept connection): the baseline task of
    ``bench outbox``."""
    global _counter
    if _counter is None:
        import redis
        from django.conf import settings

        _counter = redis.Redis.from_url(settings.REDIS_URL)
    _counter.incr(key)
