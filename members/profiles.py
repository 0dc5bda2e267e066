"""Brand-defined member profile: the fields HQ defines (``ProfileField``), a member's own values (kept
in ``Member.profile`` by field key) and the entries of repeatable groups (``ProfileEntry``: a pet shop's
pets, an optician's prescriptions).

Every value is checked against its field before it is stored, and stored in one JSON form: text as the
stripped string, a number as an int when whole and otherwise as the string of the normalised decimal
(never a float), a date as ``YYYY-MM-DD``, a choice as the chosen string.

Every write locks the member's row first (one member's profile changes one after another, so a merge
never loses a concurrent change and a group's entry count is true when it is checked).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import formats
from django.utils.translation import gettext as _

from members.models import Member, ProfileEntry, ProfileField, ProfileGroup
from members.selectors import profile_fields
from omo.core.errors import ApplicationError, BusinessRuleError, NotFoundError
from omo.org.access import ensure_permission

# A number has at most this many digits before and after the decimal point: the integer part stays
# exact in a JavaScript number (below 2**53), and nobody types a longer fraction.
MAX_INTEGER_DIGITS = 15
MAX_FRACTION_DIGITS = 10

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _plain(number: Decimal) -> str:
    """``Decimal("1.50")`` -> ``"1.5"``, ``Decimal("1E-5")`` -> ``"0.00001"`` (never an exponent)."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


