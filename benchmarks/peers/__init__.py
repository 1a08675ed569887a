"""The peers of the throughput benchmark: the systems a user would pick instead of Platewatch.

Each is written as its own documentation recommends and runs in its own process on the same topic of
plate reads; `python -m benchmarks.peers.run` drives them (see run.py). Nothing here may import more
than the standard library: the Quix peer imports this package from its own virtualenv.
"""
