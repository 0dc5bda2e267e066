from datetime import timedelta

import pytest
from django.utils import timezone

from omo.org import services
from omo.org.models import ChannelCredential
from tests.conftest import client_for
from tests.factories import SalesChannelFactory


@pytest.fixture
def web(db):
    return SalesChannelFactory(code="WEB", name="Web shop", kind="web")


@pytest.fixture
def web_key(web, hq_admin):
    credential, key = services.channel_credential_issue(channel=web, name="prod", created_by=hq_admin)
    return credential, key


def test_issued_key_is_stored_only_as_a_hash(web_key):
    credential, key = web_key

    assert key.startswith(f"omo_{credential.prefix}_")
    secret = key.split("_", 2)[2]
    assert secret not in credential.secret_hash
    assert len(credential.secret_hash) == 64


def test_frontend_authenticates_with_its_channel_key(api, web_key):
    credential, key = web_key

    by_header = api.get("/api/v1/channel/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    by_x_header = api.get("/api/v1/channel/", HTTP_X_API_KEY=key)

    assert by_header.status_code == 200
    assert by_header.json() == {
        "code": "WEB",
        "name": "Web shop",
        "kind": "web",
        "key_name": "prod",
        "key_prefix": credential.prefix,
    }
    assert by_x_header.status_code == 200
    credential.refresh_from_db()
    assert credential.last_used_at is not None


@pytest.mark.parametrize(
    "mangle", [lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"), lambda k: "omo_nope", lambda k: "x"]
)
def test_wrong_keys_are_refused_with_401(api, web_key, mangle):
    _credential, key = web_key

    response = api.get("/api/v1/channel/", HTTP_AUTHORIZATION=f"Api-Key {mangle(key)}")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Api-Key"
    assert ChannelCredential.objects.get().last_used_at is None


def test_revoked_and_expired_keys_stop_working(api, web, web_key, hq_admin):
    credential, key = web_key
    services.channel_credential_revoke(credential=credential, revoked_by=hq_admin)
    _expired, expired_key = services.channel_credential_issue(
        channel=web, name="old", created_by=hq_admin, expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert api.get("/api/v1/channel/", HTTP_X_API_KEY=key).status_code == 401
    assert api.get("/api/v1/channel/", HTTP_X_API_KEY=expired_key).status_code == 401
    credential.refresh_from_db()
    assert credential.revoked_by == hq_admin


def test_key_of_an_inactive_channel_is_refused(api, web, web_key):
    _credential, key = web_key
    web.is_active = False
    web.save()

    assert api.get("/api/v1/channel/", HTTP_X_API_KEY=key).status_code == 401


def test_no_key_is_issued_for_an_inactive_channel(web, hq_admin):
    web.is_active = False
    web.save()

    with pytest.raises(services.BusinessRuleError) as error:
        services.channel_credential_issue(channel=web, name="x", created_by=hq_admin)

    assert error.value.code == "channel_inactive"
    assert ChannelCredential.objects.count() == 0


def test_channel_reads_locations_but_never_staff(api, web_key, store_a, clerk_a):
    _credential, key = web_key
    api.credentials(HTTP_X_API_KEY=key)

    locations = api.get("/api/v1/locations/?kind=store")
    staff = api.get("/api/v1/staff/")

    assert locations.status_code == 200
    assert [(loc["code"], loc["supplying_warehouse"]) for loc in locations.json()["results"]] == [("S-A", "WH-T1")]
    assert staff.status_code == 403


def test_staff_session_cannot_use_channel_only_endpoint(hq_admin):
    response = client_for(hq_admin).get("/api/v1/channel/")

    assert response.status_code == 403
