"""Reads of the members app, and the masking of personal data for store staff."""

from __future__ import annotations

from django.db.models import QuerySet

from members.models import Identity, Member, PointsEntry
from members.services import normalize_phone


def mask_phone(e164: str | None) -> str:
    """``+886912345678`` -> ``0912-***-678`` (a Taiwanese mobile), else the last three digits only."""
    if not e164:
        return ""
    if e164.startswith("+886") and len(e164) == 13:
        local = "0" + e164[4:]
        return f"{local[:4]}-***-{local[-3:]}"
    return "*" * (len(e164) - 3) + e164[-3:]


def mask_email(email: str | None) -> str:
    if not email:
        return ""
    name, _at, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


def mask_name(name: str) -> str:
    """``王小明`` -> ``王*明``; a short name keeps its first character."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def member_by_phone(raw_phone: str) -> Member | None:
    """One indexed lookup by the normalised phone (a clerk typing 0912-345-678)."""
    return Member.objects.filter(phone=normalize_phone(raw_phone), status=Member.Status.ACTIVE).first()


def member_by_code(code: str) -> Member | None:
    """By member number (the member QR carries it) or by an identity ``provider:id``."""
    code = code.strip()
    if ":" in code:
        provider, _sep, external_id = code.partition(":")
        identity = Identity.objects.select_related("member").filter(provider=provider, external_id=external_id).first()
        return identity.member if identity else None
    return Member.objects.filter(member_no=code).first()


def points_history(*, member: Member) -> QuerySet[PointsEntry]:
    return PointsEntry.objects.filter(member=member).order_by("-id")
