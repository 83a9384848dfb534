"""One Redis client per URL and process, for the dispatch's rate buckets and crash marks: they
share its connection pool (and its time-outs) instead of each opening their own."""

from __future__ import annotations

from functools import cache

import redis

TIMEOUT_S = 5


@cache
def redis_client(url: str) -> redis.Redis:
    # redis-py's pool notices a fork and opens new connections in the child.
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
