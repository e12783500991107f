"""Cell text for the console: short, fixed-width friendly numbers, ages and sparklines.

Kept apart from the widgets so the same words and units appear in every view and the
formatting can be tested without a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from lvstop.report import human

SPARKS = "▁▂▃▄▅▆▇█"
_BYTE_UNITS = ("B", "K", "M", "G", "T")


def count(n: float | None) -> str:
    """Connection counts and packet rates: ipvsadm's K/M/G scaling; '-' when unknown."""
    if n is None:
        return "-"
    return human(n, exact=False) if n >= 100000 else str(round(n))


def rate(n: float | None) -> str:
    """A per-second rate: decimals below 10 so a quiet service is not shown as 0."""
    if n is None:
        return "-"
    if 0 < n < 1:
        return f"{n:.2f}"
    if 1 <= n < 10 and not float(n).is_integer():
        return f"{n:.1f}"
    return count(n)


def nbytes(n: float | None) -> str:
    """Bytes (per second) by 1024, like top: 812, 63K, 1.2M."""
    if n is None:
        return "-"
    value = float(n)
    for unit in _BYTE_UNITS:
        if abs(value) < 1024 or unit == _BYTE_UNITS[-1]:
            if unit == "B":
                return str(round(value))
            return f"{value:.1f}{unit}" if abs(value) < 10 else f"{round(value)}{unit}"
        value /= 1024
    return str(n)  # pragma: no cover - the loop always returns


def duration(seconds: float | None) -> str:
    """A compact age or ETA: 0.4s, 12s, 3m05s, 2h07m, 3d04h."""
    if seconds is None:
        return "-"
    s = max(0.0, seconds)
    if s < 10:
        return f"{s:.1f}s"
    whole = int(s)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def clock_time(wall: float) -> str:
    """HH:MM:SS in UTC: the events timeline and transitions (servers keep UTC)."""
    return time.strftime("%H:%M:%S", time.gmtime(wall))


def sparkline(values: Sequence[float], width: int) -> str:
    """The last `width` values as block characters scaled to their own maximum."""
    tail = list(values)[-width:]
    if not tail:
        return ""
    top = max(tail)
    if top <= 0:
        return SPARKS[0] * len(tail)
    last = len(SPARKS) - 1
    # v <= top, so v / top * last <= last. A list, not a generator: one per visible
    # row per second.
    return "".join([SPARKS[round(v / top * last)] if v > 0 else " " for v in tail])


def percent(part: float, whole: float) -> str:
    if whole <= 0:
        return "-"
    return f"{100 * part / whole:.0f}%"
