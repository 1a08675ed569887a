"""A batch's observations added to a histogram a bucket at a time expose what one at a time does."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.ops.metrics import LATENCY_BUCKETS, PipelineMetrics, observe_many
from streams.pipeline.outputs import BatchResult

# every bound itself, values between and past the last finite bound
VALUES = st.lists(st.one_of(st.sampled_from(LATENCY_BUCKETS), st.floats(0, 100, allow_nan=False)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(VALUES, VALUES)
def test_observing_many_exposes_what_observing_each_does(first: list[float], second: list[float]) -> None:
    one, many = CollectorRegistry(), CollectorRegistry()
    each = Histogram("lat", "latency", ["clock"], buckets=LATENCY_BUCKETS, registry=one).labels("a")
    bulk = Histogram("lat", "latency", ["clock"], buckets=LATENCY_BUCKETS, registry=many).labels("a")
    for batch in (first, second):
        for v in batch:
            each.observe(v)
        observe_many(bulk, np.array(batch, np.float64))
    # the sums may differ in their last digits (added in another order): compared as numbers
    lines = [line.split() for line in generate_latest(one).decode().splitlines() if not line.startswith("#")]
    bulk_lines = [line.split() for line in generate_latest(many).decode().splitlines() if not line.startswith("#")]
    assert [name for name, _ in lines] == [name for name, _ in bulk_lines]
    for (name, value), (_, bulk_value) in zip(lines, bulk_lines, strict=True):
        assert np.isclose(float(value), float(bulk_value), rtol=1e-9, atol=1e-9), name


def test_both_latency_clocks_are_exposed_before_the_first_alert() -> None:
    """A series that first appears with an alert would have that alert's increase missed by rate()."""
    registry = CollectorRegistry()
    PipelineMetrics(registry).observe_batch(BatchResult(reads=5), 0.1, 1_000)
    text = generate_latest(registry).decode()
    for clock in ("read_time", "broker_append"):
        assert f'platewatch_read_to_alert_latency_seconds_count{{clock="{clock}"}} 0.0' in text
