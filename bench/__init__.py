"""Benchmarks: scripts that print figures (`make bench`). No timing assertions live in tests."""
