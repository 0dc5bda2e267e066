"""One error shape for the whole API: ``{"code": ..., "message": ..., "details": ...}``."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

from omo.core import db_unavailable
from omo.core.errors import ApplicationError

RETRYABLE = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        set_rollback()
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return Response(exc.as_dict(), status=exc.status_code, headers=headers)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, OperationalError) and getattr(getattr(exc, "__cause__", None), "pgcode", None) in RETRYABLE:
        # PostgreSQL broke a deadlock or a serialization conflict: nothing was written, try again.
        set_rollback()
        return Response(
            {"code": "retry", "message": _("The request clashed with another one; try again."), "details": {}},
            status=status.HTTP_409_CONFLICT,
            headers={"Retry-After": "1"},
        )
    if db_unavailable.connection_lost(exc):
        # the connection dropped or cannot be made: the transaction died with it, nothing was written
        db_unavailable.log_lost(exc, context.get("request"))
        return Response(
            db_unavailable.body(),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": db_unavailable.RETRY_AFTER},
        )
    if not isinstance(exc, exceptions.APIException):
        return None  # a real bug: let Django log it and answer 500

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "message": _("The input is not valid."), "details": exc.detail}
    else:
        detail = exc.detail
        code = detail.code if hasattr(detail, "code") else exc.default_code
        body = {"code": code, "message": str(detail), "details": {}}
    set_rollback()
    return Response(body, status=getattr(exc, "status_code", status.HTTP_400_BAD_REQUEST), headers=headers)
