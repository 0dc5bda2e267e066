"""The one application error type, raised by services and mapped to HTTP by ``omo.core.api``.

Each error has a machine-readable ``code`` (snake_case, stable: frontends switch on it), a human
``message`` (translatable) and optional ``details`` (what was wrong, e.g. which SKUs are short).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError, transaction


class ApplicationError(Exception):
    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = str(message)
        self.code = code or self.default_code
        self.details = details if details is not None else {}
        # seconds after which the same request may succeed: answered as ``Retry-After`` (429, 503)
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFoundError(ApplicationError):
    status_code = 404
    default_code = "not_found"


class PermissionDeniedError(ApplicationError):
    status_code = 403
    default_code = "permission_denied"


class ConflictError(ApplicationError):
    """The request clashes with the current state or a concurrent request (HTTP 409)."""

    status_code = 409
    default_code = "conflict"


class UnavailableError(ApplicationError):
    """A service the request needs does not answer for now (HTTP 503): nothing was changed, try again."""

    status_code = 503
    default_code = "unavailable"


class BusinessRuleError(ApplicationError):
    """Well-formed input that a business rule refuses (HTTP 422)."""

    status_code = 422
    default_code = "rule_violated"


@contextmanager
def conflict_on_integrity_error(message: str, *, code: str, savepoint: bool = True) -> Iterator[None]:
    """Turns a unique-constraint clash inside the block into a 409 ``ConflictError``.

    Services check for duplicates first to give a precise message; this catches the race where a
    concurrent request inserts the same key between that check and the write (a savepoint keeps the
    surrounding transaction usable). ``savepoint=False`` where nothing goes on after the error: the
    whole transaction is then rolled back, one round trip pair cheaper on the way in.
    """
    try:
        with transaction.atomic(savepoint=savepoint):
            yield
    except IntegrityError:
        raise ConflictError(message, code=code) from None
