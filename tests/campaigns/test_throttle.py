"""Token buckets, in process and in Redis: ``ready_in`` reads, without taking, how long until
``take`` can grant a number of tokens."""

from __future__ import annotations

import uuid

import pytest

from app.delivery.throttle import Bucket, Buckets, MemoryBuckets, RedisBuckets
from tests.campaigns.processes import free_port

T = 1_000_000.0  # seconds, an arbitrary clock


@pytest.fixture(params=["memory", "redis"])
def buckets(request) -> Buckets:
    if request.param == "memory":
        return MemoryBuckets()
    return RedisBuckets(request.getfixturevalue("redis_server").url)


def test_ready_in_reads_without_taking(buckets):
    rate = [Bucket.per_second(f"campaign:{uuid.uuid4()}", 10)]
    assert buckets.ready_in(rate, 10, T) == 0.0  # a new bucket is full
    assert buckets.ready_in(rate, 10, T) == 0.0  # reading took nothing
    assert buckets.take(rate, 7, T) == (7, 0.0)
    assert buckets.ready_in(rate, 3, T) == 0.0
    assert buckets.ready_in(rate, 10, T) == pytest.approx(0.7)  # 7 more at 10/s


def test_an_empty_bucket_says_when_it_holds_what_is_wanted(buckets):
    rate = [Bucket.per_second(f"campaign:{uuid.uuid4()}", 4)]
    assert buckets.take(rate, 4, T) == (4, 0.0)
    assert buckets.ready_in(rate, 1, T) == pytest.approx(0.25)
    assert buckets.ready_in(rate, 4, T) == pytest.approx(1.0)
    assert buckets.ready_in(rate, 4, T + 0.5) == pytest.approx(0.5)
    assert buckets.ready_in(rate, 4, T + 1.0) == 0.0
    assert buckets.ready_in(rate, 100, T + 10) == 0.0  # a full bucket: never more than its burst
    assert buckets.take(rate, 100, T + 10)[0] == 4


def test_the_tightest_bucket_decides(buckets):
    key = uuid.uuid4()
    rates = [Bucket.per_second(f"workspace:{key}", 50), Bucket.per_second(f"channel:{key}", 5)]
    assert buckets.take(rates, 5, T) == (5, 0.0)
    assert buckets.ready_in(rates, 5, T) == pytest.approx(1.0)  # the channel's 5/s refills it


def test_redis_away_holds_the_claim_back():
    away = RedisBuckets(f"redis://127.0.0.1:{free_port()}/0")
    assert away.ready_in([Bucket.per_second("campaign:x", 10)], 10, T) == 1.0
