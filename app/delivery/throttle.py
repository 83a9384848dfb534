"""Rate limits as token buckets: a campaign's N per minute, the workspace's and each provider's
messages per second. Shared by every worker through one atomic Redis script; in-process
buckets in embedded mode. Losing Redis state only refills the buckets (Redis is never the
store of record; the ledger is)."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis

from app.kit.redis_client import redis_client


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    rate: float  # tokens per second
    burst: float  # capacity

    @classmethod
    def per_second(cls, key: str, rate: float) -> Bucket:
        """A bucket holding one second's worth (at least one token): never more than
        ``rate * (t + 1 s)`` messages in any ``t`` seconds."""
        return cls(key, rate, max(1.0, rate))


class Buckets(Protocol):
    def take(self, buckets: Sequence[Bucket], wanted: int, now: float) -> tuple[int, float]:
        """Take up to ``wanted`` tokens from every bucket at once; returns (granted, seconds
        until the next token when fewer than wanted were granted)."""
        ...

    def ready_in(self, buckets: Sequence[Bucket], wanted: int, now: float) -> float:
        """Seconds until every bucket holds ``wanted`` tokens (or is full, if it holds fewer),
        taking none; 0 when they do."""
        ...


def _refill(tokens: float, last: float, bucket: Bucket, now: float) -> float:
    return min(bucket.burst, tokens + max(0.0, now - last) * bucket.rate)


def _wait_for(buckets: Sequence[Bucket], levels: Sequence[float], wanted: int) -> float:
    # A hair of tolerance: a level refilled to exactly ``wanted`` may read a rounding error short.
    waits = [
        max(0.0, min(wanted, b.burst) - level - 1e-9) / b.rate
        for b, level in zip(buckets, levels, strict=True)
    ]
    return max(waits, default=0.0)


class MemoryBuckets:
    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, buckets: Sequence[Bucket], wanted: int, now: float) -> tuple[int, float]:
        with self._lock:
            levels = [_refill(*self._state.get(b.key, (b.burst, now)), b, now) for b in buckets]
            granted = min([wanted, *(math.floor(level) for level in levels)])
            wait = 0.0
            for bucket, level in zip(buckets, levels, strict=True):
                left = level - granted
                self._state[bucket.key] = (left, now)
                if granted < wanted and left < 1:
                    wait = max(wait, (1 - left) / bucket.rate)
            return granted, wait

    def ready_in(self, buckets: Sequence[Bucket], wanted: int, now: float) -> float:
        with self._lock:
            levels = [_refill(*self._state.get(b.key, (b.burst, now)), b, now) for b in buckets]
        return _wait_for(buckets, levels, wanted)


# KEYS: bucket keys. ARGV: wanted, now, then rate and burst per key.
_TAKE = """
local wanted = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local levels = {}
local granted = wanted
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[1 + 2 * i])
  local burst = tonumber(ARGV[2 + 2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or now
  local level = math.min(burst, tokens + math.max(0, now - ts) * rate)
  levels[i] = level
  granted = math.min(granted, math.floor(level))
end
local wait = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[1 + 2 * i])
  local burst = tonumber(ARGV[2 + 2 * i])
  local left = levels[i] - granted
  redis.call('HSET', key, 'tokens', tostring(left), 'ts', tostring(now))
  redis.call('EXPIRE', key, math.ceil(burst / rate) + 60)
  if granted < wanted and left < 1 then
    wait = math.max(wait, (1 - left) / rate)
  end
end
return {granted, tostring(wait)}
"""


class RedisBuckets:
    def __init__(self, url: str, *, prefix: str = "nudge:rate:") -> None:
        self._client = redis_client(url)
        self._script = self._client.register_script(_TAKE)
        self.prefix = prefix

    def take(self, buckets: Sequence[Bucket], wanted: int, now: float) -> tuple[int, float]:
        keys = [self.prefix + b.key for b in buckets]
        args: list[float] = [wanted, now]
        for bucket in buckets:
            args += [bucket.rate, bucket.burst]
        try:
            granted, wait = self._script(keys=keys, args=args)
        except redis.RedisError:
            return 0, 1.0  # Redis away (restarting): hold the rows back briefly, never guess
        return int(granted), float(wait)

    def ready_in(self, buckets: Sequence[Bucket], wanted: int, now: float) -> float:
        try:
            pipe = self._client.pipeline(transaction=False)
            for bucket in buckets:
                pipe.hmget(self.prefix + bucket.key, "tokens", "ts")
            states = pipe.execute()
        except redis.RedisError:
            return 1.0  # as in take: wait for Redis rather than claim rows it may not grant
        levels = [
            _refill(b.burst if tokens is None else float(tokens), now if ts is None else float(ts), b, now)
            for b, (tokens, ts) in zip(buckets, states, strict=True)
        ]
        return _wait_for(buckets, levels, wanted)
