"""Sending SMS: an interface with a fake for tests and the demo. A real gateway (Every8d, Mitake,
Twilio ...) is a class with the same ``send`` named in ``settings.MEMBER_SMS_PROVIDER``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsProvider(Protocol):
    def send(self, *, phone: str, text: str) -> None: ...


@dataclass
class SentSms:
    phone: str
    text: str


class FakeSmsProvider:
    """Keeps messages in memory (``FakeSmsProvider.outbox``) instead of sending them."""

    outbox: list[SentSms] = []

    def send(self, *, phone: str, text: str) -> None:
        self.outbox.append(SentSms(phone=phone, text=text))
        logger.info("fake SMS to ...%s (%d characters)", phone[-3:], len(text))  # never the code or number


def sms_provider() -> SmsProvider:
    return import_string(settings.MEMBER_SMS_PROVIDER)()
