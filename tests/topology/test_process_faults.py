"""Process faults on the production topology (api, worker and beat as separate processes):
kill -9 of each, Redis restarted empty, Postgres restarted, in the middle of ingest and
dispatch. Redis and Postgres are throwaway servers this module starts (never the shared ones).

What must hold whatever dies: an event acknowledged with a 2xx is stored, and a client that
retries until it gets one (same ``message_id``s) neither loses nor duplicates any; every user of
a campaign gets one ledger row that ends ``sent``; a message the provider sees twice (only a
batch in flight at the crash) carries the same idempotency id (``Message-ID``) both times.
"""

from __future__ import annotations

import email
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

import httpx
import pytest

from app.kit.db import Database
from app.kit.settings import Settings
from tests.campaigns.helpers import add_users
from tests.campaigns.processes import RedisServer
from tests.channels.email.smtp_server import Handler, start_server
from tests.fixtures.databases import PG_ADMIN_URL, TEST_SECRET
from tests.topology.harness import Topology, free_port, running, wait_until
from tests.topology.test_topology import _launch, _statuses
from tests.topology.throwaway import PostgresCluster, postgres_bin

pytestmark = pytest.mark.slow

CHUNK, CONCURRENCY = 100, 2
ENV = {
    "NUDGE_DISPATCH_LEASE_S": "3",  # rows an older release left in sending come back within seconds
    "NUDGE_DISPATCH_STALL_S": "2",
    "NUDGE_PLANNER_TICK_S": "1",
    "NUDGE_DISPATCH_CHUNK_SIZE": str(CHUNK),
    "NUDGE_DISPATCH_LANES": "2",
}
# At most the chunks in flight in the worker's pool can be sent again after one crash.
IN_FLIGHT = CHUNK * CONCURRENCY
USERS = 1500


@dataclass
class Servers:
    redis: RedisServer
    postgres: PostgresCluster | None


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    redis_server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    redis_server.start()
    bin_dir = postgres_bin()
    cluster = PostgresCluster(bin_dir) if bin_dir else None
    try:
        if cluster is not None:
            cluster.start()
        yield Servers(redis_server, cluster)
    finally:
        redis_server.stop()
        if cluster is not None:
            cluster.stop()
            cluster.remove()


