"""Process-wide tuning for a long-lived process (an API worker, a task worker)."""

from __future__ import annotations

import gc

# A batch request (or a dispatch chunk) makes thousands of short-lived containers; at the
# default threshold (700) the young generation is collected dozens of times per request, and
# every tenth of those collections cascades into older generations.
YOUNG_GENERATION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Freeze what start-up built (app, routes, models: alive for the process) so collections
    no longer walk it, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
