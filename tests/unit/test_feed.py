"""Feed: synchronous polls (frozen clock), errors and backoff, and the worker loop's
timing: one poll at a time, re-armed after the previous one, woken by events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from lvstop.errors import SourceError
from lvstop.feed import MAX_BACKOFF, Feed, Update
from lvstop.model import Snapshot
from lvstop.model.capabilities import Capabilities
from lvstop.model.events import EventKind
from lvstop.sources.simulated import SimulatedDirector


class Clock:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_first_poll_then_changes_with_a_frozen_clock() -> None:
    clock = Clock()
    feed = Feed(SimulatedDirector(clock=clock), wall_clock=lambda: 42.0)
    first = feed.poll_once()
    assert first.reason == "first" and first.error is None
    assert first.snapshot is not None and first.previous is None
    assert first.diff is not None and first.diff.added_services == tuple(
        s.key for s in first.snapshot.services
    )
    assert first.events == ()
    clock.t = 1.0
    second = feed.poll_once("timer")
    assert second.reason == "timer"
    assert second.previous is first.snapshot
    assert second.diff is not None and second.diff.interval == 1.0


def test_demo_failover_arrives_as_events() -> None:
    clock = Clock()
    sim = SimulatedDirector(clock=clock)
    feed = Feed(sim)
    feed.poll_once()
    seen: list[tuple[EventKind, str]] = []
    for t in range(1, 160):
        clock.t = float(t)
        seen += [(e.kind, e.message) for e in feed.poll_once("timer").events]
    kinds = [k for k, _ in seen]
    assert EventKind.RS_DOWN in kinds and EventKind.RS_UP in kinds
    assert EventKind.VIP_LEFT in kinds and EventKind.VIP_ARRIVED in kinds
    assert any("MASTER -> BACKUP" in m for _, m in seen)


class FlakyDirector:
    """A director whose reads can be made to fail, or to take a while."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sim = SimulatedDirector(clock=time.monotonic)
        self.fail: BaseException | None = None
        self.delay = delay
        self.calls: list[tuple[float, float, bool]] = []  # start, end, connections
        self.active = 0
        self.overlap = False
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(False, "test")

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        with self._lock:
            self.active += 1
            self.overlap |= self.active > 1
        start = time.monotonic()
        try:
            if self.delay:
                time.sleep(self.delay)
            if self.fail is not None:
                raise self.fail
            return self.sim.snapshot(connections=False)
        finally:
            with self._lock:
                self.active -= 1
            self.calls.append((start, time.monotonic(), connections))

    def close(self) -> None:
        pass


def test_failure_keeps_last_good_snapshot_and_reports_once() -> None:
    d = FlakyDirector()
    feed = Feed(d, interval=1.0, wall_clock=lambda: 99.0)
    good = feed.poll_once()
    d.fail = SourceError("netlink: IPVS dump failed: EIO")
    bad = feed.poll_once("timer")
    assert bad.error == "netlink: IPVS dump failed: EIO"
    assert bad.snapshot is good.snapshot and bad.previous is None
    assert [(e.kind, e.severity, e.wall_time) for e in bad.events] == [
        (EventKind.ERROR, "critical", 99.0)
    ]
    again = feed.poll_once("timer")
    assert again.error == bad.error and again.events == ()  # one event, not one per poll
    assert feed.failures == 2
    d.fail = None
    ok = feed.poll_once("timer")
    assert ok.error is None and ok.previous is good.snapshot
    assert ok.events[0].kind is EventKind.ERROR and ok.events[0].severity == "info"
    assert "works again (after 2 failed polls)" in ok.events[0].message
    assert feed.failures == 0


def test_unexpected_exception_is_one_line_and_never_escapes() -> None:
    d = FlakyDirector()
    d.fail = KeyError("boom")
    feed = Feed(d)
    up = feed.poll_once()
    assert up.snapshot is None and up.diff is None
    assert up.error == "reading the director failed: KeyError: 'boom'"
    d.fail = OSError(5, "Input/output error")
    assert feed.poll_once().error == "reading the director failed: Input/output error"


def test_backoff_doubles_and_is_capped() -> None:
    d = FlakyDirector()
    d.fail = SourceError("down")
    feed = Feed(d, interval=1.0)
    assert feed.next_delay() == 1.0
    delays = []
    for _ in range(8):
        feed.poll_once()
        delays.append(feed.next_delay())
    assert delays[:4] == [2.0, 4.0, 8.0, 16.0]
    assert max(delays) == MAX_BACKOFF
    slow = Feed(d, interval=60.0)
    slow.poll_once()
    assert slow.next_delay() == 60.0  # never faster than the interval


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "1"])
def test_bad_interval_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        Feed(SimulatedDirector(), interval=bad)  # type: ignore[arg-type]
    feed = Feed(SimulatedDirector(), interval=2.0)
    with pytest.raises(ValueError):
        feed.set_interval(bad)  # type: ignore[arg-type]
    assert feed.interval == 2.0


