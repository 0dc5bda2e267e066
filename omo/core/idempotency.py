"""``Idempotency-Key`` for POST requests that create or move money or stock (orders, payments,
pickups, shipments, returns, exchanges).

- The same key with the same request answers what the first request answered (a retry after a
  timeout never places a second order); the answer carries ``Idempotent-Replayed: true``.
- The same key with a different request is a 422 ``idempotency_key_reused``.
- A duplicate arriving while the first is still running is a 409 ``idempotency_in_progress``.
- Answers below 500 are kept (``IDEMPOTENCY_KEEP_HOURS``, 48 by default, at least 24), except the
  transient 409/423/429 (stock short, a concurrent change): those and a 5xx can be retried with the
  same key. Keys are per caller (channel key or staff user).

How: the key's row is claimed first with one ``INSERT ... ON CONFLICT DO NOTHING`` (committed at once,
so a twin sees it), then filled with the answer. A row left unanswered by a crashed process is taken
over after ``IDEMPOTENCY_STALE_SECONDS``. The services behind the decorated views are idempotent on
their own too (an order remembers the key it was placed with), so even a crash between the commit and
the answer cannot double anything.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response

from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError
from omo.core.models import IdempotencyKey

HEADER = "HTTP_IDEMPOTENCY_KEY"
# Answers that depend on the moment (stock short, a concurrent change, too many requests) are not kept:
# a retry with the same key tries again.
TRANSIENT = {409, 423, 429}


def _scope(request) -> str:
    credential = getattr(request, "auth", None)
    channel = getattr(credential, "channel", None)
    if channel is not None:
        return f"channel:{channel.pk}"
    return f"user:{request.user.pk}"


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str, ensure_ascii=False)
    member = request.META.get("HTTP_X_MEMBER_TOKEN", "")
    raw = f"{request.method} {request.path}\n{member}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


_TABLE = IdempotencyKey._meta.db_table


def _claim(scope: str, key: str, fingerprint: str, method_path: str) -> IdempotencyKey | None:
    """Claims the key with one INSERT that commits at once (autocommit), so a twin request sees it; None
    when the key is taken already."""
    with connection.cursor() as cursor:  # outside a transaction this commits at once (autocommit)
        cursor.execute(
            f"INSERT INTO {_TABLE} (scope, key, request_hash, method_path, created_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, key) DO NOTHING RETURNING id",
            [scope, key, fingerprint, method_path, timezone.now()],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return IdempotencyKey(pk=row[0], scope=scope, key=key, request_hash=fingerprint, method_path=method_path)


def idempotent(view_method):
    """Decorates an APIView's ``post``: the header is required, and the answer is kept per key."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.META.get(HEADER, "").strip()
        if not key:
            raise ApplicationError(
                _("Send an Idempotency-Key header (a unique value per operation, e.g. a UUID)."),
                code="idempotency_key_required",
            )
        if len(key) > 255:
            raise ApplicationError(_("An Idempotency-Key has at most 255 characters."), code="invalid_idempotency_key")
        scope, fingerprint = _scope(request), _fingerprint(request)
        method_path = f"{request.method} {request.path}"[:300]
        row = _claim(scope, key, fingerprint, method_path)
        if row is None:  # the key was there already
            row = IdempotencyKey.objects.get(scope=scope, key=key)
            if row.request_hash != fingerprint:
                raise BusinessRuleError(
                    _("This Idempotency-Key was used for a different request."), code="idempotency_key_reused"
                )
            if row.response_status is not None:
                response = Response(row.response_body, status=row.response_status)
                response["Idempotent-Replayed"] = "true"
                return response
            stale = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_STALE_SECONDS)
            took_over = IdempotencyKey.objects.filter(
                pk=row.pk, response_status__isnull=True, created_at__lt=stale
            ).update(created_at=timezone.now())
            if not took_over:
                raise ConflictError(
                    _("A request with this Idempotency-Key is still being processed; retry shortly."),
                    code="idempotency_in_progress",
                )
        request.idempotency_key = f"{scope}:{key}"
        try:
            response = view_method(self, request, *args, **kwargs)
        except ApplicationError as error:
            response = Response(error.as_dict(), status=error.status_code)
        except BaseException:
            IdempotencyKey.objects.filter(pk=row.pk, response_status__isnull=True).delete()
            raise
        if response.status_code < 500 and response.status_code not in TRANSIENT:
            _keep_answer(row.pk, response.status_code, response.data)
        else:
            IdempotencyKey.objects.filter(pk=row.pk, response_status__isnull=True).delete()
        return response

    return wrapper


def _keep_answer(pk: int, status: int, data) -> None:
    with connection.cursor() as cursor:  # written out: once per money or stock request
        cursor.execute(
            f"UPDATE {_TABLE} SET response_status = %s, response_body = %s WHERE id = %s",  # noqa: S608
            [status, json.dumps(data, cls=DjangoJSONEncoder), pk],
        )


def idempotency_keys_purge(*, now=None) -> int:
    """Deletes kept answers older than ``IDEMPOTENCY_KEEP_HOURS`` (beat job)."""
    now = now or timezone.now()
    hours = max(int(getattr(settings, "IDEMPOTENCY_KEEP_HOURS", 48)), 24)
    deleted, _rows = IdempotencyKey.objects.filter(created_at__lt=now - timedelta(hours=hours)).delete()
    return deleted
