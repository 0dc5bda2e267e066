"""The API's common behaviour: one error shape, the OpenAPI schema, pagination and filters."""

from django.core.management import call_command

from tests.conftest import client_for


def test_invalid_input_gets_400_with_field_details(manager_a):
    response = client_for(manager_a).post("/api/v1/pos/registers/", {"store": "S-NOPE", "code": ""}, format="json")

    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "invalid"
    assert body["message"] == "The input is not valid."
    assert set(body["details"]) == {"store", "code", "name"}


def test_unknown_location_is_404_in_the_common_shape(hq_admin):
    response = client_for(hq_admin).get("/api/v1/locations/NOPE/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No Location matches the given query.", "details": {}}


def test_location_filters_and_pagination(hq_admin, store_a, store_b, warehouse):
    api = client_for(hq_admin)

    stores = api.get("/api/v1/locations/", {"kind": "store"}).json()
    warehouses = api.get("/api/v1/locations/", {"kind": "warehouse"}).json()
    bad_filter = api.get("/api/v1/locations/", {"kind": "castle"})

    assert [s["code"] for s in stores["results"]] == ["S-A", "S-B"]
    assert stores["count"] == 2
    assert [w["code"] for w in warehouses["results"]] == ["WH-T1"]
    assert bad_filter.status_code == 400
    assert bad_filter.json()["code"] == "invalid"


def test_openapi_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    text = out.read_text()
    assert "/api/v1/pos/registers/" in text
    assert "channelKey" in text


def test_api_docs_page_uses_vendored_assets(client, hq_admin):
    client.force_login(hq_admin)

    page = client.get("/api/docs/").content.decode()

    assert "drf_spectacular_sidecar/swagger-ui-dist" in page
    assert "cdn.jsdelivr" not in page and "unpkg.com" not in page


def test_a_deadlock_broken_by_postgresql_is_a_retryable_409():
    from django.db import OperationalError

    from omo.core.api import exception_handler

    class Cause(Exception):
        pgcode = "40P01"

    error = OperationalError("deadlock detected")
    error.__cause__ = Cause()

    response = exception_handler(error, {})

    assert response.status_code == 409
    assert response.data["code"] == "retry"
    assert response["Retry-After"] == "1"
    assert exception_handler(OperationalError("connection refused"), {}) is None  # anything else stays a 500
