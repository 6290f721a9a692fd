"""Benchmarks (not tests): `make bench` runs them and writes docs/performance.md."""
