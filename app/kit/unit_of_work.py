"""One transaction per request, committed by the infrastructure, never by services.

``UnitOfWorkMiddleware`` gives each request a lazily opened session. When the response
starts it commits (2xx/3xx) or rolls back (4xx/5xx, exceptions) *before* any byte reaches the
client, so a 2xx always means the data is stored. An idempotency claim is completed inside
the same transaction, and jobs are handed to the broker only after the commit. Hot routes
settle earlier, where their work ran (``read_and_settle`` on the event loop's thread,
``respond_and_settle`` in a worker thread), with the same rules; the middleware then has
nothing left to settle.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.db import Database
from app.kit.jobs import Job, JobSink

UOW_KEY = "unit_of_work"
T = TypeVar("T")


@dataclass
class IdempotencyClaim:
    workspace_id: uuid.UUID
    claim_id: uuid.UUID
    complete: Callable[[Session, int, bytes], None]
    release: Callable[[], None]


@dataclass
class UnitOfWork:
    database: Database
    turns: anyio.Semaphore | None = None
    _session: Session | None = None
    _has_turn: bool = False
    jobs: list[Job] = field(default_factory=list)
    idempotency: IdempotencyClaim | None = None
    settled: bool = False

    async def reserve(self) -> None:
        """Wait for this request's turn at the connection pool (once per request)."""
        if self.turns is not None and not self._has_turn:
            await self.turns.acquire()
            self._has_turn = True

    def end_turn(self) -> None:
        """Give the turn back after ``finish``; on the event loop's thread."""
        if self.turns is not None and self._has_turn:
            self._has_turn = False
            self.turns.release()

    @property
    def session(self) -> Session:
        if self.settled:
            raise RuntimeError("the request's transaction is already settled")
        if self._session is None:
            self._session = self.database.session()
            # Lets domain code that holds only the session queue after-commit jobs.
            self._session.info[UOW_KEY] = self
        return self._session

    def enqueue(self, name: str, **kwargs: Any) -> None:
        self.jobs.append(Job(name, kwargs))

    @property
    def needs_thread(self) -> bool:
        """Whether ``finish`` talks to the database: not once settled, nor when no statement ran
        (a request that never opened a transaction has nothing to commit, nor a claim to
        complete)."""
        if self.settled:
            return False
        return self.idempotency is not None or (self._session is not None and self._session.in_transaction())

    async def read_and_settle(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` on the session and settle the transaction, on the event loop's thread:
        committed when ``work`` returns, rolled back when it raises. The response is built after
        the commit, so the one-transaction guarantee holds. Not with an idempotency claim, whose
        completion needs the answer (``respond_and_settle``).

        For hot reads only (a statement or two on indexes): the loop waits for them. In a worker
        thread such a read cost more in the hop than in itself: the loop and the thread took
        turns at one interpreter lock around each wait for the database. At 500 ``/v1/content``
        requests a second that was a fifth of the API's CPU; without it the p99 went from 8.5
        to 5 ms. The loop never waits on another request for a connection: a request holds a
        turn first (``reserve``), and the pool holds two connections per turn."""
        if self.idempotency is not None:
            raise RuntimeError("an idempotent request settles with its answer")
        await self.reserve()
        try:
            return self._run_and_settle(work, lambda _result: (True, 0, b""))
        finally:
            self.end_turn()

    async def respond_and_settle(self, work: Callable[[Session], Response]) -> Response:
        """Run ``work``, which returns the whole answer, and settle in the same worker thread:
        committed (with the idempotency claim completed by that very answer) when its status
        is below 400, rolled back otherwise or when ``work`` raises. One thread hop for a write
        instead of one for the route and one for the commit."""
        await self.reserve()
        try:
            return await anyio.to_thread.run_sync(
                self._run_and_settle,
                work,
                lambda response: (response.status_code < 400, response.status_code, bytes(response.body)),
            )
        finally:
            self.end_turn()

    def _run_and_settle(
        self, work: Callable[[Session], T], outcome: Callable[[T], tuple[bool, int, bytes]]
    ) -> T:
        try:
            result = work(self.session)
        except BaseException:
            self.finish(success=False)
            raise
        success, status, body = outcome(result)
        self.finish(success=success, status=status, body=body)
        return result

    def finish(self, *, success: bool, status: int = 0, body: bytes = b"") -> None:
        """Commit or roll back; blocking when ``needs_thread``, so callers then run it in a
        worker thread."""
        if self.settled:
            return
        self.settled = True
        session = self._session
        committed = False
        try:
            if session is not None and success:
                if self.idempotency is not None:
                    self.idempotency.complete(session, status, body)
                session.commit()
                committed = True
            elif session is not None:
                _roll_back(session)
        finally:
            if session is not None:
                session.close()
                # The session and this unit of work refer to each other: left so, each request
                # left a cycle only the garbage collector frees, and its collections of them
                # paused the API for 30-80 ms at a time.
                session.info.pop(UOW_KEY, None)
            # A commit that failed leaves nothing to replay: free the key for the retry.
            if not committed and self.idempotency is not None:
                self.idempotency.release()


def _roll_back(session: Session) -> None:
    try:
        session.rollback()
    except DBAPIError as error:
        # The connection died (its failure may be why the request failed) and took the
        # transaction with it: nothing to undo, and the pool replaces the connection.
        if not error.connection_invalidated:
            raise


def unit_of_work(request: Request) -> UnitOfWork:
    return request.scope["state"]["uow"]


class UnitOfWorkMiddleware:
    def __init__(self, app: ASGIApp, *, database: Database, sink: JobSink) -> None:
        self.app = app
        self.database = database
        self.sink = sink
        self.turns: anyio.Semaphore | None = None  # made on the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.turns is None:
            self.turns = anyio.Semaphore(self.database.request_turns)
        uow = UnitOfWork(self.database, self.turns)
        scope.setdefault("state", {})["uow"] = uow
        held: list[Message] = []
        finished = False

        async def settle(success: bool, status: int = 0, body: bytes = b"") -> None:
            try:
                if uow.needs_thread:
                    await anyio.to_thread.run_sync(
                        lambda: uow.finish(success=success, status=status, body=body)
                    )
                else:
                    uow.finish(success=success, status=status, body=body)
            finally:
                uow.end_turn()

        async def finish(status: int, body: bytes) -> None:
            nonlocal finished
            finished = True
            success = status < 400
            await settle(success, status, body)
            if success:
                for job in uow.jobs:
                    self.sink.send(job)

        async def send_after_commit(message: Message) -> None:
            if finished:
                await send(message)
                return
            if uow.idempotency is None:
                # No response to record: settle the transaction as soon as the status is known.
                if message["type"] == "http.response.start":
                    await finish(message["status"], b"")
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                start = held[0]
                body = b"".join(m.get("body", b"") for m in held[1:])
                await finish(start["status"], body)
                for m in held:
                    await send(m)

        try:
            await self.app(scope, receive, send_after_commit)
        except BaseException:
            if not finished:
                finished = True
                await settle(False)
            raise
        if not finished:
            await settle(False)
