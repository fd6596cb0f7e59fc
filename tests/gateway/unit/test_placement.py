"""The gateway writes a transaction's records as record batches, one per output partition, so
it places each record itself: exactly where aiokafka's own (Java-compatible murmur2)
partitioner would, so a child's records stay on one partition of each topic."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.clients import keyed_partitioner


@settings(max_examples=500, deadline=None)
@given(key=st.binary(min_size=1, max_size=80), count=st.integers(min_value=1, max_value=32))
def test_a_keyed_record_goes_where_the_default_partitioner_puts_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert keyed_partitioner(key, partitions, partitions) == expected
    assert keyed_partitioner(key, partitions, partitions) == expected  # memoised alike