# ------------------------------------------------------------------ the worker loop


class Runner:
    """Feed.run in a thread, collecting updates."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.updates: list[tuple[float, Update]] = []
        self.stop = threading.Event()
        self.got = threading.Condition()
        self.thread = threading.Thread(target=feed.run, args=(self.on_update, self.stop))

    def on_update(self, update: Update) -> None:
        with self.got:
            self.updates.append((time.monotonic(), update))
            self.got.notify_all()

    def __enter__(self) -> Runner:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Update]:
        with self.got:
            assert self.got.wait_for(lambda: len(self.updates) >= n, timeout), self.updates
            return [u for _, u in self.updates]


def test_run_polls_one_at_a_time_rearmed_after_each_poll() -> None:
    d = FlakyDirector(delay=0.08)
    feed = Feed(d, interval=0.05)
    with Runner(feed) as r:
        ups = r.wait_for(5)
    assert not d.overlap
    assert ups[0].reason == "first" and all(u.reason == "timer" for u in ups[1:5])
    gaps = [b[0] - a[1] for a, b in zip(d.calls, d.calls[1:], strict=False)]
    assert min(gaps[:4]) >= 0.045  # the interval counts from the end of the last poll


class WatchableDirector(FlakyDirector):
    def __init__(self) -> None:
        super().__init__()
        self.wake: Callable[[str], None] | None = None
        self.unwatched = threading.Event()

    def watch(self, wake: Callable[[str], None]) -> Callable[[], None]:
        self.wake = wake
        return self.unwatched.set


def test_events_wake_the_loop_long_before_the_timer() -> None:
    d = WatchableDirector()
    feed = Feed(d, interval=30.0)
    with Runner(feed) as r:
        r.wait_for(1)
        assert d.wake is not None
        woke = time.monotonic()
        d.wake("address-event")
        d.wake("address-event")  # a burst: read by one poll
        ups = r.wait_for(2)
        latency = r.updates[1][0] - woke
        time.sleep(0.15)
        assert len(r.updates) == 2
        feed.request_poll()
        ups = r.wait_for(3)
    assert ups[1].reason == "address-event" and ups[2].reason == "request"
    assert latency < 5  # the timer alone would have taken 30 s
    assert d.unwatched.is_set()


def test_watch_events_off_means_timer_only() -> None:
    d = WatchableDirector()
    with Runner(Feed(d, interval=30.0, watch_events=False)) as r:
        r.wait_for(1)
    assert d.wake is None


def test_errors_back_off_in_the_loop_and_a_request_still_polls() -> None:
    d = FlakyDirector()
    d.fail = SourceError("down")
    feed = Feed(d, interval=0.05)
    with Runner(feed) as r:
        ups = r.wait_for(4, timeout=5)
        assert all(u.error == "down" for u in ups)
        assert feed.failures >= 4 and feed.next_delay() >= 0.05 * 2**4  # backing off
        d.fail = None
        feed.request_poll()
        ups = r.wait_for(5)
    assert any(u.error is None and u.snapshot is not None for u in ups[4:])


def test_set_interval_rearms_and_connections_poll_now() -> None:
    d = FlakyDirector()
    feed = Feed(d, interval=30.0)
    with Runner(feed) as r:
        r.wait_for(1)
        feed.set_interval(0.05)
        r.wait_for(2, timeout=2)
        feed.set_interval(30.0)
        n = len(r.updates)
        feed.set_connections(True)
        r.wait_for(n + 1, timeout=2)
    assert d.calls[-1][2] is True and feed.connections


def test_callback_failure_does_not_stop_the_loop_and_close_ends_it() -> None:
    d = FlakyDirector()
    feed = Feed(d, interval=0.02)
    calls = []

    def boom(update: Update) -> None:
        calls.append(update)
        raise RuntimeError("UI gone")

    t = threading.Thread(target=feed.run, args=(boom, threading.Event()))
    t.start()
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    feed.close()
    t.join(2)
    assert not t.is_alive() and len(calls) >= 3


def test_a_failing_watch_leaves_the_timer() -> None:
    class Broken(FlakyDirector):
        def watch(self, wake: Callable[[str], None]) -> Callable[[], None]:
            raise OSError("no netlink here")

    with Runner(Feed(Broken(), interval=0.02)) as r:
        assert len(r.wait_for(3)) >= 3
