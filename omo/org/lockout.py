"""Staff log-in lockout (django-axes, configured in settings ``AXES_*``): the page a locked-out log-in
gets, and how a username is counted.

After ``STAFF_LOGIN_FAILURE_LIMIT`` wrong passwords for one username (whatever its case, from any
address) that username cannot log in, not even with the right password, for
``STAFF_LOGIN_COOLOFF_MINUTES``: on the staff (POS) login and on the admin's. A good log-in before the
limit clears the count; an HQ admin unlocks at once by deleting the username's rows under
*Axes › Access attempts* in the admin (or ``manage.py axes_reset_username NAME``). Failures are kept
there and logged with the username and address, never the password.
"""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _


def lockout_username(request, credentials: dict | None) -> str | None:
    """The username a failure counts against: as typed, lower-cased (usernames are unique whatever
    their case, so ``Admin`` and ``admin`` share one count)."""
    username = (credentials or {}).get("username")
    if username is None and request is not None and hasattr(request, "POST"):
        username = request.POST.get("username")
    return username.strip().lower() if username else username


def seconds_left(username: str | None) -> int:
    """How long the lock of ``username`` still holds (at most the cool-off)."""
    cool_off = get_cool_off()
    latest = (
        AccessAttempt.objects.filter(username=username).order_by("-attempt_time").values_list("attempt_time", flat=True)
    ).first()
    if not cool_off:
        return 0
    if latest is None:
        return math.ceil(cool_off.total_seconds())
    return max(1, math.ceil((latest + cool_off - timezone.now()).total_seconds()))


def lockout_response(request, original_response=None, credentials: dict | None = None):
    """429 with ``Retry-After``: the lockout page, or the API's error shape for a JSON caller."""
    username = lockout_username(request, credentials)
    seconds = seconds_left(username)
    minutes = max(1, math.ceil(seconds / 60))
    message = _(
        "Too many wrong passwords: this login is locked for %(minutes)d minutes. "
        "Try again later or ask HQ to unlock it."
    ) % {"minutes": minutes}
    if "json" in request.headers.get("Accept", "") or request.headers.get("X-Requested-With") == "XMLHttpRequest":
        response = JsonResponse(
            {"code": "login_locked", "message": message, "details": {"retry_after": seconds}}, status=429
        )
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out username before any password is checked (first in
    ``AUTHENTICATION_BACKENDS``). Every log-in over HTTP passes the request; one without it is refused
    (axes' rule), except under ``LOCKOUT_ALLOW_NO_REQUEST`` (the test settings: Django's test client
    ``login()`` has no request)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None and getattr(settings, "LOCKOUT_ALLOW_NO_REQUEST", False):
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
