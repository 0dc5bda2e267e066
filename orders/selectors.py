"""One order model for every channel: pricing, checkout, fulfilment and returns."""
