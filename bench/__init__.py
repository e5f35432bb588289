"""Benchmarks: plain scripts that measure and print; results are recorded in bench/RESULTS.md."""