@pytest.fixture(scope="module")
def topology(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with running(
        Path(tmp_path_factory.mktemp("topology")),
        env=ENV,
        redis_url=servers.redis.url,
        worker_concurrency=CONCURRENCY,
        postgres_admin_url=servers.postgres.admin_url if servers.postgres is not None else PG_ADMIN_URL,
    ) as started:
        yield started


@dataclass
class Rig:
    api: httpx.Client
    workspace_id: object
    smtp: Handler
    database: Database
    names: Iterator[int] = field(default_factory=itertools.count)


@pytest.fixture(scope="module")
def rig(topology: Topology) -> Iterator[Rig]:
    controller, smtp = start_server()
    workspace_id, secret = topology.create_workspace("Faults")
    api = topology.client(secret)
    smtp_settings = {
        "host": "127.0.0.1",
        "port": controller.port,
        "security": "none",
        "from_email": "news@acme.test",
    }
    assert api.put("/v1/providers/smtp", json=smtp_settings).status_code == 200
    database = Database(Settings(database_url=topology.database_url, secret_key=TEST_SECRET))
    # Recipients go straight into the table: the faults under test are dispatch's.
    add_users(
        database, workspace_id, [{"external_id": f"r{n}", "email": f"r{n}@example.com"} for n in range(USERS)]
    )
    yield Rig(api, workspace_id, smtp, database)
    api.close()
    database.dispose()
    controller.stop()


# --- ingest -----------------------------------------------------------------------------------


def _acknowledged(api: httpx.Client, body: dict, deadline_s: float = 45.0) -> dict:
    """POST the batch until it is answered with a 2xx, as an SDK retries (same message ids)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            response = api.post("/v1/events/batch", json=body)
            if response.status_code == 200:
                return response.json()
            assert response.status_code >= 500, response.text  # a 4xx is the client's fault
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the API did not come back"
        time.sleep(0.2)


class Ingest:
    """Client threads posting batches of events, each until acknowledged; records what was.
    The events are the recipients' own, so no user appears in a later campaign's audience."""

    def __init__(
        self, api: httpx.Client, prefix: str, batches: int, size: int = 50, threads: int = 4
    ) -> None:
        self.api = api
        bodies = [
            {
                "events": [
                    {"user_id": f"r{i % 40}", "name": "tap", "message_id": f"{prefix}-{b}-{i}"}
                    for i in range(size)
                ]
            }
            for b in range(batches)
        ]
        self.expected = {e["message_id"] for body in bodies for e in body["events"]}
        self.acknowledged: set[str] = set()
        self.duplicates = 0
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._post, args=(bodies[t::threads],)) for t in range(threads)
        ]
        self.errors: list[BaseException] = []

    def _post(self, bodies: list[dict]) -> None:
        try:
            for body in bodies:
                answer = _acknowledged(self.api, body)
                with self._lock:
                    self.acknowledged |= {e["message_id"] for e in body["events"]}
                    self.duplicates += answer["duplicates"]
        except BaseException as exc:  # reported by join()
            self.errors.append(exc)

    def start(self) -> Ingest:
        for thread in self._threads:
            thread.start()
        return self

    def snapshot(self) -> set[str]:
        with self._lock:
            return set(self.acknowledged)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(90)
        assert not self.errors, self.errors


def _stored(topology: Topology, prefix: str) -> Counter[str]:
    rows = topology.query(
        "SELECT message_id, count(*) FROM events WHERE message_id LIKE :p GROUP BY 1",
        p=f"{prefix}-%",
    )
    return Counter(dict(rows))


def _assert_every_event_once(topology: Topology, ingest: Ingest, prefix: str) -> None:
    ingest.join()
    stored = _stored(topology, prefix)
    assert set(stored) == ingest.expected and set(stored.values()) == {1}


def test_api_kill_9_during_batch_ingest(topology: Topology, rig: Rig) -> None:
    ingest = Ingest(rig.api, "kill-api", batches=160).start()
    wait_until("a quarter acknowledged", lambda: len(ingest.snapshot()) >= 2000, timeout=30)
    topology.kill("api")
    before_kill = ingest.snapshot()  # nothing more can be acknowledged now
    assert before_kill <= set(_stored(topology, "kill-api"))  # every 2xx was a commit
    topology.restart("api")
    _assert_every_event_once(topology, ingest, "kill-api")
    print(
        f"\napi kill -9: {len(before_kill)} events acknowledged before it; retried batches found "
        f"{ingest.duplicates} events already stored (committed, answer lost)"
    )


# --- dispatch ---------------------------------------------------------------------------------


def _message_ids(smtp: Handler) -> Counter[str]:
    return Counter(
        str(email.message_from_bytes(m.data, policy=policy.default)["Message-ID"])
        for m in list(smtp.messages)
    )


def _dispatch_through(
    topology: Topology,
    rig: Rig,
    faults: list[tuple[int, Callable[[], None]]],
    *,
    supervise: bool = False,
) -> tuple[str, int]:
    """Launch a campaign to every recipient and inject each fault once ``sent`` passes its
    threshold; returns the campaign id and how many messages the provider saw twice."""
    name = f"faults-{next(rig.names)}"
    seen_before = _message_ids(rig.smtp)
    campaign_id = _launch(rig.api, name)
    pending = sorted(faults, key=lambda f: f[0])

    def step() -> bool:
        counts = _statuses(topology, campaign_id)
        while pending and counts.get("sent", 0) >= pending[0][0]:
            pending.pop(0)[1]()
        if supervise:  # a supervisor restarts what exited (Celery may exit on a lost broker)
            for name_, process in topology.processes.items():
                if not process.alive:
                    topology.restart(name_)
        return not pending and counts == {"sent": USERS}

    try:
        wait_until("every delivery sent", step, timeout=60)
    except AssertionError:
        errors = topology.query(
            "SELECT status, error, count(*) FROM deliveries WHERE campaign_id = :c GROUP BY 1, 2",
            c=campaign_id,
        )
        raise AssertionError(f"not all sent: {errors}; faults left: {len(pending)}") from None
    ledger = topology.query("SELECT id, provider_id FROM deliveries WHERE campaign_id = :c", c=campaign_id)
    assert len(ledger) == USERS  # one row per recipient, none dropped or added
    ids = {f"<{delivery_id}@acme.test>" for delivery_id, _ in ledger}
    assert {provider_id for _, provider_id in ledger} == ids
    seen = _message_ids(rig.smtp) - seen_before
    assert set(seen) == ids  # everyone received it, carrying the delivery's own id
    # A crash rolls its chunk back (the rows keep attempts and ids), so the ledger does not
    # mark what repeated; the callers bound repeats by the batches in flight at their faults.
    return campaign_id, sum(seen.values()) - len(seen)


def test_worker_and_beat_kill_9_during_dispatch(topology: Topology, rig: Rig) -> None:
    def kill_both() -> None:
        topology.kill("worker")
        topology.kill("beat")
        time.sleep(1.0)
        topology.restart("beat")
        topology.restart("worker")

    def kill_worker() -> None:
        topology.kill("worker")
        topology.restart("worker")

    _, repeats = _dispatch_through(topology, rig, [(300, kill_both), (900, kill_worker)])
    assert repeats <= 2 * IN_FLIGHT
    print(f"\nworker+beat kill -9, then worker: {repeats} messages repeated (same Message-ID)")


def test_redis_restarted_empty_during_dispatch_and_ingest(
    topology: Topology, rig: Rig, servers: Servers
) -> None:
    ingest = Ingest(rig.api, "redis", batches=80, threads=2)

    def flush_redis() -> None:
        servers.redis.stop()
        ingest.start()
        time.sleep(1.5)
        servers.redis.start()  # no persistence: every queued task and lane is gone

    _, repeats = _dispatch_through(topology, rig, [(300, flush_redis)], supervise=True)
    _assert_every_event_once(topology, ingest, "redis")
    assert repeats <= IN_FLIGHT
    print(f"\nredis restarted empty: {repeats} messages repeated")


def test_postgres_restarted_during_dispatch_and_ingest(
    topology: Topology, rig: Rig, servers: Servers
) -> None:
    if servers.postgres is None:
        pytest.skip("no Postgres server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin")
    ingest = Ingest(rig.api, "pg", batches=120, threads=3)
    acknowledged_at_restart: list[set[str]] = []

    def restart_postgres() -> None:
        ingest.start()
        wait_until("ingest under way", lambda: len(ingest.snapshot()) >= 500, timeout=20)
        acknowledged_at_restart.append(ingest.snapshot())
        servers.postgres.restart()  # type: ignore[union-attr]

    _, repeats = _dispatch_through(topology, rig, [(300, restart_postgres)], supervise=True)
    assert acknowledged_at_restart[0] <= set(_stored(topology, "pg"))
    _assert_every_event_once(topology, ingest, "pg")
    assert repeats <= IN_FLIGHT
    print(f"\npostgres restarted: {repeats} messages repeated")