class _Invalid(Exception):
    """One value's problem, collected by ``_clean`` into the details of ``invalid_profile``."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _clean_text(field: ProfileField, value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(_("Enter text."))
    value = value.strip()
    if len(value) > field.max_length:
        raise _Invalid(_("At most %(n)d characters.") % {"n": field.max_length})
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in value):  # PostgreSQL refuses \u0000
        raise _Invalid(_("Enter text without control characters."))
    return value


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise _Invalid(_("Enter a number."))
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text of the float: 0.1 is 0.1, not 0.1000000000000000055
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()  # full-width digits typed with a Chinese IME
        if not _NUMBER.fullmatch(text):
            raise _Invalid(_("Enter a number."))
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _Invalid(_("Enter a number.")) from None
    else:
        raise _Invalid(_("Enter a number."))
    if not number.is_finite():
        raise _Invalid(_("Enter a number."))
    return number


def _clean_number(field: ProfileField, value: Any) -> int | str:
    number = _to_decimal(value)
    _sign, digits, exponent = number.normalize().as_tuple()
    fraction_digits = max(0, -exponent)
    integer_digits = max(0, len(digits) + exponent)
    if integer_digits > MAX_INTEGER_DIGITS or fraction_digits > MAX_FRACTION_DIGITS:
        raise _Invalid(
            _("A number has at most %(int)d digits before and %(frac)d after the decimal point.")
            % {"int": MAX_INTEGER_DIGITS, "frac": MAX_FRACTION_DIGITS}
        )
    if field.min_value is not None and number < field.min_value:
        raise _Invalid(_("At least %(min)s.") % {"min": _plain(field.min_value)})
    if field.max_value is not None and number > field.max_value:
        raise _Invalid(_("At most %(max)s.") % {"max": _plain(field.max_value)})
    if number == number.to_integral_value():
        return int(number)
    return _plain(number)


def _clean_date(field: ProfileField, value: Any) -> str:
    if isinstance(value, datetime):  # a datetime is a date too, but which day it is depends on the zone
        raise _Invalid(_("Enter a date as YYYY-MM-DD."))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise _Invalid(_("Enter a date as YYYY-MM-DD."))


def _clean_choice(field: ProfileField, value: Any) -> str:
    choices = [str(c) for c in field.choices or []]
    if isinstance(value, str) and value.strip() in choices:
        return value.strip()
    raise _Invalid(_("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)})


_CLEANERS = {
    ProfileField.Type.TEXT: _clean_text,
    ProfileField.Type.NUMBER: _clean_number,
    ProfileField.Type.DATE: _clean_date,
    ProfileField.Type.CHOICE: _clean_choice,
}


def _clean(
    fields: Iterable[ProfileField], values: Any, *, partial: bool, existing: dict | None = None
) -> dict[str, Any]:
    """The cleaned values (``None`` for a value that clears its field). ``existing``: the values already
    stored, which count for a required field the call does not mention."""
    if not isinstance(values, dict):
        raise ApplicationError(
            _("Profile values are given as an object of field keys and values."), code="invalid_profile"
        )
    by_key = {f.key: f for f in fields if f.is_active}
    unknown = [key for key in values if key not in by_key]
    if unknown:
        raise ApplicationError(
            _("There is no profile field %(keys)s.") % {"keys": ", ".join(str(k) for k in unknown)},
            code="unknown_profile_field",
            details={"fields": {str(key): _("There is no such field.") for key in unknown}},
        )
    cleaned: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, field in by_key.items():
        if key in values:
            if _is_empty(values[key]):
                cleaned[key], empty = None, True
            else:
                try:
                    cleaned[key] = _CLEANERS[field.type](field, values[key])
                except _Invalid as problem:
                    problems[key] = problem.message
                continue
        elif existing is not None:
            empty = _is_empty(existing.get(key))
        elif partial:
            continue
        else:
            empty = True
        if field.required and empty:
            problems[key] = _("This field is required.")
    if problems:
        raise ApplicationError(
            _("Some profile values are not valid."), code="invalid_profile", details={"fields": problems}
        )
    return cleaned


def profile_clean(*, fields: Iterable[ProfileField], values: dict, partial: bool = False) -> dict[str, Any]:
    """``values`` checked against the active ``fields`` and normalised for storage; a value that is
    empty (``None`` or ``""``) comes back as ``None`` (it clears the field).

    A key that is not an active field is a 400 ``unknown_profile_field``; every other problem is
    collected into one 400 ``invalid_profile`` with ``details={"fields": {key: message}}``. Unless
    ``partial``, a required field that is missing or empty is one of those problems (with ``partial``,
    only a required field the call empties is)."""
    return _clean(fields, values, partial=partial)


def _merged(stored: dict, cleaned: dict) -> dict:
    merged = dict(stored)
    for key, value in cleaned.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _lock_member(member: Member) -> Member:
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != Member.Status.ACTIVE:
        raise BusinessRuleError(_("This member is no longer active."), code="member_inactive")
    return member


def _check_group_active(group: ProfileGroup) -> None:
    if not group.is_active:
        raise BusinessRuleError(
            _("%(group)s can no longer be filled in.") % {"group": group.label}, code="profile_group_inactive"
        )


# --- the member's own fields -----------------------------------------------------------------------


@transaction.atomic
def member_profile_update(*, member: Member, values: dict, actor=None) -> Member:
    """Merges ``values`` into the member's profile: a key given sets or (empty) clears that field, the
    others stay. The merged profile must hold every required field. Values of fields HQ has since
    deactivated stay stored untouched."""
    if actor is not None:
        ensure_permission(actor, "members.change_member")
    fields = profile_fields()
    member = _lock_member(member)
    cleaned = _clean(fields, values, partial=False, existing=member.profile or {})
    member.profile = _merged(member.profile or {}, cleaned)
    member.save(update_fields=["profile", "updated_at"])
    return member


# --- entries of repeatable groups ------------------------------------------------------------------


@transaction.atomic
def profile_entry_add(*, member: Member, group: ProfileGroup, values: dict, actor=None) -> ProfileEntry:
    """A new entry of ``group`` for the member; at most ``group.max_entries`` (422 ``profile_group_full``)."""
    if actor is not None:
        ensure_permission(actor, "members.add_profileentry")
    _check_group_active(group)
    cleaned = _clean(profile_fields(group=group), values, partial=False)
    member = _lock_member(member)  # the count below stays true until commit
    if ProfileEntry.objects.filter(member=member, group=group).count() >= group.max_entries:
        raise BusinessRuleError(
            _("%(group)s holds at most %(n)d entries.") % {"group": group.label, "n": group.max_entries},
            code="profile_group_full",
            details={"max_entries": group.max_entries},
        )
    return ProfileEntry.objects.create(member=member, group=group, values=_merged({}, cleaned))


@transaction.atomic
def profile_entry_update(*, entry: ProfileEntry, values: dict, actor=None) -> ProfileEntry:
    """Merges ``values`` into the entry, like ``member_profile_update``."""
    if actor is not None:
        ensure_permission(actor, "members.change_profileentry")
    group = entry.group
    _check_group_active(group)
    fields = profile_fields(group=group)
    _lock_member(Member(pk=entry.member_id))  # member, then entry: the order every profile write takes
    entry = ProfileEntry.objects.select_for_update().filter(pk=entry.pk).first()
    if entry is None:  # removed meanwhile
        raise NotFoundError(_("There is no such profile entry."), code="profile_entry_not_found")
    cleaned = _clean(fields, values, partial=False, existing=entry.values or {})
    entry.values = _merged(entry.values or {}, cleaned)
    entry.save(update_fields=["values", "updated_at"])
    return entry


@transaction.atomic
def profile_entry_remove(*, entry: ProfileEntry, actor=None) -> None:
    """Deletes the entry (also of a group HQ has deactivated: a member may always remove their data)."""
    if actor is not None:
        ensure_permission(actor, "members.delete_profileentry")
    _lock_member(Member(pk=entry.member_id))
    ProfileEntry.objects.filter(pk=entry.pk).delete()


# --- display -----------------------------------------------------------------------------------------


def profile_display(*, fields: Iterable[ProfileField], values: dict) -> list[tuple[str, str]]:
    """``(label, value as a person reads it)`` for each active field with a value, in field order:
    dates and numbers in the active language's format."""
    shown = []
    for field in fields:
        if not field.is_active or _is_empty((values or {}).get(field.key)):
            continue
        value = values[field.key]
        text = str(value)
        try:
            if field.type == ProfileField.Type.DATE:
                text = formats.date_format(date.fromisoformat(str(value)), "DATE_FORMAT")
            elif field.type == ProfileField.Type.NUMBER:
                text = formats.number_format(Decimal(str(value)), use_l10n=True, force_grouping=True)
        except (ValueError, InvalidOperation):
            pass  # stored before the field's type changed: shown as it is
        shown.append((field.label, text))
    return shown
