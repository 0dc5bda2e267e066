import pytest
from django.conf import settings

from omo.events import relay, webhooks
from omo.events.receiver import WebhookReceiver
from tests.factories import SalesChannelFactory


@pytest.fixture
def web(db):
    return SalesChannelFactory(code="WEB", kind="web")


@pytest.fixture
def app_channel(db):
    return SalesChannelFactory(code="APP", kind="app")


@pytest.fixture
def receiver():
    """A signature-checking, deduplicating receiver; set ``receiver.secret`` to the subscription's."""
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def subscribe(receiver):
    def make(channel, event_types=("*",), **kwargs):
        sub = webhooks.subscription_create(
            channel=channel, name=kwargs.pop("name", "test"), url=kwargs.pop("url", receiver.url),
            event_types=list(event_types),
        )  # fmt: skip
        receiver.secret = sub.secret
        return sub

    return make


def relay_all() -> int:
    return sum(relay.relay_partition(p) for p in range(settings.OUTBOX_PARTITIONS))


def send_all(subscription) -> int:
    return sum(webhooks.send_pending(subscription.pk, p) for p in range(settings.OUTBOX_PARTITIONS))
