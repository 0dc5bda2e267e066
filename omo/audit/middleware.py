"""Records who made each change through the web pages or the API: the user (or the channel of an
API-key call), the URL and the HTTP method, in the audit context of the request."""

from __future__ import annotations

import pghistory
from django.core.handlers.wsgi import WSGIRequest
from pghistory import config

from omo.audit.context import is_recording


def _who(user) -> dict:
    if user is None or not getattr(user, "is_authenticated", False):
        return {"user": None}
    channel = getattr(user, "channel", None)  # omo.org.api.authentication.ChannelClient: a channel key
    if channel is not None:
        return {"user": None, "channel": channel.code}
    return {"user": user.pk}


class _AuditedRequest(WSGIRequest):
    """DRF authenticates in the view, after the middleware ran, and then sets ``request.user``: the
    context follows it (as pghistory's own middleware does)."""

    def __setattr__(self, attr, value):
        if attr == "user":
            pghistory.context(**_who(value))
        super().__setattr__(attr, value)


class AuditMiddleware:
    """Opens the audit context of a request (after AuthenticationMiddleware). Does nothing on SQLite,
    where nothing is recorded."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_recording() or request.method not in config.middleware_methods():
            return self.get_response(request)
        user = getattr(request, "user", None)  # lazy: read only when the context is written
        with pghistory.context(**_who(user), url=request.path, method=request.method):
            if type(request) is WSGIRequest:
                request.__class__ = _AuditedRequest
            return self.get_response(request)
