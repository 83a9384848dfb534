"""Time-ordered UUIDv7 identifiers, made in the application so bulk writes know ids up front."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """RFC 9562 UUIDv7: 48-bit Unix milliseconds, then 74 random bits (index-friendly order)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b (62 bits)
    return uuid.UUID(int=value)


def uuid7_floor(instant_ms: int) -> uuid.UUID:
    """The smallest UUIDv7 of a millisecond: ``id < uuid7_floor(t)`` means "made before t"."""
    return uuid.UUID(int=((instant_ms & 0xFFFF_FFFF_FFFF) << 80) | (0x7 << 76) | (0b10 << 62))
