"""One stock pool: stock levels per SKU and location, the append-only movement ledger, reservations and transfers."""
