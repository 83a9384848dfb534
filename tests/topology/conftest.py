from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.topology.harness import Topology, running


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """api, worker and beat as real processes, shared by the tests of one module."""
    with running(Path(tmp_path_factory.mktemp("topology"))) as started:
        yield started


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that used the topology shows the tail of every process's log."""
    outcome = yield
    report = outcome.get_result()
    topology = getattr(item, "funcargs", {}).get("topology")
    if report.failed and isinstance(topology, Topology):
        report.sections.append(("topology logs", topology.logs()))
