"""Staff log-in lockout (django-axes, configured in settings ``AXES_*``): the page a locked-out log-in
gets, and how a username is counted.

After ``STAFF_LOGIN_FAILURE_LIMIT`` wrong passwords for one username (whatever its case, from any
address) that username cannot log in, not even with the right password, for
``STAFF_LOGIN_COOLOFF_MINUTES``: on the staff (POS) login and on the admin's. A good log-in before the
limit clears the count; an HQ admin unlocks at once by deleting the username's rows under
*Axes › Access attempts* in the admin (or ``manage.py axes_reset_username NAME``). Failures are kept
there and logged with the username and address, never the password.

Besides, one address that sends more than ``RATE_LIMIT_STAFF_LOGIN_ADDRESS`` (50 in 15 minutes) wrong
passwords, whatever the usernames, is paused (trying many usernames a few times each stays under the
per-username lock): its log-ins get the same 429 page until the count slides down. The counter is the
rate limiter's, in Redis, shared by every worker. The limit is high because a store's clerks share
one address. It is read before the password is checked and counted after a failure, so tries in
flight at the same moment all pass the read: an address can go over by as many tries as it has in
flight at once (the per-username lock still holds each username).
"""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
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


def _address_rule(request):
    from omo.core.ratelimit import Rule, network_ip

    address = network_ip(request)
    return Rule("staff_login_address", f"ip:{address}") if address else None


def address_paused(request) -> float:
    """Seconds until a log-in from this request's address is tried again: 0 unless it sent more wrong
    staff passwords than ``RATE_LIMIT_STAFF_LOGIN_ADDRESS`` (50 in 15 minutes), whatever the usernames."""
    from omo.core.ratelimit import peek

    rule = _address_rule(request)
    return peek([rule]) if rule else 0.0


def count_failure(sender, credentials=None, request=None, **kwargs) -> None:
    """``user_login_failed``: one more wrong password from this address (not a try refused because the
    address was paused: that would only push the pause on)."""
    from omo.core.ratelimit import check

    if request is None or getattr(request, "omo_address_wait", None):
        return
    if rule := _address_rule(request):
        check([rule])


def lockout_response(request, original_response=None, credentials: dict | None = None):
    """429 with ``Retry-After``: the lockout page, or the API's error shape for a JSON caller."""
    address_wait = getattr(request, "omo_address_wait", None)
    if address_wait:
        seconds = max(1, math.ceil(address_wait))
        message = _(
            "Too many wrong passwords from this network: log-ins from here are paused for %(minutes)d minutes."
        ) % {"minutes": max(1, math.ceil(seconds / 60))}
    else:
        seconds = seconds_left(lockout_username(request, credentials))
        message = _(
            "Too many wrong passwords: this login is locked for %(minutes)d minutes. "
            "Try again later or ask HQ to unlock it."
        ) % {"minutes": max(1, math.ceil(seconds / 60))}
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
        if request is not None and (wait := address_paused(request)):
            request.omo_address_wait = wait  # lockout_response says why
            request.axes_locked_out = True  # axes' middleware answers with lockout_response
            raise AxesBackendPermissionDenied("too many wrong passwords from this address")
        return super().authenticate(request, username=username, password=password, **kwargs)
