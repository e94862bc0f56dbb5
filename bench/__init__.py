"""Load benchmark for the openclaw-trace daemon: ``python -m bench.run`` (see docs/benchmarks.md)."""
