from tests.orders.conftest import fake_gateway, shop  # noqa: F401  the orders tests' small shop
