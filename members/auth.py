"""Member log-in with a one-time code by SMS, and the signed token frontends send afterwards.

The code is six digits, kept only as a hash, valid ``LOGIN_CODE_MINUTES`` and good for
``LOGIN_CODE_ATTEMPTS`` tries; one phone gets at most ``LOGIN_CODES_PER_HOUR`` codes an hour. Whether
a phone belongs to a member is never revealed: a first log-in registers the member.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members import services
from members.models import LoginCode, Member
from members.sms import sms_provider
from omo.core.errors import ApplicationError
from omo.core.locks import advisory_xact_lock

LOGIN_CODE_MINUTES = 10
LOGIN_CODE_ATTEMPTS = 5
LOGIN_CODES_PER_HOUR = 5
TOKEN_SALT = "omo.members.token"  # noqa: S105 - a signing namespace, not a secret
TOKEN_DAYS = 30


class TooManyRequests(ApplicationError):
    status_code = 429
    default_code = "too_many_requests"


def _hash(phone: str, code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def login_code_send(*, phone: str) -> None:
    phone = services.normalize_phone(phone)
    since = timezone.now() - timedelta(hours=1)
    with transaction.atomic():
        advisory_xact_lock(f"omo-login:{phone}")  # one phone's requests one at a time, or the count races
        sent = list(
            LoginCode.objects.filter(phone=phone, created_at__gt=since)
            .order_by("-created_at")
            .values_list("created_at", flat=True)[:LOGIN_CODES_PER_HOUR]
        )
        if len(sent) >= LOGIN_CODES_PER_HOUR:
            # the next code may go when the oldest of the hour's last codes is an hour old
            wait = (sent[-1] - since).total_seconds()
            raise TooManyRequests(
                _("Too many codes for this phone; try again later."), code="too_many_codes", retry_after=wait
            )
        code = f"{secrets.randbelow(1_000_000):06d}"
        LoginCode.objects.create(
            phone=phone, code_hash=_hash(phone, code), expires_at=timezone.now() + timedelta(minutes=LOGIN_CODE_MINUTES)
        )
    sms_provider().send(
        phone=phone,
        text=_("%(brand)s login code: %(code)s (valid %(minutes)d minutes)")
        % {"brand": settings.BRAND_NAME, "code": code, "minutes": LOGIN_CODE_MINUTES},
    )


def login_code_verify(*, phone: str, code: str, channel=None) -> tuple[Member, str]:
    """The member (registered on a first log-in) and a token; a wrong, used or expired code is a 400
    ``invalid_code`` and counts as an attempt; too many attempts is a 429."""
    phone = services.normalize_phone(phone)
    with transaction.atomic():
        login = (
            LoginCode.objects.select_for_update()
            .filter(phone=phone, used_at__isnull=True, expires_at__gt=timezone.now())
            .order_by("-id")
            .first()
        )
        if login is None:
            outcome = "invalid"
        elif login.attempts >= LOGIN_CODE_ATTEMPTS:
            outcome = "locked"
        elif hmac.compare_digest(login.code_hash, _hash(phone, str(code).strip())):
            login.used_at = timezone.now()
            login.save(update_fields=["used_at"])
            outcome = "ok"
        else:
            LoginCode.objects.filter(pk=login.pk).update(attempts=login.attempts + 1)  # committed: it counts
            outcome = "invalid"
    if outcome == "locked":
        raise TooManyRequests(_("Too many wrong codes; ask for a new one."), code="too_many_attempts")
    if outcome != "ok":
        raise ApplicationError(_("The code is wrong or has expired."), code="invalid_code")
    member = services.member_register(phone=phone, channel=channel, source="login").member
    return member, member_token(member)


def member_token(member: Member) -> str:
    return signing.dumps({"m": member.pk}, salt=TOKEN_SALT, compress=True)


def member_from_token(token: str) -> Member | None:
    try:
        data = signing.loads(token, salt=TOKEN_SALT, max_age=timedelta(days=TOKEN_DAYS))
    except signing.BadSignature:
        return None
    return Member.objects.filter(pk=data.get("m"), status=Member.Status.ACTIVE).first()
