"""Where campaign messages go out: one provider per channel behind one interface, named in
``settings.MARKETING_PROVIDERS``. The defaults send nothing outside: SMS through the members' SMS
gateway (the fake keeps messages in memory), email through Django's email backend (console, or
locmem in tests), LINE and app push to fakes that keep what they were given. A real LINE Messaging API
or push service is a class with the same ``send``.

``send`` returns the provider's id for the message, or raises ``ProviderError`` (the recipient is
marked failed with the reason; nothing is retried, so nobody gets it twice)."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class ProviderError(Exception):
    pass


@dataclass(frozen=True)
class Message:
    to: str  # a phone number, an email address, a LINE user id or an app install id
    text: str
    subject: str = ""


class MessageProvider(Protocol):
    def send(self, message: Message) -> str: ...


_ids = itertools.count(1)


class FakeProvider:
    """Keeps every message in ``FakeProvider.outbox[channel]`` instead of sending it. ``fail_for``: the
    addresses it refuses (to test failures)."""

    channel = "fake"
    outbox: dict[str, list[Message]] = {}
    fail_for: set[str] = set()

    def send(self, message: Message) -> str:
        if message.to in self.fail_for:
            raise ProviderError("refused by the fake provider")
        self.outbox.setdefault(self.channel, []).append(message)
        logger.info("fake %s message (%d characters)", self.channel, len(message.text))  # never the address
        return f"fake-{self.channel}-{next(_ids)}"


class FakeLineProvider(FakeProvider):
    channel = "line"


class FakePushProvider(FakeProvider):
    channel = "push"


class SmsProvider:
    """Through the SMS gateway the members' log-in codes use (``MEMBER_SMS_PROVIDER``)."""

    def send(self, message: Message) -> str:
        from members.sms import sms_provider

        sms_provider().send(phone=message.to, text=message.text)
        return f"sms-{next(_ids)}"


class EmailProvider:
    """Through Django's email backend (``EMAIL_BACKEND``)."""

    def send(self, message: Message) -> str:
        sent = send_mail(message.subject or "", message.text, None, [message.to], fail_silently=False)
        if not sent:
            raise ProviderError("the email backend sent nothing")
        return f"email-{next(_ids)}"


def provider_for(channel: str) -> MessageProvider:
    return import_string(settings.MARKETING_PROVIDERS[channel])()
