"""The Feed: polls a Director and hands out Updates (snapshot, diff, new events).

Why one object between the director and the UI: the UI must never block on a read,
must see exactly one poll at a time (a slow read followed by a fast one must not
arrive out of order), must keep showing the last good data when a read fails, and
must see a failover the moment the VIP moves instead of at the next tick. All of
that is timing and threading, none of it is drawing, so it lives here, free of
Textual, and the UI runs `Feed.run` in a worker thread.

Polls are re-armed *after* the previous one finished (a poll slower than the
interval delays the next one instead of piling up). A failing poll backs off
(interval x 2, x 4, ... up to `MAX_BACKOFF`), keeps the last good snapshot and says
why in `Update.error`. Directors that can tell when something changed (a
`Watchable`, e.g. the live director: rtnetlink address events, keepalived's notify
FIFO, a finished keepalived read) wake the loop early.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lvstop.director import Director, Watchable
from lvstop.model.diff import SnapshotDiff, diff
from lvstop.model.events import Event, EventKind, events_between
from lvstop.model.snapshot import Snapshot

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
"""Longest wait between two failing polls (seconds), unless the interval is longer."""
SETTLE = 0.02
"""After a wake-up event, wait this long so a burst (both VIPs of a failover, a
reload's notify lines) is read by one poll instead of one poll per event."""
_SLICE = 0.1
"""The loop re-checks the caller's stop event at least this often."""

REASONS = ("timer", "address-event", "notify", "keepalived", "request", "first")
"""Why a poll ran: its timer; an rtnetlink address event; a keepalived notify-FIFO
line; a finished background keepalived read; `request_poll`; the very first poll."""


@dataclass(frozen=True, slots=True)
class Update:
    """The result of one poll.

    `snapshot` is the newest good snapshot (None only if none ever succeeded),
    `previous` the one before it, `diff` = diff(previous, snapshot). `events` are the
    events new since the previous Update, oldest first. `error` set means this poll
    failed and `snapshot` is the last good one (stale). `reason` is one of REASONS.
    """

    snapshot: Snapshot | None
    previous: Snapshot | None
    diff: SnapshotDiff | None
    events: tuple[Event, ...]
    error: str | None
    reason: str


def describe_error(exc: BaseException) -> str:
    """One line for a failed poll: lvstop's own errors are sentences already."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    from lvstop.errors import LvstopError

    if isinstance(exc, LvstopError) and text:
        return text
    if isinstance(exc, OSError) and exc.strerror:
        return f"reading the director failed: {exc.strerror}"
    return f"reading the director failed: {type(exc).__name__}" + (f": {text}" if text else "")


class Feed:
    """Polls `director` every `interval` seconds; see the module docstring.

    `connections` asks the director for the aggregated connection table (costly:
    only while a view shows it). `watch_events` lets a `Watchable` director wake the
    loop early. `wall_clock` stamps lvstop's own error events (tests freeze it).
    The Feed does not own the director: whoever opened it closes it.
    """

    def __init__(
        self,
        director: Director,
        *,
        interval: float = 1.0,
        connections: bool = False,
        watch_events: bool = True,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.director = director
        self._interval = _check_interval(interval)
        self._connections = connections
        self._watch_events = watch_events
        self._wall_clock = wall_clock
        self._poll_lock = threading.Lock()
        self._cond = threading.Condition()
        self._wake_reason: str | None = None
        self._closed = False
        self._snapshot: Snapshot | None = None
        self._previous: Snapshot | None = None
        self._diff: SnapshotDiff | None = None
        self._last_error: str | None = None
        self._failures = 0

    # -- settings (thread-safe) -------------------------------------------------

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def connections(self) -> bool:
        return self._connections

    @property
    def failures(self) -> int:
        """Consecutive failed polls (0 after a good one)."""
        return self._failures

    def set_interval(self, seconds: float) -> None:
        """New poll interval; the pending wait is re-armed with it at once."""
        self._interval = _check_interval(seconds)
        with self._cond:
            self._cond.notify_all()

    def set_connections(self, on: bool) -> None:
        """Read the connection table from now on (or stop); turning it on polls now."""
        changed = on != self._connections
        self._connections = on
        if on and changed:
            self.request_poll()

    def request_poll(self) -> None:
        """Poll as soon as the current poll (if any) finished."""
        self._wake("request")

    def close(self) -> None:
        """End `run` (within ~0.1 s) and stop watching for events."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- polling ----------------------------------------------------------------

    def poll_once(self, reason: str = "request") -> Update:
        """One synchronous poll (one at a time: a concurrent call waits for this one)."""
        with self._poll_lock:
            try:
                snap = self.director.snapshot(connections=self._connections)
            except Exception as exc:  # the loop must outlive any source failure
                return self._failed(describe_error(exc), reason)
            prev = self._snapshot
            changes = diff(prev, snap)
            events = events_between(prev, snap, changes)
            if self._last_error is not None:
                recovered = Event(
                    snap.wall_time,
                    EventKind.ERROR,
                    "info",
                    "lvstop",
                    f"reading the director works again (after {self._failures} failed polls)",
                )
                events = (recovered, *events)
            self._snapshot, self._previous, self._diff = snap, prev, changes
            self._last_error, self._failures = None, 0
            return Update(snap, prev, changes, events, None, "first" if prev is None else reason)

    def _failed(self, error: str, reason: str) -> Update:
        self._failures += 1
        events: tuple[Event, ...] = ()
        if error != self._last_error:  # a persisting failure is one event, not one per poll
            events = (Event(self._wall_clock(), EventKind.ERROR, "critical", "lvstop", error),)
        self._last_error = error
        return Update(self._snapshot, self._previous, self._diff, events, error, reason)

    def next_delay(self) -> float:
        """Seconds from the end of the last poll to the next timer poll (with backoff)."""
        if self._failures == 0:
            return self._interval
        backoff: float = self._interval * 2.0 ** min(self._failures, 16)
        return min(backoff, max(MAX_BACKOFF, self._interval))

    # -- the worker loop --------------------------------------------------------

    def run(self, on_update: Callable[[Update], None], stop: threading.Event) -> None:
        """Poll until `stop` is set or `close()` is called; call `on_update` after each
        poll, from this thread. Blocks: run it in a worker thread."""
        unwatch = self._start_watching()
        try:
            reason: str | None = "first" if self._snapshot is None else "timer"
            while reason is not None and not stop.is_set():
                update = self.poll_once(reason)
                try:
                    on_update(update)
                except Exception:
                    log.exception("Feed on_update callback failed")
                reason = self._wait(time.monotonic(), stop)
        finally:
            if unwatch is not None:
                unwatch()

    def _start_watching(self) -> Callable[[], None] | None:
        if not self._watch_events or not isinstance(self.director, Watchable):
            return None
        try:
            return self.director.watch(self._wake)
        except Exception as exc:  # no events: the timer still polls
            log.warning("cannot watch for director events: %s", exc)
            return None

    def _wake(self, reason: str) -> None:
        with self._cond:
            if self._wake_reason is None or reason == "request":
                self._wake_reason = reason
            self._cond.notify_all()

    def _wait(self, finished: float, stop: threading.Event) -> str | None:
        """Until the timer is due, a wake-up, or the end (None)."""
        with self._cond:
            while True:
                if self._closed or stop.is_set():
                    return None
                if self._wake_reason is not None:
                    reason, self._wake_reason = self._wake_reason, None
                    break
                left = finished + self.next_delay() - time.monotonic()
                if left <= 0:
                    return "timer"
                self._cond.wait(min(left, _SLICE))
        if reason != "request" and not stop.wait(SETTLE):
            with self._cond:
                self._wake_reason = None  # the burst is read by this one poll
        return None if stop.is_set() or self._closed else reason


def _check_interval(seconds: float) -> float:
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"poll interval must be a positive number of seconds, not {seconds!r}")
    return float(seconds)
