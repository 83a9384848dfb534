from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.delivery import channels
from app.kit.db import Database
from tests.campaigns.processes import RedisServer, free_port


class RecordingChannel:
    """A sink that keeps every message (and can be told to refuse or defer some)."""

    name = "recording"

    def __init__(self) -> None:
        self.messages: list[OutboundMessage] = []
        self.outcome_for: dict[str, Outcome] = {}

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        self.messages.extend(messages)
        return [
            SendResult(m.delivery_id, self.outcome_for.get(str(m.user_id), Outcome.sent), provider_id="p-1")
            for m in messages
        ]

    async def aclose(self) -> None:
        return None


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingChannel]:
    channel = RecordingChannel()
    monkeypatch.setattr(channels, "channel_for", lambda *_: channel)
    yield channel


@pytest.fixture
def tuned(database: Database) -> Iterator[Callable[..., Database]]:
    """A Database like the test one with some settings changed (chunk size, lease...)."""
    made: list[Database] = []

    def make(**changes: object) -> Database:
        made.append(Database(database.settings.model_copy(update=changes)))
        return made[-1]

    yield make
    for db in made:
        db.dispose()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the module's own (tests that restart it define their own per test)."""
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
