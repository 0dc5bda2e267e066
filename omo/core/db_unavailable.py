"""The database went away in the middle of a request: a clean 503, never a 500 or a half-written change.

Every write is one ``transaction.atomic`` block, so a connection that drops inside it commits nothing
(PostgreSQL rolls back a transaction whose client is gone). What is left is to answer: the API with
``{"code": "database_unavailable", ...}`` (see ``omo.core.api.exception_handler``), the POS and admin
pages with a short HTML page, both 503 with ``Retry-After``. The dropped connection is not reused: Django
closes a connection that had an error at the end of the request (``CONN_HEALTH_CHECKS`` also checks a
reused one before the next request), so the next request connects afresh.

Only a lost or refused connection counts, not every ``OperationalError``: a statement timeout, a lock
timeout or a missing table are different faults (a deadlock is a 409 ``retry``).
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)

RETRY_AFTER = "5"
# SQLSTATE class 08 (connection exception) and the server shutting a session down
# (57P01 admin_shutdown, e.g. pg_terminate_backend; 57P02 crash_shutdown; 57P03 cannot_connect_now)
_LOST = ("57P01", "57P02", "57P03")


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the database connection is gone or cannot be made."""
    if isinstance(exc, InterfaceError):  # "connection already closed"
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    code = getattr(cause, "pgcode", None)
    if code is not None:
        return code.startswith("08") or code in _LOST
    # psycopg reports a broken socket or a refused connection with no SQLSTATE ("server closed the
    # connection unexpectedly", "could not connect to server"); SQLite errors are not connection losses
    return cause is not None and type(cause).__module__.startswith("psycopg")


def body() -> dict:
    return {
        "code": "database_unavailable",
        "message": _("The database is unavailable for a moment; nothing was saved. Try again shortly."),
        "details": {},
    }


def log_lost(exc: BaseException, request=None) -> None:
    log.error(
        "database connection lost during %s %s: %s",
        getattr(request, "method", "?"),
        getattr(request, "path", "?"),
        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
    )


class DatabaseUnavailableMiddleware:
    """Answers 503 for a page whose view lost the database connection (the API's views answer through
    the DRF exception handler; a view outside DRF reaches here)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not connection_lost(exception):
            return None
        log_lost(exception, request)
        wants_json = request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")
        if wants_json:
            response = JsonResponse(body(), status=503, json_dumps_params={"ensure_ascii": False})
        else:
            # a page of its own, with no request context: the usual base template reads the session
            # and the user, from the database that is gone
            response = HttpResponse(
                render_to_string("core/database_unavailable.html", {"message": body()["message"]}),
                status=503,
            )
        response["Retry-After"] = RETRY_AFTER
        return response
