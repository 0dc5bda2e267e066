"""The payment gateway interface and the fake used by tests and the demo.

A real gateway (a card acquirer, LINE Pay, JKO Pay) is a class with ``charge`` and ``refund`` that
answers a ``GatewayResult``; ``ORDER_PAYMENT_PROVIDER`` names it. Cash and store credit never reach a
gateway. Calls happen outside any database transaction that holds stock or order locks.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class GatewayResult:
    ok: bool
    reference: str = ""
    error: str = ""


class PaymentProvider:
    def charge(self, *, tender: str, amount: Decimal, order_number: str, token: str = "") -> GatewayResult:
        raise NotImplementedError

    def refund(self, *, tender: str, amount: Decimal, charge_reference: str) -> GatewayResult:
        raise NotImplementedError


class FakePaymentProvider(PaymentProvider):
    """Approves everything except the token ``decline`` (declined) and ``error`` (the gateway fails);
    remembers every call in ``calls`` for tests."""

    calls: list[tuple] = []
    _lock = threading.Lock()

    def charge(self, *, tender, amount, order_number, token=""):
        with self._lock:
            self.calls.append(("charge", tender, amount, order_number, token))
        if token == "decline":  # noqa: S105 - the fake's test tokens
            return GatewayResult(ok=False, error="card_declined")
        if token == "error":  # noqa: S105
            raise ConnectionError("the fake gateway is down")
        return GatewayResult(ok=True, reference=f"fake_ch_{uuid.uuid4().hex[:16]}")

    def refund(self, *, tender, amount, charge_reference):
        with self._lock:
            self.calls.append(("refund", tender, amount, charge_reference))
        return GatewayResult(ok=True, reference=f"fake_re_{uuid.uuid4().hex[:16]}")


def payment_provider() -> PaymentProvider:
    return import_string(settings.ORDER_PAYMENT_PROVIDER)()
