"""Benchmarks: scripts that start a private embedded stack, measure, print, and write JSON results."""
