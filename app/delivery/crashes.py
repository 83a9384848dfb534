"""Postgres: a bound for a delivery whose send kills its worker every time.

A chunk claims, sends and writes its rows in one transaction, so a worker that dies mid-chunk
leaves nothing written and counts no attempt: the rows are ``queued`` again at once. A row
whose send kills the process every time (a segfault or an out-of-memory in a channel or a
template) would then be claimed for ever, holding its lane and its chunk-mates there.

So a chunk marks itself in Redis, outside its transaction, before it sends: one hash per send
and chunk's first row, whose ``tries`` it increments; it deletes the mark once its transaction
committed (and takes its try back if it raised: the process survived). A mark that a later
claim of the same first row finds counts the deaths before it.

A chunk that died ``max_crashes`` times is bisected: its rows become the suspects, tried half
at a time from the first; a half that dies becomes the suspect range, a half that commits
passes what is left of the range to the row after it. A single suspect row that died
``max_crashes`` times on its own is failed. A worker killed once (a deploy, a lost machine)
changes nothing; a poison row costs about ``2 * max_crashes + log2(chunk)`` deaths. Redis only
narrows a claim or names a row that died alone that often: flushed or away, the count starts
over, and no row is skipped or sent twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from types import TracebackType

import redis

from app.delivery.ledger import Outcome
from app.kit.redis_client import redis_client
from app.models import DeliveryStatus

log = logging.getLogger(__name__)
TTL_S = 86_400  # a mark outlives any redelivery or lane restart; a stale one then goes away


@dataclass(frozen=True, slots=True)
class Verdict:
    keep: int  # rows of the claim, from its front, this chunk dispatches
    suspect: int | None  # rows from the chunk's first one suspected of killing the worker
    deaths: int  # deaths counted against those suspects (the row's own, when it is one)
    fail: bool = False  # the one row kept has killed the worker max_crashes times alone


def _half(rows: int) -> int:
    return (rows + 1) // 2


def judge(claimed: int, suspect: int | None, deaths: int, max_crashes: int) -> Verdict:
    """What a chunk of ``claimed`` rows does, given the suspects and deaths its first row's mark
    holds (``suspect`` None: no bisection under way, just chunks that died whole)."""
    if suspect is None:
        if deaths < max_crashes:
            return Verdict(claimed, None, deaths)
        # Died whole that often: bisect its rows. A one-row chunk's deaths were its row's own.
        suspect, deaths = claimed, deaths if claimed == 1 else 0
    elif suspect > 1 and deaths:  # the half tried last died: it is the suspect range now
        suspect = _half(suspect)
        deaths = 1 if suspect == 1 else 0
    if suspect == 1:
        return Verdict(1, 1, deaths, fail=deaths >= max_crashes)
    return Verdict(min(claimed, _half(suspect)), suspect, deaths)


def failed(row_id: uuid.UUID, verdict: Verdict) -> Outcome:
    error = f"the worker died sending this message {verdict.deaths} times"
    return Outcome(row_id, DeliveryStatus.failed, error=error)


class CrashMarks:
    def __init__(self, url: str, *, max_crashes: int, prefix: str = "nudge:crash:") -> None:
        self._client = redis_client(url)
        self.max_crashes = max_crashes
        self.prefix = prefix

    def _key(self, send_id: uuid.UUID, row_id: uuid.UUID) -> str:
        return f"{self.prefix}{send_id}:{row_id}"

    def enter(self, send_id: uuid.UUID, claimed: list[uuid.UUID]) -> Mark | None:
        """Count this try against the chunk's first row and judge the claim; None: Redis is
        away, and the chunk goes on unbounded (it is sent exactly as without a mark)."""
        key = self._key(send_id, claimed[0])
        try:
            pipe = self._client.pipeline()
            pipe.hincrby(key, "tries", 1).hget(key, "suspect").expire(key, TTL_S)
            tries, suspect, _ = pipe.execute()
            before = (int(suspect) if suspect is not None else None, int(tries) - 1)
            verdict = judge(len(claimed), *before, self.max_crashes)
            if (verdict.suspect, verdict.deaths) != before:
                self._client.hset(key, mapping={"suspect": verdict.suspect, "tries": verdict.deaths + 1})
                log.warning(
                    "worker deaths on the chunk at delivery %s: %s",
                    claimed[0],
                    "failing it" if verdict.fail else f"trying {verdict.keep} of {verdict.suspect} suspects",
                )
        except redis.RedisError:
            log.warning("crash marks unavailable: chunk of %d deliveries unbounded", len(claimed))
            return None
        after = claimed[verdict.keep] if verdict.keep < len(claimed) else None
        return Mark(self._client, key, verdict, None if after is None else self._key(send_id, after))


@dataclass(frozen=True, slots=True)
class Mark:
    client: redis.Redis
    key: str
    verdict: Verdict
    next_key: str | None  # the mark of the first claimed row this chunk leaves for the next

    def committed(self) -> None:
        """The chunk's rows are written: clear the mark and pass on what is left of the suspects."""
        rest = (self.verdict.suspect or 0) - self.verdict.keep
        try:
            pipe = self.client.pipeline()
            pipe.delete(self.key)
            if rest > 0 and self.next_key is not None:
                pipe.hset(self.next_key, mapping={"suspect": rest, "tries": 0}).expire(self.next_key, TTL_S)
            pipe.execute()
        except redis.RedisError:  # a try left behind counts one death too many, if ever claimed again
            log.warning("could not clear a crash mark", exc_info=True)

    def survived(self) -> None:
        """The chunk raised: its try was no death."""
        try:
            self.client.hincrby(self.key, "tries", -1)
        except redis.RedisError:
            log.warning("could not take back a crash mark's try", exc_info=True)


class Marked:
    """Around a chunk's transaction: clears the chunk's mark once that committed, takes its try
    back if it raised. A process that dies runs neither, and the mark counts the death."""

    mark: Mark | None = None

    def __enter__(self) -> Marked:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if self.mark is None:
            return
        if kind is None:
            self.mark.committed()
        elif issubclass(kind, Exception):
            self.mark.survived()
