"""The whole API against its own OpenAPI schema, fuzzed by schemathesis in-process (WSGI, no server).

Every operation of ``/api/schema/`` is called with generated valid and invalid data, once as an HQ admin
(session cookie and CSRF token, as the browser sends them) and once with a sales channel's API key. Each
response must not be a 5xx, must have a documented status code, content type and body, and invalid
data must be refused with a 4xx. A small shop is seeded first so that path parameters name real objects
part of the time.
"""

from __future__ import annotations

import os
from importlib import import_module

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from omo.org.services import channel_credential_issue
from orders import services as orders
from pos.models import Register
from tests.attribution.conftest import ADDRESS
from tests.orders.conftest import fake_gateway, shop  # noqa: F401 (fixtures)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Examples per operation and caller, valid and invalid mixed; derandomized, so every run sends the same
# requests. API_FUZZ_EXAMPLES=100 for a deeper run by hand.
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "6"))
CONFIG = {"generation": {"with-security-parameters": False}}  # the tests send the credentials themselves


@pytest.fixture
def wsgi_app():
    """Django's own WSGI handler, sharing the test's connection and transaction.

    A real request ends by closing "old" connections; inside the test transaction that would break it, so
    (like Django's test client) the handler runs with those signal receivers disconnected."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(shop, hq_admin, clerk_a):  # noqa: F811
    """Objects the generated paths can name: (path parameter name -> real values)."""
    order = orders.order_place(
        channel=shop.web, lines=[(shop.tee.sku, 1)], fulfilment="ship", member=shop.member, shipping_address=ADDRESS
    )
    register = Register.objects.create(store=shop.store_a, code="R1", name="Register 1")
    return {
        "number": [order.number],
        "id": [register.pk],
        "member_no": [shop.member.member_no],
        "style_code": ["TEE", "JEANS"],
        "sku": [shop.tee.sku],
        "code": ["S-A", clerk_a.staff_profile.referral_code],
        "employee_code": [hq_admin.staff_profile.employee_code],
    }


@pytest.fixture
def api_schema(wsgi_app, seeded):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, config=schemathesis.Config.from_dict(CONFIG))

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        """Half of the paths name objects that exist (the other half whatever was generated)."""
        known = {name: seeded[name] for name in path_parameters or () if name in seeded}
        if not known:
            return st.just(path_parameters)
        real = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in known.items()})
        return st.one_of(st.just(path_parameters), real.map(lambda values: {**path_parameters, **values}))

    return schema


@pytest.fixture
def admin_credentials(hq_admin):
    """The cookies a logged-in browser sends: the session, and the CSRF token echoed in a header."""
    session = import_module(django_settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(hq_admin.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = hq_admin.get_session_auth_hash()
    session.save()
    csrf = get_random_string(32)
    return {
        "headers": {"X-CSRFToken": csrf},
        "cookies": {django_settings.SESSION_COOKIE_NAME: session.session_key, django_settings.CSRF_COOKIE_NAME: csrf},
    }


@pytest.fixture
def channel_credentials(shop):  # noqa: F811
    _credential, key = channel_credential_issue(channel=shop.web, name="fuzz", created_by=None)
    return {"headers": {"X-Api-Key": key}}


def fuzz(schema, credentials, subtests):
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = st.one_of([operation.as_strategy(generation_mode=mode) for mode in GenerationMode])

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
        )
        @given(case=strategy)
        def run(case):
            # each request on its own, as on a server: what it wrote (or a database error) is undone
            savepoint = transaction.savepoint()
            try:
                case.call_and_validate(checks=CHECKS, **credentials)
            finally:
                transaction.savepoint_rollback(savepoint)

        with subtests.test(msg=operation.label):
            run()


def test_every_operation_as_an_hq_admin(api_schema, admin_credentials, subtests):
    fuzz(api_schema, admin_credentials, subtests)


def test_every_operation_with_a_channel_key(api_schema, channel_credentials, subtests):
    fuzz(api_schema, channel_credentials, subtests)


def test_an_unknown_api_address_answers_in_the_error_shape(client):
    response = client.get("/api/v1/pos/registers/not-a-number/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "There is no such API address.", "details": {}}


def test_a_nul_in_the_query_is_refused_before_it_reaches_the_database(hq_admin, store_a):
    from tests.conftest import client_for

    response = client_for(hq_admin).get("/api/v1/locations/", {"city": "台北\x00市"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_the_schema_documents_each_operations_errors(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    write = schema["paths"]["/api/v1/pos/registers/"]["post"]["responses"]
    read = schema["paths"]["/api/v1/locations/"]["get"]["responses"]
    assert sorted(write) == ["201", "400", "401", "403", "404", "409", "415", "422", "503"]
    assert sorted(read) == ["200", "400", "401", "403", "404", "503"]
    assert write["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert schema["components"]["schemas"]["Error"]["required"] == ["code", "message", "details"]
