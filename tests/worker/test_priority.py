"""Pool processes lower their CPU priority; checked in a child process (niceness is one-way)."""

from __future__ import annotations

import os
import subprocess
import sys

_PROBE = """
import os
from app.worker.priority import yield_cpu
yield_cpu({first})
after_first = os.getpriority(os.PRIO_PROCESS, 0)
yield_cpu({second})
print(after_first, os.getpriority(os.PRIO_PROCESS, 0))
"""
START = os.getpriority(os.PRIO_PROCESS, 0)  # the child starts at the test run's niceness


def _niceness_after(first: int, second: int) -> list[int]:
    probe = _PROBE.format(first=first, second=second)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [int(value) for value in out.stdout.split()]


def test_the_niceness_is_raised_and_never_lowered_again():
    raised = min(19, START + 3)
    assert _niceness_after(raised, START) == [raised, raised]


def test_zero_keeps_the_priority_it_was_started_with():
    assert _niceness_after(0, 0) == [START, START]
