"""Platewatch benchmarks: micro benchmarks of the core and load runs on the real broker."""
