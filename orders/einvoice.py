"""Taiwan e-invoice details a buyer may give with a sale (統一發票): a mobile barcode carrier (手機條碼)
or a company's tax id (統一編號). Checked here, stored on the order for the invoice export."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from omo.core.errors import ApplicationError

CARRIER = re.compile(r"^/[0-9A-Z.+\-]{7}$")
TAX_ID_WEIGHTS = (1, 2, 1, 2, 1, 2, 4, 1)


def normalize_carrier(raw: str) -> str:
    """``/ABC+123`` as scanned or typed (letters upper-cased), or a 400 ``invalid_carrier``."""
    code = (raw or "").strip().upper()
    if not CARRIER.match(code):
        raise ApplicationError(
            _("A mobile barcode is / and 7 characters (digits, capital letters, + - .)."), code="invalid_carrier"
        )
    return code


def tax_id_valid(code: str) -> bool:
    """The checksum of a business administration number: each digit times its weight, the digits of
    each product added up; the total divides by 5 (the rule since 2023, which includes the older
    divide-by-10), or, when the seventh digit is 7, the total plus one does."""
    if not re.fullmatch(r"\d{8}", code or ""):
        return False
    total = sum(sum(divmod(int(d) * w, 10)) for d, w in zip(code, TAX_ID_WEIGHTS, strict=True))
    return total % 5 == 0 or (code[6] == "7" and (total + 1) % 5 == 0)


def normalize_tax_id(raw: str) -> str:
    code = (raw or "").strip()
    if not tax_id_valid(code):
        raise ApplicationError(_("%(code)s is not a valid tax id (統一編號).") % {"code": raw}, code="invalid_tax_id")
    return code


def invoice_details(raw: dict | None) -> dict:
    """``{"carrier": "/ABC+123"}`` or ``{"tax_id": "22099131", "title": "..."}`` checked; empty when none."""
    raw = raw or {}
    unknown = set(raw) - {"carrier", "tax_id", "title"}
    if unknown:
        raise ApplicationError(
            _("Unknown invoice details: %(keys)s.") % {"keys": ", ".join(sorted(unknown))}, code="invalid_invoice"
        )
    out = {}
    if raw.get("carrier"):
        out["carrier"] = normalize_carrier(raw["carrier"])
    if raw.get("tax_id"):
        out["tax_id"] = normalize_tax_id(raw["tax_id"])
        out["title"] = str(raw.get("title") or "").strip()[:100]
    if "carrier" in out and "tax_id" in out:
        raise ApplicationError(_("Give a mobile barcode or a tax id, not both."), code="invalid_invoice")
    return out
