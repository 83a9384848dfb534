"""Backlog gauges, read when /metrics is scraped: tasks waiting in each broker queue (Redis
list lengths) and how long the oldest due delivery has waited (Postgres). Read from the shared
stores, they are exact however many API and worker processes there are."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from app.kit.db import Database, scope_to_system
from app.kit.metrics import register_scrape_collector
from app.models import Delivery, DeliveryStatus
from app.models.base import utcnow
from app.worker.registry import load_all

log = logging.getLogger("nudge.metrics")


def delivery_lag(database: Database) -> Iterable[Metric]:
    now = utcnow()
    with database.transaction() as session:
        scope_to_system(session)
        due, oldest = session.execute(
            select(func.count(), func.min(Delivery.due_at)).where(
                Delivery.status == DeliveryStatus.queued, Delivery.due_at <= now
            )
        ).one()
    waiting = GaugeMetricFamily("nudge_deliveries_due", "Queued deliveries whose time has come")
    waiting.add_metric([], due)
    lag = GaugeMetricFamily(
        "nudge_delivery_lag_seconds", "How long the oldest due queued delivery has waited (0: none)"
    )
    lag.add_metric([], (now - oldest).total_seconds() if oldest is not None else 0.0)
    return [waiting, lag]


def queue_depth(client: redis.Redis, queues: list[str]) -> Iterable[Metric]:
    """Celery's Redis transport keeps each queue as a list named after it."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue)
    depth = GaugeMetricFamily("nudge_queue_depth", "Tasks waiting in the broker queue", labels=["queue"])
    for queue, length in zip(queues, pipe.execute(), strict=True):
        depth.add_metric([queue], length)
    return [depth]


def register(database: Database) -> None:
    """Expose the backlog gauges on this process's /metrics; a store that does not answer
    leaves its gauges out of that scrape (the scrape itself still succeeds)."""

    def lag() -> Iterable[Metric]:
        try:
            return delivery_lag(database)
        except Exception as exc:
            log.warning("delivery lag not measured: %s", exc)
            return []

    register_scrape_collector("delivery_lag", lag)
    broker = database.settings.broker_url
    if broker is None or not broker.startswith(("redis://", "rediss://")):
        return
    client = redis.Redis.from_url(broker, socket_timeout=2, socket_connect_timeout=2)
    queues = sorted({spec.queue for spec in load_all().values()})

    def depth() -> Iterable[Metric]:
        try:
            return queue_depth(client, queues)
        except redis.RedisError as exc:
            log.warning("queue depth not measured: %s", exc)
            return []

    register_scrape_collector("queue_depth", depth)
