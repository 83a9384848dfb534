"""One transaction per request: committed before a 2xx leaves, rolled back on any failure, and
jobs reach the broker only after the commit."""

from __future__ import annotations

import gc
import threading

import pytest
from fastapi import Request
from sqlalchemy.orm import Session

from app.auth.dependencies import AnyKey
from app.kit.errors import Invalid
from app.kit.session import DbSession
from app.kit.unit_of_work import UnitOfWork, unit_of_work
from app.users import service as users
from app.users.attributes import AttributeChanges
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows


@pytest.fixture
def work_route(api):
    """A route that writes a user, queues a job, then succeeds or fails as asked."""

    def work(request: Request, session: DbSession, _auth: AnyKey, outcome: str) -> dict[str, str]:
        users.upsert(session, "written", profile={}, changes=AttributeChanges())
        unit_of_work(request).enqueue("idempotency.purge_expired", workspace_id="w")
        if outcome == "refused":
            raise Invalid("refused on purpose", field="outcome")
        if outcome == "crashed":
            raise RuntimeError("a bug")
        return {"outcome": outcome}

    api.add_api_route("/test/work", work, methods=["POST"])


@pytest.mark.smoke
def test_a_success_commits_and_then_sends_the_jobs(client, tenant, sink, owner_engine, work_route):
    ok(client.post("/test/work", params={"outcome": "fine"}, headers=tenant.secret_headers))
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 1
    assert [(job.name, job.kwargs) for job in sink.jobs] == [
        ("idempotency.purge_expired", {"workspace_id": "w"})
    ]


@pytest.mark.smoke
@pytest.mark.parametrize(("outcome", "status"), [("refused", 422), ("crashed", 500)])
def test_a_failure_rolls_back_and_drops_the_jobs(
    client, tenant, sink, owner_engine, work_route, outcome, status
):
    response = client.post("/test/work", params={"outcome": outcome}, headers=tenant.secret_headers)
    assert response.status_code == status
    if status == 422:
        assert error_of(response, 422)["field"] == "outcome"
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 0
    assert sink.jobs == []


@pytest.fixture
def read_route(api):
    """A route whose work runs and settles on the event loop's thread (``read_and_settle``)."""

    async def read(request: Request, _auth: AnyKey, outcome: str) -> dict[str, str | bool]:
        uow = unit_of_work(request)
        loop_thread = threading.get_ident()
        worked_on: list[int] = []

        def work(session: Session) -> str:
            worked_on.append(threading.get_ident())
            users.upsert(session, "settled", profile={}, changes=AttributeChanges())
            if outcome == "refused":
                raise Invalid("refused on purpose", field="outcome")
            return outcome

        answer = await uow.read_and_settle(work)
        with pytest.raises(RuntimeError, match="settled"):
            uow.session  # the transaction is over: no second one in the same request
        return {"outcome": answer, "on_the_loop": worked_on == [loop_thread]}

    api.add_api_route("/test/read", read, methods=["POST"])


@pytest.mark.parametrize(("outcome", "status", "rows"), [("fine", 200, 1), ("refused", 422, 0)])
def test_a_read_settled_on_the_loop_commits_or_rolls_back(
    client, tenant, owner_engine, read_route, outcome, status, rows
):
    response = client.post("/test/read", params={"outcome": outcome}, headers=tenant.secret_headers)
    assert response.status_code == status
    assert count_rows(owner_engine, "users", tenant.workspace_id) == rows
    if status == 200:  # no thread hop: the work ran where the route awaits it
        assert response.json() == {"outcome": "fine", "on_the_loop": True}


def test_a_request_leaves_no_cycle_for_the_garbage_collector(client, tenant, work_route):
    """Every request's objects are freed by reference counting: cycles left per request are
    only freed by collections, which pause the whole process in proportion to them."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for outcome in ("fine", "refused"):
            client.post("/test/work", params={"outcome": outcome}, headers=tenant.secret_headers)
        gc.collect()
        left = [type(o) for o in gc.garbage if isinstance(o, UnitOfWork | Session)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []
