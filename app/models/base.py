"""Declarative base with a constraint naming convention (stable names for Alembic)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import ForeignKey, MetaData, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from app.kit.ids import uuid7
from app.kit.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantScoped:
    """A row owned by one workspace. ``workspace_id`` leads the primary key and every index.

    Sessions filter these models to their workspace automatically (app.kit.db); Postgres
    row-level security (policy ``tenant_isolation``) enforces the same wall in the database.
    """

    @declared_attr
    def workspace_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)

    @declared_attr
    def id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, primary_key=True, default=uuid7)


class Timestamps:
    @declared_attr
    def created_at(cls) -> Mapped[datetime]:
        return mapped_column(UtcDateTime, default=utcnow)

    @declared_attr
    def updated_at(cls) -> Mapped[datetime]:
        return mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
