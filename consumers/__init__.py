"""Kafka consumers: one module per service, one shared runtime (consumers/runtime.py)."""
