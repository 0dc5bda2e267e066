"""Sending a background task from after a commit, where nothing may fail or wait."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def enqueue(task, args: tuple = (), **options) -> bool:
    """Sends ``task`` once, without kombu's retry loop: a broker that is down costs the caller no wait
    and no error (a beat job catches up), only a warning. Returns whether it was sent.

    Without a broker (eager mode: development, tests) the task runs here and now as a plain call:
    Celery's eager ``apply`` flips a process-wide flag around each task, which threads running tasks
    at the same time (a threaded dev server, concurrency tests) can leave set for good."""
    if task.app.conf.task_always_eager:
        task.run(*args)
        return True
    try:
        task.apply_async(args, retry=False, **options)
        return True
    except Exception as error:
        log.warning("could not queue %s (%s)", task.name, type(error).__name__)
        return False
