"""Partners manage their own webhook subscriptions with their channel's key."""

from omo.events.models import WebhookDelivery, WebhookSubscription
from omo.events.services import event_emit
from omo.org.services import channel_credential_issue
from tests.events.conftest import relay_all, send_all


def key_client(api, channel):
    _credential, key = channel_credential_issue(channel=channel, name="partner", created_by=None)
    api.credentials(HTTP_X_API_KEY=key)
    return api


def test_a_channel_subscribes_sees_its_log_and_rotates_its_secret(db, api, web, receiver):
    client = key_client(api, web)
    made = client.post(
        "/api/v1/events/webhooks/", {"name": "shop", "url": receiver.url, "event_types": ["order.*"]}, format="json"
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["secret"].startswith("whsec_") and body["channel"] == "WEB" and body["event_types"] == ["order.*"]
    listed = client.get("/api/v1/events/webhooks/").json()
    assert [s["id"] for s in listed] == [body["id"]] and "secret" not in listed[0]

    receiver.secret = body["secret"]
    event_emit(event_type="order.paid", aggregate_type="order", aggregate_id="W-1", channel=web, payload={})
    relay_all()
    send_all(WebhookSubscription.objects.get(pk=body["id"]))
    log = client.get(f"/api/v1/events/webhooks/{body['id']}/deliveries/").json()["results"]
    assert log[0]["status"] == "delivered" and log[0]["event_type"] == "order.paid" and log[0]["response_ms"] >= 0

    rotated = client.post(f"/api/v1/events/webhooks/{body['id']}/rotate-secret/").json()
    assert rotated["secret"] != body["secret"]
    paused = client.patch(f"/api/v1/events/webhooks/{body['id']}/", {"is_active": False}, format="json").json()
    assert paused["is_active"] is False


def test_bad_input_is_refused_and_changes_nothing(db, api, web):
    client = key_client(api, web)
    for bad in (
        {"name": "x", "url": "ftp://nope", "event_types": ["*"]},
        {"name": "x", "url": "https://ok.example/h", "event_types": []},
        {"name": "x", "url": "https://ok.example/h"},
    ):
        response = client.post("/api/v1/events/webhooks/", bad, format="json")
        assert response.status_code in (400, 422), bad
        assert "code" in response.json()
    assert WebhookSubscription.objects.count() == 0


def test_another_channels_subscription_is_404(db, api, web, app_channel, subscribe):
    theirs = subscribe(app_channel)
    client = key_client(api, web)
    for url in (f"/api/v1/events/webhooks/{theirs.pk}/", f"/api/v1/events/webhooks/{theirs.pk}/deliveries/"):
        assert client.get(url).status_code == 404
    assert client.post(f"/api/v1/events/webhooks/{theirs.pk}/rotate-secret/").status_code == 404
    assert client.get("/api/v1/events/webhooks/").json() == []
    assert not WebhookDelivery.objects.exists()


def test_staff_and_anonymous_callers_cannot_use_it(db, api, hq_admin):
    assert api.get("/api/v1/events/webhooks/").status_code == 401
    api.force_authenticate(hq_admin)
    assert api.get("/api/v1/events/webhooks/").status_code == 403
