"""Every write of the organisation layer: locations, channels and their keys, staff and roles."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from omo.core.config_cache import cached
from omo.core.errors import (
    BusinessRuleError,
    ConflictError,
    PermissionDeniedError,
    UnavailableError,
    conflict_on_integrity_error,
)
from omo.org.access import ensure_permission
from omo.org.models import REFERRAL_CODE_ALPHABET, ChannelCredential, Location, SalesChannel, StaffProfile, User
from omo.org.roles import STORE_ROLES, Role

KEY_PREFIX_LENGTH = 8
CREDENTIAL_TOUCH_INTERVAL = timedelta(minutes=5)

logger = logging.getLogger(__name__)


def _hash_secret(secret: str) -> str:
    # The secret is 256 random bits, so a plain SHA-256 is enough (no password stretching needed).
    return hashlib.sha256(secret.encode()).hexdigest()


def split_channel_key(raw_key: str) -> tuple[str, str] | None:
    parts = raw_key.strip().split("_")
    if len(parts) != 3 or parts[0] != "omo" or len(parts[1]) != KEY_PREFIX_LENGTH or not parts[2]:
        return None
    return parts[1], parts[2]


@transaction.atomic
def location_create(
    *,
    code: str,
    name: str,
    kind: str,
    city: str = "",
    address: str = "",
    phone: str = "",
    supplying_warehouse: Location | None = None,
    is_active: bool = True,
) -> Location:
    location = Location(
        code=code,
        name=name,
        kind=kind,
        city=city,
        address=address,
        phone=phone,
        supplying_warehouse=supplying_warehouse,
        is_active=is_active,
    )
    location.full_clean()
    location.save()
    return location


LOCATION_FIELDS = ("name", "kind", "city", "address", "phone", "supplying_warehouse", "is_active")


@transaction.atomic
def location_update(*, location: Location, **changes) -> Location:
    """Changes a location. Its kind cannot change while other records depend on it being a store or a
    warehouse (Location.clean says which)."""
    unknown = set(changes) - set(LOCATION_FIELDS)
    if unknown:
        raise BusinessRuleError(
            _("These fields cannot be changed here."), code="invalid_fields", details={"fields": sorted(unknown)}
        )
    location = Location.objects.select_for_update().get(pk=location.pk)
    for field, value in changes.items():
        setattr(location, field, value)
    location.full_clean()
    location.save()
    return location


@transaction.atomic
def sales_channel_create(*, code: str, name: str, kind: str, is_active: bool = True) -> SalesChannel:
    channel = SalesChannel(code=code, name=name, kind=kind, is_active=is_active)
    channel.full_clean()
    channel.save()
    return channel


@transaction.atomic
def channel_credential_issue(
    *, channel: SalesChannel, name: str, created_by: User | None, expires_at=None, _fixed_key: str | None = None
) -> tuple[ChannelCredential, str]:
    """A new API key for ``channel``; returns the row and the key, which is never shown again.

    ``_fixed_key`` is for the demo seed only, so the README can print a known key.
    """
    if not channel.is_active:
        raise BusinessRuleError(_("Cannot issue a key for an inactive channel."), code="channel_inactive")
    if _fixed_key is not None:
        parsed = split_channel_key(_fixed_key)
        if parsed is None:
            raise BusinessRuleError(_("Malformed channel key."), code="invalid_key")
        prefix, secret = parsed
    else:
        prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
        secret = secrets.token_urlsafe(32).replace("_", "-")
    credential = ChannelCredential(
        channel=channel,
        name=name,
        prefix=prefix,
        secret_hash=_hash_secret(secret),
        created_by=created_by,
        expires_at=expires_at,
    )
    credential.full_clean()
    credential.save()
    return credential, f"omo_{prefix}_{secret}"


@transaction.atomic
def channel_credential_revoke(*, credential: ChannelCredential, revoked_by: User) -> ChannelCredential:
    credential = ChannelCredential.objects.select_for_update().get(pk=credential.pk)
    if credential.revoked_at is None:
        credential.revoked_at = timezone.now()
        credential.revoked_by = revoked_by
        credential.save(update_fields=["revoked_at", "revoked_by"])
    return credential


def _credential_of(prefix: str) -> ChannelCredential | None:
    try:
        return ChannelCredential.objects.select_related("channel").get(prefix=prefix)
    except ChannelCredential.DoesNotExist:
        return None


def channel_credential_authenticate(raw_key: str) -> ChannelCredential | None:
    """The live key matching ``raw_key`` (and records its use at most every few minutes), or None."""
    parsed = split_channel_key(raw_key)
    if parsed is None:
        return None
    prefix, secret = parsed
    credential = cached(("channel-key", prefix), lambda: _credential_of(prefix))
    if credential is None or not hmac.compare_digest(credential.secret_hash, _hash_secret(secret)):
        return None
    now = timezone.now()
    if credential.revoked_at or (credential.expires_at and credential.expires_at <= now):
        return None
    if not credential.channel.is_active:
        return None
    if credential.last_used_at is None or now - credential.last_used_at > CREDENTIAL_TOUCH_INTERVAL:
        # One conditional UPDATE, not a read-modify-write: concurrent requests do not fight over it.
        ChannelCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
        credential.last_used_at = now
    return credential


def _new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_CODE_ALPHABET) for _ in range(8))


@transaction.atomic
def staff_create(
    *,
    username: str,
    password: str | None,
    display_name: str,
    employee_code: str,
    role: str,
    home_store: Location | None = None,
    email: str = "",
    referral_code: str | None = None,
    superuser: bool = False,
) -> StaffProfile:
    """A staff login with its profile and role. Store roles need a home store; HQ roles have none.

    ``superuser`` is for the brand's system administrators only (all permissions, Django admin users).
    """
    role = Role(role)
    check_role_store(role, home_store)
    if User.objects.filter(username__iexact=username).exists():
        raise ConflictError(_("The username %(username)s is taken.") % {"username": username}, code="username_taken")
    if StaffProfile.objects.filter(employee_code=employee_code).exists():
        raise ConflictError(
            _("The employee code %(code)s is taken.") % {"code": employee_code}, code="employee_code_taken"
        )
    if superuser and role != Role.HQ_ADMIN:
        raise BusinessRuleError(_("Only an HQ admin can be a superuser."), code="superuser_not_hq_admin")
    user = User(
        username=username,
        email=email,
        is_staff=role not in STORE_ROLES,
        is_superuser=superuser,
        first_name=display_name[:150],
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(validate_unique=False, validate_constraints=False)  # checked above; the insert enforces it
    with conflict_on_integrity_error(
        _("The username %(username)s is taken.") % {"username": username}, code="username_taken"
    ):
        user.save()
    user.groups.set([Group.objects.get(name=role.value)])
    if referral_code is None:
        referral_code = _new_referral_code()
        while StaffProfile.objects.filter(referral_code=referral_code).exists():
            referral_code = _new_referral_code()
    elif StaffProfile.objects.filter(referral_code=referral_code).exists():
        raise ConflictError(
            _("The referral code %(code)s is taken.") % {"code": referral_code}, code="referral_code_taken"
        )
    profile = StaffProfile(
        user=user,
        display_name=display_name,
        employee_code=employee_code,
        home_store=home_store,
        referral_code=referral_code,
    )
    profile.full_clean(validate_unique=False)
    with conflict_on_integrity_error(_("Employee or referral code already in use."), code="staff_code_taken"):
        profile.save()
    return profile


@transaction.atomic
def staff_update(
    *,
    profile: StaffProfile,
    role: str | None = None,
    home_store: Location | object | None = ...,
    display_name: str | None = None,
) -> StaffProfile:
    """Changes a staff member's role and/or store (a clerk promoted to store manager, moved to another
    store, or moved to HQ) and display name. The pair role/store is checked as on creation."""
    profile = (
        StaffProfile.objects.select_for_update(of=("self",)).select_related("user", "home_store").get(pk=profile.pk)
    )
    user = profile.user
    current = current_role(user)
    new_role = Role(role) if role is not None else current
    new_store = profile.home_store if home_store is ... else home_store
    if new_role is None:
        raise BusinessRuleError(_("Choose a role for this staff member."), code="role_required")
    check_role_store(new_role, new_store)
    profile.home_store = new_store
    if display_name is not None:
        profile.display_name = display_name
    profile.full_clean()
    profile.save(update_fields=["home_store", "display_name", "updated_at"])
    if new_role != current:
        user.groups.remove(*Group.objects.filter(name__in=Role.values))
        user.groups.add(Group.objects.get(name=new_role.value))
        changes = {"is_staff": new_role not in STORE_ROLES}
        if new_role != Role.HQ_ADMIN:
            changes["is_superuser"] = False  # a superuser bypasses every role and store check
        User.objects.filter(pk=user.pk).update(**changes)
    return profile


@transaction.atomic
def staff_deactivate(*, actor, profile: StaffProfile) -> StaffProfile:
    """A staff member leaves the company: they can no longer log in; their profile, referral code and
    history stay (a leaver's code is then handled by the commission policy)."""
    if actor is not None:
        ensure_permission(actor, "org.change_user")
        if actor.pk == profile.user_id:
            raise BusinessRuleError(_("You cannot deactivate yourself."), code="own_account")
    profile = StaffProfile.objects.select_for_update(of=("self",)).select_related("user").get(pk=profile.pk)
    User.objects.filter(pk=profile.user_id).update(is_active=False)
    profile.user.is_active = False
    return profile


def current_role(user: User) -> Role | None:
    names = sorted(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    return Role(names[0]) if names else None


def check_role_store(role: Role, home_store: Location | None) -> None:
    if role in STORE_ROLES and home_store is None:
        raise BusinessRuleError(_("A store manager or clerk needs a home store."), code="home_store_required")
    if role in STORE_ROLES and not home_store.is_store:
        raise BusinessRuleError(_("A home store must be a store, not a warehouse."), code="home_store_not_store")
    if role not in STORE_ROLES and home_store is not None:
        raise BusinessRuleError(_("HQ staff have no home store."), code="hq_has_no_store")


# --- POS PINs ---------------------------------------------------------------------------------------

PIN_FAILURES = 5  # wrong PINs in a row before the staff member is locked out of PIN checks
PIN_LOCK_SECONDS = 300


@transaction.atomic
def staff_pin_set(*, user: User, pin: str) -> None:
    """Sets a staff member's own POS PIN: 4 to 6 digits, kept only as a password hash."""
    if not (isinstance(pin, str) and pin.isdigit() and 4 <= len(pin) <= 6):
        raise BusinessRuleError(_("A PIN is 4 to 6 digits."), code="invalid_pin")
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise BusinessRuleError(_("Choose a PIN that is not a run or a repeat."), code="weak_pin")
    profile = StaffProfile.objects.select_for_update().get(user=user)
    profile.pin_hash = make_password(pin)
    profile.save(update_fields=["pin_hash", "updated_at"])


def staff_pin_check(*, username: str, pin: str, store_id: int) -> User:
    """The active staff member of ``store_id`` (or HQ) with this username and PIN; a 403 ``wrong_pin``
    otherwise. Five wrong PINs lock the member out of PIN checks for five minutes (counted in the
    shared cache, so the limit holds across web workers)."""
    key = f"omo:pin-failures:{(username or '').lower()}"
    try:
        failures = cache.get(key, 0)
    except Exception as error:  # fails closed: without its counter the PIN lock would not hold
        logger.warning("PIN check refused: the cache did not answer (%s)", type(error).__name__)
        raise UnavailableError(
            _("Switching clerks is unavailable for a moment; log in with your password instead."),
            code="pin_check_unavailable",
        ) from None
    if failures >= PIN_FAILURES:
        raise PermissionDeniedError(_("Too many wrong PINs; try again in a few minutes."), code="pin_locked")
    profile = (
        StaffProfile.objects.select_related("user")
        .filter(user__username__iexact=(username or "").strip(), user__is_active=True)
        .first()
    )
    ok = (
        profile is not None
        and profile.pin_hash
        and (profile.home_store_id in (None, store_id))
        and check_password(pin or "", profile.pin_hash)
    )
    if not ok:
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, PIN_LOCK_SECONDS)
        except Exception as error:  # the cache went away since the read: counted nowhere, still refused
            logger.warning("PIN failure not counted: the cache did not answer (%s)", type(error).__name__)
        raise PermissionDeniedError(_("Wrong name or PIN."), code="wrong_pin")
    try:
        cache.delete(key)
    except Exception as error:
        logger.warning("PIN failures not cleared: the cache did not answer (%s)", type(error).__name__)
    return profile.user


def staff_login_logs_purge(*, days: int | None = None) -> int:
    """Deletes the staff log-in records (django-axes: each log-in with its address and browser, each
    failure) older than ``days`` (``STAFF_LOGIN_LOG_DAYS``, 90): they are personal data, kept for
    security reviews and no longer. A lock in force (the failure counter) is never touched. Returns
    how many records went."""
    from axes.models import AccessFailureLog, AccessLog
    from django.conf import settings

    before = timezone.now() - timedelta(days=days or settings.STAFF_LOGIN_LOG_DAYS)
    with transaction.atomic():
        logins, _ = AccessLog.objects.filter(attempt_time__lt=before).delete()
        failures, _ = AccessFailureLog.objects.filter(attempt_time__lt=before).delete()
    return logins + failures
