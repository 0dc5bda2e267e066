"""A small per-process cache for configuration read on every order (a channel's fulfilment
locations and strategy, the running promotions): rows HQ changes a few times a day, read hundreds of
times a second in a flash sale.

Entries live ``CONFIG_CACHE_SECONDS`` (5 by default); saving or deleting one of the watched models
clears the cache of the process that saved it at once, and the other processes within those seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

_lock = threading.Lock()
_entries: dict[tuple, tuple[float, Any]] = {}


def cached(key: tuple, load: Callable[[], Any]) -> Any:
    ttl = getattr(settings, "CONFIG_CACHE_SECONDS", 5)
    now = time.monotonic()
    entry = _entries.get(key)
    if entry is not None and entry[0] > now:
        return entry[1]
    value = load()
    if ttl > 0:
        with _lock:
            _entries[key] = (now + ttl, value)
    return value


def clear(*_args, **_kwargs) -> None:
    with _lock:
        _entries.clear()


def watch(*models) -> None:
    """Clears the cache whenever one of ``models`` (or its many-to-many fields) changes."""
    from django.db.models.signals import m2m_changed, post_delete, post_save

    for model in models:
        post_save.connect(clear, sender=model, dispatch_uid=f"config_cache.save.{model._meta.label}")
        post_delete.connect(clear, sender=model, dispatch_uid=f"config_cache.delete.{model._meta.label}")
        for field in model._meta.many_to_many:
            m2m_changed.connect(
                clear, sender=field.remote_field.through, dispatch_uid=f"config_cache.m2m.{field.remote_field.through}"
            )
