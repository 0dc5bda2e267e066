"""The database connection drops in the middle of a request (PostgreSQL restarted, a failover, a cut
network): the request is answered 503 ``database_unavailable`` with ``Retry-After`` (an HTML page on
the POS), nothing of its transaction is written, and the next request works on a new connection.

The connection is killed for real: ``pg_terminate_backend`` of the request's own backend, from another
connection, between two writes of order placement (the order and its points are written, the stock
reservation is next)."""

import pytest
from django.core.signals import request_started
from django.db import close_old_connections, connection

from inventory import services as stock
from members import services as member_services
from members.models import PointsEntry
from omo.events.models import OutboxEvent
from orders.models import Order, OrderLine
from pos import services as pos_services
from pos.models import ShiftEntry
from tests.factories import points_books
from tests.faults.conftest import login, terminate_backend
from tests.orders.conftest import on_hand
from tests.orders.test_orders_api import ADDRESS, frontend

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def written(shop) -> tuple:
    """Everything an order placement writes."""
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        OutboxEvent.objects.filter(aggregate_type="order").count(),
        PointsEntry.objects.count(),
        points_books(shop.member),
        on_hand(shop.tee, shop.warehouse),
        on_hand(shop.tee, shop.store_a),
    )


def test_an_online_order_whose_connection_drops_is_a_503_and_writes_nothing(shop, kill_connection_in):
    member_services.points_earn(member=shop.member, points=100, reference="GIFT")
    web = frontend(shop.web, shop.member)
    body = {"lines": [{"sku": "TEE-M", "quantity": 2}], "fulfilment": "ship", "shipping_address": ADDRESS, "points": 30}
    before = written(shop)
    killed = kill_connection_in(stock, "reservation_create_in_transaction")

    response = web.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")

    assert killed  # the hook ran: the order, its lines and the points were written when the backend died
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "code": "database_unavailable",
        "message": "The database is unavailable for a moment; nothing was saved. Try again shortly.",
        "details": {},
    }
    assert written(shop) == before  # nothing of the transaction
    assert connection.connection.get_backend_pid() != killed[0]
    # the client retries with the same key: placed once, on a new connection
    again = web.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert again.status_code == 201, again.json()
    order = Order.objects.get()
    assert (order.number, order.points_redeemed, order.total) == (again.json()["number"], 30, 970)
    assert points_books(shop.member) == 70
    assert on_hand(shop.tee, shop.warehouse) == (50, 2)


def test_a_pos_sale_whose_connection_drops_is_a_503_page_and_sells_nothing(shop, client, clerk_a, kill_connection_in):
    till = pos_services.register_create(actor=None, store=shop.store_a, code="POS1", name="櫃台 1")
    login(client, clerk_a)
    client.post(f"/pos/r/{till.pk}/shift/open/", {"opening_cash": "0"})
    client.post(f"/pos/r/{till.pk}/scan/", {"code": "TEE-M"}, HTTP_HX_REQUEST="true")
    sale_id = client.session[f"pos_cart:{till.pk}"]["sale_id"]
    before = written(shop), ShiftEntry.objects.count()
    killed = kill_connection_in(stock, "reservation_create_in_transaction")

    response = client.post(f"/pos/r/{till.pk}/pay/", {"sale_id": sale_id, "cash": "1000"})

    assert killed
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith("text/html")
    assert "The database is unavailable for a moment; nothing was saved." in response.content.decode()
    assert (written(shop), ShiftEntry.objects.count()) == before
    # the clerk presses Pay again: the same sale goes through once
    again = client.post(f"/pos/r/{till.pk}/pay/", {"sale_id": sale_id, "cash": "1000"})
    assert again.status_code == 302
    assert Order.objects.get().status == "completed"
    assert on_hand(shop.tee, shop.store_a) == (4, 0)


@pytest.fixture
def persistent_connection(require_postgres):
    """This thread's connection kept between requests as in production (``CONN_MAX_AGE`` 60, which the
    test settings turn off), with Django's request-start check (the test client leaves it out)."""
    saved = connection.settings_dict["CONN_MAX_AGE"], connection.settings_dict["CONN_HEALTH_CHECKS"]

    def at_request_start(**kwargs):
        close_old_connections()

    request_started.connect(at_request_start, dispatch_uid="faults-persistent-connection")
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = 60

    def with_health_checks(on: bool):
        connection.close()
        connection.settings_dict["CONN_HEALTH_CHECKS"] = on

    yield with_health_checks
    request_started.disconnect(dispatch_uid="faults-persistent-connection")
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"], connection.settings_dict["CONN_HEALTH_CHECKS"] = saved


@pytest.mark.parametrize(("health_checks", "status"), [(True, 200), (False, 503)])
def test_a_connection_dropped_between_requests(shop, persistent_connection, health_checks, status):
    """With ``CONN_HEALTH_CHECKS`` (as settings have it) the next request finds the reused connection
    dead, connects again and works; without, it would fail, and fails as a clean 503."""
    persistent_connection(health_checks)
    web = frontend(shop.web)
    assert web.get("/api/v1/orders/").status_code == 200
    pid = connection.connection.get_backend_pid()
    assert web.get("/api/v1/orders/").status_code == 200
    assert connection.connection.get_backend_pid() == pid  # kept between requests

    terminate_backend(pid)  # while idle: a PostgreSQL restart between two requests
    response = web.get("/api/v1/orders/")

    assert response.status_code == status
    if status == 503:
        assert response.json()["code"] == "database_unavailable"
    after = web.get("/api/v1/orders/")  # the request after that works either way
    assert after.status_code == 200
    assert connection.connection.get_backend_pid() != pid


def test_only_a_lost_connection_is_a_503():
    from django.db import InterfaceError, OperationalError, ProgrammingError

    from omo.core.db_unavailable import connection_lost

    class PgError(Exception):
        __module__ = "psycopg2.errors"

        def __init__(self, pgcode):
            self.pgcode = pgcode

    def wrapped(pgcode):
        exc = OperationalError("x")
        exc.__cause__ = PgError(pgcode)
        return exc

    assert connection_lost(InterfaceError("connection already closed"))
    assert connection_lost(wrapped("57P01"))  # terminated by pg_terminate_backend / shutdown
    assert connection_lost(wrapped("08006"))  # connection failure
    assert connection_lost(wrapped(None))  # "server closed the connection unexpectedly"
    assert not connection_lost(wrapped("57014"))  # a statement timeout
    assert not connection_lost(wrapped("55P03"))  # a lock timeout
    assert not connection_lost(wrapped("40P01"))  # a deadlock: the 409 retry
    assert not connection_lost(OperationalError("database is locked"))  # SQLite
    assert not connection_lost(ProgrammingError("x"))
