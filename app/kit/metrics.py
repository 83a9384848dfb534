"""Prometheus metrics. With several API processes, ``PROMETHEUS_MULTIPROC_DIR`` makes every
process write its samples to a shared folder and ``/metrics`` aggregates them."""

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

# Gauges read from the database or broker at scrape time (exact across processes).
_scrape_collectors: list[Callable[[], Iterable[Metric]]] = []


class _ScrapeTime(Collector):
    def collect(self) -> Iterable[Metric]:
        for produce in _scrape_collectors:
            yield from produce()


def register_scrape_collector(produce: Callable[[], Iterable[Metric]]) -> None:
    _scrape_collectors.append(produce)


def render() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    registry_with_scrape = CollectorRegistry()
    registry_with_scrape.register(_ScrapeTime())
    body = generate_latest(registry) + generate_latest(registry_with_scrape)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
