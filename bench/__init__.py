"""Benchmarks: scripts run by hand against a large PostgreSQL database, not part of the test suite."""
