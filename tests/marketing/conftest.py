from tests.orders.conftest import fake_gateway, shop  # noqa: F401 (fixtures)
