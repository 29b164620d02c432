"""Benchmarks of the BFF (`make bench`); see docs/benchmarks.md."""
