"""Observability of the web app and the pipeline: metrics, health, correlated logs (docs/operations.md)."""
