"""Time-ordered UUIDv7 identifiers, made in the application so bulk writes know ids up front."""

from __future__ import annotations

import os
import time
import uuid

_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)


def uuid7() -> uuid.UUID:
    """RFC 9562 UUIDv7: 48-bit Unix milliseconds, then 74 random bits (index-friendly order)."""
    return uuid7_many(1)[0]


def uuid7_many(count: int) -> list[uuid.UUID]:
    """``count`` UUIDv7s of this millisecond, with one call for all their random bits."""
    ms = time.time_ns() // 1_000_000
    prefix = ((ms & 0xFFFF_FFFF_FFFF) << 80) | _VERSION_AND_VARIANT
    random_bits = os.urandom(10 * count)
    ids = []
    for offset in range(0, 10 * count, 10):
        rand = int.from_bytes(random_bits[offset : offset + 10], "big")
        # rand_a (12 bits) above the variant, rand_b (62 bits) below it
        ids.append(uuid.UUID(int=prefix | (((rand >> 62) & 0xFFF) << 64) | (rand & 0x3FFF_FFFF_FFFF_FFFF)))
    return ids


def uuid7_floor(instant_ms: int) -> uuid.UUID:
    """The smallest UUIDv7 of a millisecond: ``id < uuid7_floor(t)`` means "made before t"."""
    return uuid.UUID(int=((instant_ms & 0xFFFF_FFFF_FFFF) << 80) | _VERSION_AND_VARIANT)
