"""Great-circle distance (haversine), written once so SQL and Python agree to the last bit."""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
RADIANS_PER_DEGREE = math.pi / 180


def haversine_a(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The haversine term ``a`` of two points in degrees; distance = 2R·asin(√a).

    SQL builds the same expression in the same order (app/segments/scalars.py), so both sides
    round identically.
    """
    s1 = math.sin((lat2 * RADIANS_PER_DEGREE - lat1 * RADIANS_PER_DEGREE) / 2)
    s2 = math.sin((lon2 * RADIANS_PER_DEGREE - lon1 * RADIANS_PER_DEGREE) / 2)
    return s1 * s1 + math.cos(lat1 * RADIANS_PER_DEGREE) * math.cos(lat2 * RADIANS_PER_DEGREE) * s2 * s2


def radius_threshold(radius_km: float) -> float:
    """The largest ``a`` within ``radius_km``: comparing ``a`` avoids asin and sqrt per row."""
    half = math.sin(min(radius_km / (2 * EARTH_RADIUS_KM), math.pi / 2))
    return half * half
