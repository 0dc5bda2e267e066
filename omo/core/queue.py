"""Sending a background task from after a commit, where nothing may fail or wait."""

from __future__ import annotations

import contextlib
import logging

log = logging.getLogger(__name__)


def enqueue(task, args: tuple = (), **options) -> bool:
    """Sends ``task`` once, without kombu's retry loop: a broker that is down costs the caller no wait
    and no error (a beat job catches up), only a warning. Returns whether it was sent. Fire and forget:
    no result is kept unless ``ignore_result=False`` is passed; with a result, Celery subscribes to it
    in the Redis result backend first, whose own reconnect loop (20 tries a second apart) would hold a
    request for about 19 s while Redis is down.

    Without a broker (eager mode: development, tests) the task runs here and now as a plain call:
    Celery's eager ``apply`` flips a process-wide flag around each task, which threads running tasks
    at the same time (a threaded dev server, concurrency tests) can leave set for good."""
    if task.app.conf.task_always_eager:
        task.run(*args)
        return True
    options.setdefault("ignore_result", True)  # (else the Redis result backend's reconnect loop: ~19 s)
    try:
        task.apply_async(args, retry=False, **options)
        return True
    except Exception as error:
        log.warning("could not queue %s (%s)", task.name, type(error).__name__)
        return False


def enqueue_once(task, args: tuple = (), *, key: str, ttl: int = 5, **options) -> bool:
    """``enqueue``, unless one is already waiting: ``key`` is set in the shared cache (Redis) until the
    task starts and calls ``started(key)``, so a burst of commits queues one wake-up, not hundreds
    (each costs a worker a task's overhead). ``ttl`` bounds a wake-up that got lost: after it, the
    next call sends again (and the beat jobs cover the gap)."""
    from django.core.cache import cache

    if task.app.conf.task_always_eager:
        return enqueue(task, args, **options)
    try:
        if not cache.add(f"wake:{key}", 1, ttl):
            return True
    except Exception as error:  # no cache: send anyway
        log.warning("could not mark %s as queued (%s)", key, type(error).__name__)
    if enqueue(task, args, **options):
        return True
    with contextlib.suppress(Exception):  # the cache is down too: its key expires by itself
        cache.delete(f"wake:{key}")
    return False


def started(key: str) -> None:
    """Called by a task woken by ``enqueue_once`` as it starts: a later call queues a new wake-up (for
    what is committed from now on, which this run may not see)."""
    from django.core.cache import cache

    try:
        cache.delete(f"wake:{key}")
    except Exception as error:
        log.warning("could not clear %s (%s)", key, type(error).__name__)
