"""Short per-entry histories of a value, for sparklines.

The only mutable thing in the model: it accumulates across snapshots. Entries that
disappear are forgotten so a long session's memory stays bounded by the table size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable


class History:
    """A ring buffer of the last `length` values per key."""

    def __init__(self, length: int = 60) -> None:
        if length < 1:
            raise ValueError("history length must be at least 1")
        self.length = length
        self._series: dict[Hashable, deque[float]] = {}

    def push(self, key: Hashable, value: float) -> None:
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = deque(maxlen=self.length)
        series.append(value)

    def push_all(self, values: Iterable[tuple[Hashable, float]]) -> None:
        """`push` of every (key, value): one call per refresh, not one per entry."""
        all_series, length = self._series, self.length
        for key, value in values:
            series = all_series.get(key)
            if series is None:
                series = all_series[key] = deque(maxlen=length)
            series.append(value)

    def series(self, key: Hashable) -> tuple[float, ...]:
        """Oldest first; empty for an unknown key."""
        return tuple(self._series.get(key, ()))

    def retain(self, keys: Iterable[Hashable]) -> None:
        """Forget every key not in `keys` (entries that left the table)."""
        keep = set(keys)
        for key in [k for k in self._series if k not in keep]:
            del self._series[key]

    def __len__(self) -> int:
        return len(self._series)
