"""Money helpers: amounts are Decimal, rounded to the currency's minor unit."""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

ZERO_DECIMAL_CURRENCIES = {"TWD", "JPY", "KRW", "VND", "CLP", "ISK", "HUF"}  # priced in whole units here


def currency_quantum(currency: str | None = None) -> Decimal:
    currency = currency or settings.OMO_CURRENCY
    return Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")


def money_round(amount: Decimal, currency: str | None = None) -> Decimal:
    """Rounds half up to the currency's unit (TWD: whole dollars)."""
    return Decimal(amount).quantize(currency_quantum(currency), rounding=ROUND_HALF_UP)
