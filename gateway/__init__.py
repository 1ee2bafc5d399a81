"""A payment-gateway simulator shaped like a real PG API, with failure injection and its own ledger."""
