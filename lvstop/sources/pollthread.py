"""One background thread per poll-style source, stopped through a wake pipe.

Several sources are "a file descriptor plus `read_ready()`" (the rtnetlink monitor,
the VRRP listener, keepalived's notify FIFO) and all need the same wrapper to run
in a daemon thread: open the source *in* that thread (a socket then belongs to the
thread that reads it, and `start()` still raises an open failure in the caller),
sleep in poll(2) on the source and a private pipe, hand each item to a callback,
and end promptly when `stop()` writes to the pipe. `PollThread` is that wrapper,
written once.

A source whose descriptor comes and goes (a FIFO closed on EOF and reopened later)
returns None from `fileno()` meanwhile and gives an `idle` timeout: `read_ready()`
is then also called when the timeout passes, which is where it reopens.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class PollSource(Protocol[T_co]):
    """A non-blocking source: readable `fileno()` (None: nothing open right now),
    then `read_ready()` returns what arrived (possibly nothing)."""

    def fileno(self) -> int | None: ...

    def read_ready(self) -> Iterable[T_co]: ...

    def close(self) -> None: ...


class PollThread(Generic[T]):
    """Runs `open_source()` in a daemon thread and calls `on_item(item)` there for
    every item its `read_ready()` returns.

    `idle()` is the longest sleep before calling `read_ready()` anyway (None:
    only when readable); `eager` calls it once right after opening. `start()`
    returns once the source is open (so nothing after it is missed) and re-raises
    what `open_source` raised. The callback must be short and thread-safe; an
    exception in it is logged, never kills the thread. The thread closes the source.
    """

    def __init__(
        self,
        open_source: Callable[[], PollSource[T]],
        on_item: Callable[[T], None],
        *,
        name: str,
        idle: Callable[[], float | None] | None = None,
        eager: bool = False,
    ) -> None:
        self._open = open_source
        self._on_item = on_item
        self._name = name
        self._idle = idle
        self._eager = eager
        self._source: PollSource[T] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._wake_r, self._wake_w = -1, -1

    @property
    def source(self) -> PollSource[T]:
        if self._source is None:
            raise RuntimeError(f"{self._name} thread not started")
        return self._source

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 5.0) -> PollSource[T]:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} thread already started")
        self._ready.clear()
        self._error = None
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"{self._name}: the source did not open within {timeout:g} s")
        if self._error is not None:
            error = self._error
            self._thread.join()
            self._thread = None
            os.close(self._wake_w)
            raise error
        return self.source

    def stop(self, timeout: float = 5.0) -> None:
        """Wake the thread, wait for it to close the source and end (idempotent)."""
        if self._thread is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(timeout)
        os.close(self._wake_w)
        self._thread = None

    def _run(self) -> None:
        try:
            source = self._open()
        except BaseException as exc:
            self._error = exc
            os.close(self._wake_r)
            self._ready.set()
            return
        self._source = source
        self._ready.set()
        try:
            if self._eager:
                self._deliver(source.read_ready())
            while True:
                poller = select.poll()
                poller.register(self._wake_r, select.POLLIN)
                fd = source.fileno()
                if fd is not None:
                    poller.register(fd, select.POLLIN)
                idle = self._idle() if self._idle is not None else None
                ready = poller.poll(None if idle is None else max(0, int(idle * 1000)))
                if any(f == self._wake_r for f, _ in ready):
                    return
                if ready or idle is not None:
                    self._deliver(source.read_ready())
        finally:
            source.close()
            os.close(self._wake_r)

    def _deliver(self, items: Iterable[T]) -> None:
        for item in items:
            try:
                self._on_item(item)
            except Exception:
                log.exception("%s: callback failed", self._name)
