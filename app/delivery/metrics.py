"""Dispatch counters: the outcomes the ledger recorded, and what providers refused."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from app.channels.base import Outcome, SendResult
from app.delivery import ledger
from app.kit.metrics import DELIVERIES, PROVIDER_ERRORS
from app.models import DeliveryStatus

_REASONS = {Outcome.failed: "rejected", Outcome.retry: "transient"}


def record_outcomes(channel: str, outcomes: Iterable[ledger.Outcome]) -> None:
    """Count final outcomes; a row put back to ``queued`` is counted when it ends."""
    tally = Counter(o.status for o in outcomes if o.status != DeliveryStatus.queued)
    for status, count in tally.items():
        DELIVERIES.labels(channel, str(status)).inc(count)


def record_provider_errors(channel: str, results: Iterable[SendResult]) -> None:
    tally = Counter(_REASONS[r.outcome] for r in results if r.outcome != Outcome.sent)
    for reason, count in tally.items():
        PROVIDER_ERRORS.labels(channel, reason).inc(count)


def record_not_configured(channel: str, count: int) -> None:
    PROVIDER_ERRORS.labels(channel, "not_configured").inc(count)
