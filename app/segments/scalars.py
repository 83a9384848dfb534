"""Conditions answered from the user's own row: attributes, reserved fields, subscriptions,
distance, and random buckets."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import BigInteger, Text, and_, cast, func, literal
from sqlalchemy.dialects.postgresql import BIT

from app.kit.geo import RADIANS_PER_DEGREE, radius_threshold
from app.models import User
from app.segments.context import Context
from app.segments.definition import (
    AttributeCondition,
    FieldCondition,
    NearCondition,
    RandomBucket,
    SubscriptionCondition,
)
from app.segments.operands import Predicate, column_test, json_test

users = User.__table__
ScalarCondition = AttributeCondition | FieldCondition | SubscriptionCondition | NearCondition | RandomBucket

_FIELD_COLUMNS = {"first_seen": "first_seen_at", "last_seen": "last_seen_at"}
_STATUS_COLUMNS = {"email": "email_status", "push": "push_status", "in_app": "in_app_status"}
# Random buckets: a universal hash h(x) = (a·x + b) mod p of 31 random bits of the user id.
BUCKET_PRIME = 2_147_483_647
BUCKETS = 10_000


def scalar_predicate(node: ScalarCondition, ctx: Context) -> Predicate:
    if isinstance(node, AttributeCondition):
        return json_test(users.c.attributes, node.attribute, node, ctx)
    if isinstance(node, FieldCondition):
        column = users.c[_FIELD_COLUMNS.get(node.field, node.field)]
        return column_test(column, node.kind, node, ctx)
    if isinstance(node, SubscriptionCondition):
        return users.c[_STATUS_COLUMNS[node.channel]] == node.state
    if isinstance(node, NearCondition):
        return _near(node)
    return _bucket(node, ctx)


def _near(node: NearCondition) -> Predicate:
    """Haversine term of app.kit.geo.haversine_a, built in the same order so SQL rounds alike."""
    radians, half = literal(RADIANS_PER_DEGREE), literal(0.5)  # x * 0.5 == x / 2 exactly
    lat, lon = users.c.latitude, users.c.longitude
    s1 = func.sin((literal(node.latitude * RADIANS_PER_DEGREE) - lat * radians) * half)
    s2 = func.sin((literal(node.longitude * RADIANS_PER_DEGREE) - lon * radians) * half)
    a = s1 * s1 + func.cos(lat * radians) * func.cos(literal(node.latitude * RADIANS_PER_DEGREE)) * s2 * s2
    return a <= radius_threshold(node.radius_km)


def bucket_coefficients(seed: str) -> tuple[int, int]:
    digest = hashlib.sha256(seed.encode()).digest()
    a = 1 + int.from_bytes(digest[:8], "big") % (BUCKET_PRIME - 1)
    b = int.from_bytes(digest[8:16], "big") % BUCKET_PRIME
    return a, b


def bucket_range(node: RandomBucket) -> tuple[int, int]:
    """[low, high) in hundredths of a percent."""
    return round(node.offset * 100), round((node.offset + node.percent) * 100)


def _bucket(node: RandomBucket, ctx: Context) -> Predicate:
    a, b = bucket_coefficients(node.seed)
    low, high = bucket_range(node)
    bucket = ((literal(a, BigInteger) * _id_bits(ctx) + b) % BUCKET_PRIME) % BUCKETS
    return and_(bucket >= low, bucket < high)


def _id_bits(ctx: Context) -> Any:
    """The last 31 bits of the user id (random in UUIDv7 and v4) as an integer."""
    if ctx.postgres:
        tail = literal("x") + func.right(cast(users.c.id, Text), 8)
        return cast(cast(tail, BIT(32)), BigInteger) % 2_147_483_648
    # SQLite keeps UUIDs as 32 lowercase hex digits and has no hex parser: add the digits up.
    total: Any = literal(0, BigInteger)
    for position in range(25, 33):
        digit = func.instr("0123456789abcdef", func.substr(users.c.id, position, 1)) - 1
        total = total * 16 + digit
    return total % 2_147_483_648
