"""PollThread: items delivered from a background thread, prompt stop, open errors in
the caller, callback failures survived, idle sources polled on a timeout."""

from __future__ import annotations

import os
import threading
import time

import pytest

from lvstop.sources.pollthread import PollThread


class PipeSource:
    """Lines written to a pipe, as a poll-style source."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.opened_in = threading.current_thread().name
        self.closed = False

    def fileno(self) -> int:
        return self.r

    def read_ready(self) -> list[str]:
        try:
            return os.read(self.r, 4096).decode().split()
        except BlockingIOError:
            return []

    def close(self) -> None:
        self.closed = True
        os.close(self.r)

    def send(self, text: str) -> None:
        os.write(self.w, text.encode())


def test_items_arrive_in_the_thread_and_stop_closes_the_source() -> None:
    got: list[tuple[str, str]] = []
    cond = threading.Condition()

    def on_item(item: str) -> None:
        with cond:
            got.append((item, threading.current_thread().name))
            cond.notify_all()

    t: PollThread[str] = PollThread(PipeSource, on_item, name="test-poll")
    src = t.start()
    assert isinstance(src, PipeSource) and src.opened_in == "test-poll"
    src.send("a b ")
    src.send("c")
    with cond:
        assert cond.wait_for(lambda: len(got) == 3, 2)
    assert got == [("a", "test-poll"), ("b", "test-poll"), ("c", "test-poll")]
    began = time.monotonic()
    t.stop()
    assert time.monotonic() - began < 1 and src.closed and not t.running
    t.stop()  # idempotent


def test_open_failure_is_raised_by_start() -> None:
    def broken() -> PipeSource:
        raise PermissionError("CAP_NET_RAW needed")

    t: PollThread[str] = PollThread(broken, lambda item: None, name="broken")
    with pytest.raises(PermissionError, match="CAP_NET_RAW"):
        t.start()
    assert not t.running
    with pytest.raises(RuntimeError, match="not started"):
        _ = t.source


def test_a_failing_callback_does_not_end_the_thread() -> None:
    seen: list[str] = []

    def on_item(item: str) -> None:
        seen.append(item)
        if item == "bad":
            raise ValueError(item)

    t: PollThread[str] = PollThread(PipeSource, on_item, name="cb")
    src = t.start()
    assert isinstance(src, PipeSource)
    src.send("bad ")
    deadline = time.monotonic() + 2
    while "bad" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    src.send("good")
    while "good" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    t.stop()
    assert seen == ["bad", "good"]


class Reopening:
    """No descriptor at all: only the idle timeout (and `eager`) drive read_ready."""

    def __init__(self) -> None:
        self.calls = 0

    def fileno(self) -> int | None:
        return None

    def read_ready(self) -> list[int]:
        self.calls += 1
        return [self.calls]

    def close(self) -> None:
        pass


def test_idle_source_is_read_on_its_timeout_eagerly_first() -> None:
    items: list[int] = []
    src = Reopening()
    t: PollThread[int] = PollThread(
        lambda: src, items.append, name="idle", idle=lambda: 0.02, eager=True
    )
    t.start()
    time.sleep(0.2)
    t.stop()
    assert items[0] == 1 and len(items) >= 4
    assert items == list(range(1, len(items) + 1))


def test_start_twice_is_an_error() -> None:
    t: PollThread[str] = PollThread(PipeSource, lambda item: None, name="twice")
    t.start()
    try:
        with pytest.raises(RuntimeError, match="already started"):
            t.start()
    finally:
        t.stop()
