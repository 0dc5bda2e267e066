"""Rate limits of the member endpoints (omo/core/ratelimit.py; rates in settings ``RATE_LIMITS``).

Who a limit is about: a frontend (channel key) calls for many shoppers from a few servers, so its
network address says nothing about the shopper. A shopper is the member of ``X-Member-Token`` (signed,
checked without a query), else the shopper address the frontend forwards in
``RATE_LIMIT_SHOPPER_IP_HEADER`` when that is configured; a frontend call with neither counts only
against its channel key's (high) limit. Staff are counted by their login.
"""

from __future__ import annotations

from datetime import timedelta

from django.core import signing

from omo.core.ratelimit import Rule, RuleThrottle, forwarded_shopper_ip, network_ip
from omo.org.api.permissions import is_channel_request


def _member_id(request) -> int | None:
    from members.auth import TOKEN_DAYS, TOKEN_SALT

    token = request.META.get("HTTP_X_MEMBER_TOKEN", "")
    if not token:
        return None
    try:
        return signing.loads(token, salt=TOKEN_SALT, max_age=timedelta(days=TOKEN_DAYS)).get("m")
    except (signing.BadSignature, AttributeError):
        return None


def shopper_rules(request, prefix: str) -> list[Rule]:
    """``<prefix>_shopper`` for whoever the shopper is (if known) and ``<prefix>_channel`` for a
    frontend's key."""
    if not is_channel_request(request):
        user = getattr(request, "user", None)
        ident = f"user:{user.pk}" if getattr(user, "pk", None) else f"ip:{network_ip(request)}"
        return [Rule(f"{prefix}_shopper", ident)]
    rules = [Rule(f"{prefix}_channel", f"key:{request.auth.pk}")]
    if (member_id := _member_id(request)) is not None:
        rules.insert(0, Rule(f"{prefix}_shopper", f"member:{member_id}"))
    elif shopper_ip := forwarded_shopper_ip(request):
        rules.insert(0, Rule(f"{prefix}_shopper", f"ip:{request.auth.channel_id}:{shopper_ip}"))
    return rules


def _phone(request) -> str:
    from members.services import normalize_phone
    from omo.core.errors import ApplicationError

    data = request.data if hasattr(request.data, "get") else {}
    raw = str(data.get("phone", "") or "")[:30]
    try:
        return normalize_phone(raw)
    except ApplicationError:  # not a phone: the view answers it; counted as typed
        return raw.strip()


def _otp_client_rules(request) -> list[Rule]:
    if not is_channel_request(request):
        return [Rule("otp_client", f"ip:{network_ip(request)}")]
    rules = [Rule("otp_channel", f"key:{request.auth.pk}")]
    if shopper_ip := forwarded_shopper_ip(request):
        rules.insert(0, Rule("otp_client", f"ip:{request.auth.channel_id}:{shopper_ip}"))
    return rules


class LoginCodeThrottle(RuleThrottle):
    """Log-in codes: per phone (SMS cost, a phone flooded with codes), per shopper address, per key."""

    def rules(self, request, view):
        return [Rule("otp_phone", _phone(request)), *_otp_client_rules(request)]


class LoginVerifyThrottle(RuleThrottle):
    """Code checks: per phone (guessing across several codes), per shopper address, per key."""

    def rules(self, request, view):
        return [Rule("otp_verify_phone", _phone(request)), *_otp_client_rules(request)]


class CouponThrottle(RuleThrottle):
    """Coupon checks (guessing codes): per shopper and per key. On a quote, only when it has a coupon."""

    def rules(self, request, view):
        if request.method != "POST":
            return []
        data = request.data if hasattr(request.data, "get") else {}
        if getattr(view, "coupon_throttle_optional", False) and not data.get("coupon"):
            return []
        return shopper_rules(request, "coupon")
