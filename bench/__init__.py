"""Benchmarks, run as `.venv/bin/python -m bench.NAME`; each prints ratios against a same-run baseline."""
