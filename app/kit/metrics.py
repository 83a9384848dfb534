"""Prometheus metrics. With several API processes, ``PROMETHEUS_MULTIPROC_DIR`` makes every
process write its samples to a shared folder and ``/metrics`` aggregates them.

Counters live in the process that counts: HTTP in the API, dispatch and planner in the worker
(served on ``NUDGE_WORKER_METRICS_PORT``; the API's /metrics cannot see another container's
memory). Backlog gauges are read from Redis and Postgres at scrape time by the API, so they are
exact whatever the number of processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import Metric
from prometheus_client.registry import REGISTRY, Collector
from starlette.responses import Response

HTTP_REQUESTS = Counter("nudge_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "nudge_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

DELIVERIES = Counter(
    "nudge_deliveries_total", "Delivery outcomes written to the ledger", ["channel", "status"]
)
PROVIDER_ERRORS = Counter(
    "nudge_provider_errors_total",
    "Messages a provider refused (rejected), asked to retry (transient), or could not take (not_configured)",
    ["channel", "reason"],
)
PLANNER_TICK = Histogram(
    "nudge_planner_tick_seconds",
    "Duration of one planner tick",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

# Gauges read from the database or broker at scrape time (exact across processes), by name so
# that building the app again replaces them instead of reporting twice.
_scrape_collectors: dict[str, Callable[[], Iterable[Metric]]] = {}


class _ScrapeTime(Collector):
    def collect(self) -> Iterable[Metric]:
        for produce in _scrape_collectors.values():
            yield from produce()


def register_scrape_collector(name: str, produce: Callable[[], Iterable[Metric]]) -> None:
    _scrape_collectors[name] = produce


def process_registry() -> CollectorRegistry:
    """This process's counters, or every process's when they share ``PROMETHEUS_MULTIPROC_DIR``."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def render() -> Response:
    registry_with_scrape = CollectorRegistry()
    registry_with_scrape.register(_ScrapeTime())
    body = generate_latest(process_registry()) + generate_latest(registry_with_scrape)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
