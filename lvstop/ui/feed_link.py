"""Where the console gets its updates: `lvstop.feed.Feed` (threads, events, back-off).

`FeedLike` is the part of Feed's interface (briefs/interfaces.md) the console uses.
Until the feed branch is merged, `open_feed` falls back to `_DirectFeed`: one
`director.snapshot()` + `diff()` per poll, nothing more. It is the "one small
function to swap" and is deleted when lvstop/feed.py lands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lvstop.director import Director
from lvstop.model.diff import SnapshotDiff, diff
from lvstop.model.snapshot import Snapshot
from lvstop.ui.state import EventLike, UpdateLike


class FeedLike(Protocol):
    def poll_once(self, reason: str = "request") -> UpdateLike: ...
    def run(self, on_update: Callable[[UpdateLike], None], stop: threading.Event) -> None: ...
    def request_poll(self) -> None: ...
    def set_interval(self, seconds: float) -> None: ...
    def set_connections(self, on: bool) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Update:
    snapshot: Snapshot | None
    previous: Snapshot | None
    diff: SnapshotDiff | None
    events: tuple[EventLike, ...]
    error: str | None
    reason: str


class _DirectFeed:
    """Interim stand-in for lvstop.feed.Feed: no events, no early wake-ups."""

    def __init__(self, director: Director, interval: float) -> None:
        self.director = director
        self.interval = interval
        self.connections = False
        self._last: Snapshot | None = None
        self._wake = threading.Event()
        self._lock = threading.Lock()

    def poll_once(self, reason: str = "request") -> _Update:
        with self._lock:
            prev = self._last
            try:
                snap = self.director.snapshot(connections=self.connections)
            except Exception as exc:
                return _Update(prev, None, None, (), f"poll failed: {exc}", reason)
            self._last = snap
            return _Update(snap, prev, diff(prev, snap), (), None, reason)

    def run(self, on_update: Callable[[UpdateLike], None], stop: threading.Event) -> None:
        reason = "first"
        while not stop.is_set():
            on_update(self.poll_once(reason))
            self._wake.wait(self.interval)
            reason = "request" if self._wake.is_set() else "timer"
            self._wake.clear()

    def request_poll(self) -> None:
        self._wake.set()

    def set_interval(self, seconds: float) -> None:
        self.interval = seconds

    def set_connections(self, on: bool) -> None:
        self.connections = on

    def close(self) -> None:
        self._wake.set()


def open_feed(director: Director, interval: float) -> FeedLike:
    return _DirectFeed(director, interval)
