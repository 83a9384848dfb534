"""Zone names offered by the pickers; the server still validates whatever comes back."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones


@lru_cache(maxsize=1)
def zone_choices() -> list[str]:
    names = (z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return ["UTC", *sorted(names)]
