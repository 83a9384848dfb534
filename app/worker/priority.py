"""CPU priority of the worker's pool processes."""

from __future__ import annotations

import os


def yield_cpu(niceness: int) -> None:
    """Raise this process's niceness to ``niceness`` (never lower it: a worker started under
    ``nice`` by its supervisor keeps that). The scheduler then serves processes of normal
    priority first when the cores are busy, and gives this one all it wants when they are not."""
    if niceness > os.getpriority(os.PRIO_PROCESS, 0):
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
