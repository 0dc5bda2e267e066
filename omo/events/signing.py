"""Signing of the bodies the back office sends (webhooks) and receives (marketplace orders).

One scheme both ways, the one Stripe and Svix made familiar: ``X-OMO-Timestamp`` carries the Unix time
of sending, ``X-OMO-Signature`` carries ``v1=`` and the hex HMAC-SHA256 of ``"<timestamp>.<body>"``
under the shared secret. The receiver recomputes it over the raw body, compares in constant time and
refuses a timestamp outside a tolerance, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

TIMESTAMP_HEADER = "X-OMO-Timestamp"
SIGNATURE_HEADER = "X-OMO-Signature"
EVENT_ID_HEADER = "X-OMO-Event-Id"
EVENT_TYPE_HEADER = "X-OMO-Event-Type"
DEFAULT_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


def signature(secret: str, body: bytes, timestamp: int | str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def sign_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, body, timestamp)}


class BadSignature(Exception):
    """Why a signed request was refused: ``code`` is machine-readable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def verify(
    secret: str,
    body: bytes,
    *,
    timestamp: str | None,
    signature_header: str | None,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raises ``BadSignature`` unless ``signature_header`` signs ``body`` at ``timestamp`` and the
    timestamp is within ``tolerance`` seconds of now. Several ``v1=`` values (comma-separated) are
    accepted, so a sender can sign with an old and a new secret while rotating."""
    if not timestamp or not signature_header:
        raise BadSignature("signature_missing", f"Send {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}.")
    try:
        sent = int(timestamp)
    except ValueError:
        raise BadSignature("signature_invalid", f"{TIMESTAMP_HEADER} must be Unix seconds.") from None
    current = now if now is not None else time.time()
    if abs(current - sent) > tolerance:
        raise BadSignature("signature_expired", "The timestamp is too old or in the future (replayed?).")
    expected = signature(secret, body, sent)
    given = [part.strip() for part in signature_header.split(",")]
    if not any(hmac.compare_digest(expected, value) for value in given):
        raise BadSignature("signature_invalid", "The signature does not match the body.")
