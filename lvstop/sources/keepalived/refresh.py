"""keepalived's state kept fresh on its own thread, so no poll ever waits for it.

Reading keepalived means signalling it and waiting for its dump files: milliseconds
normally, but the whole dump timeout (2 s) when keepalived writes nothing (stopped,
stuck, a dump directory it cannot write). The IPVS table, which the on-call engineer
watches, must not freeze for that. So while a Feed watches the live director, the
slow part (`KeepalivedReader.collect`) runs here and each poll joins the *latest*
reading with its fresh IPVS table (`KeepalivedReader.join_reading`), with its age.

A read that gets nothing from a running keepalived keeps the previous reading's
roles and health (`KeepalivedReading.carry_over`), older and with the errors.

Reads are on demand (a poll asks and the reading is older than `period`), or urgent
(a VIP moved, a notify-FIFO line arrived: read now, past the dump rate limit down to
`URGENT_INTERVAL`; the roles alone first, from one dump, then everything). An urgent
read never settles for a dump keepalived was asked for before the event: a read that
was under way when the VIP moved saw the old roles. The roles-only read runs on its
own short-lived thread, so a routine read under way (up to seconds) does not delay
it; readings are shown in the order they started, so that routine read, finishing
later with older roles, never replaces the newer ones. A
reading that changes what a user sees (see `KeepalivedReading.signature`) calls
`on_change` so the poller polls again instead of waiting for its timer. The notify
FIFOs named in the configuration are watched too, each line an urgent read plus
`on_notify`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lvstop.sources.keepalived.state import KeepalivedReader, KeepalivedReading

if TYPE_CHECKING:
    from lvstop.sources.keepalived.runtime.notify_fifo import NotifyFifoThread

log = logging.getLogger(__name__)


class KeepalivedRefresher:
    """The background reader; see the module docstring. Thread-safe."""

    def __init__(
        self,
        reader: KeepalivedReader,
        *,
        period: float = 2.0,
        on_change: Callable[[], None] | None = None,
        on_notify: Callable[[], None] | None = None,
        watch_fifos: bool = True,
    ) -> None:
        self.reader = reader
        self.period = period
        self._on_change = on_change
        self._on_notify = on_notify
        self._watch_fifos = watch_fifos
        self._cond = threading.Condition()
        self._latest: KeepalivedReading | None = None
        self._error: str | None = None
        self._reading_since: float | None = None
        self._demand = False
        self._urgent_at: float | None = None  # when the oldest unserved urgent() came
        self._quick_at: float | None = None  # the same, for the roles-only read
        self._quick_thread: threading.Thread | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._fifos: dict[str, NotifyFifoThread] = {}

    # -- control ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="keepalived-refresh", daemon=True)
        self._demand = True
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Ends the thread (a read in progress finishes on its own: the thread is a
        daemon and its result is dropped)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._sync_fifos(())

    def demand(self) -> None:
        """A poll is about to use the reading: refresh it if older than `period`."""
        with self._cond:
            self._demand = True
            self._cond.notify_all()

    def urgent(self) -> None:
        """Something changed (VIP moved, notify line): read again now."""
        with self._cond:
            now = time.monotonic()
            if self._urgent_at is None:
                self._urgent_at = now
            if self._quick_at is None:
                self._quick_at = now
            if not self._stopped and self._thread is not None and self._quick_thread is None:
                self._quick_thread = threading.Thread(
                    target=self._quick_run, name="keepalived-quick", daemon=True
                )
                self._quick_thread.start()
            self._cond.notify_all()

    # -- results ----------------------------------------------------------------

    def latest(self, wait: float = 0.0) -> KeepalivedReading | None:
        """The newest reading; with `wait`, up to that long for the first one."""
        with self._cond:
            if self._latest is None and wait > 0:
                self._cond.wait_for(lambda: self._latest is not None, wait)
            return self._latest

    def problems(self, now: float) -> tuple[str, ...]:
        """What is wrong with the reading joined at `now` (monotonic): the last read
        failed, or the reading is old because a read is slow."""
        out = []
        with self._cond:
            latest, error, since = self._latest, self._error, self._reading_since
        if error is not None:
            out.append(error)
        # Fixed wording (no running numbers): each new sentence is a new error event,
        # and the age itself is in KeepalivedState.read_at.
        if latest is not None:
            if now - latest.read_at > self.stale_after:
                out.append(
                    f"keepalived's state is more than {self.stale_after:g} s old: reading "
                    "keepalived is slow (dumps not written?)"
                )
        elif since is not None and now - since > self.stale_after:
            out.append(
                f"keepalived's state not read yet: the first read has taken more than "
                f"{self.stale_after:g} s"
            )
        return tuple(out)

    @property
    def stale_after(self) -> float:
        return max(5 * self.period, 10.0)

    # -- the thread -------------------------------------------------------------

    def _due(self) -> bool:
        if self._urgent_at is not None:
            return True
        if not self._demand:
            return False
        return self._latest is None or time.monotonic() - self._latest.read_at >= self.period

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not self._due():
                    self._cond.wait(self.period if self._demand else None)
                if self._stopped:
                    return
                urgent_at, self._urgent_at, self._demand = self._urgent_at, None, False
                self._reading_since = time.monotonic()
            try:
                reading = self.reader.collect(fresh_after=urgent_at)
                error = None
            except Exception as exc:  # keep the last reading, say why it is old
                log.debug("keepalived read failed", exc_info=True)
                reading, error = None, f"reading keepalived failed: {exc!r}"
            with self._cond:
                if self._stopped:
                    return
                before = self._latest
                if reading is not None and before is not None:
                    if reading.started < before.started:
                        # A roles-only read for a later event is shown: this read
                        # began before it (older roles). The urgent read follows.
                        self._reading_since = None
                        continue
                    reading = reading.carry_over(before)
                if reading is not None:
                    self._latest = reading
                self._error, self._reading_since = error, None
                self._cond.notify_all()
            if reading is not None and self._watch_fifos:
                self._sync_fifos(_fifo_paths(reading))
            changed = reading is not None and (
                before is None or before.signature() != reading.signature()
            )
            if (changed or error) and self._on_change is not None:
                try:
                    self._on_change()
                except Exception:
                    log.exception("keepalived refresher: on_change failed")

    def _quick_run(self) -> None:
        """The roles-only reads asked for by urgent(), until none is pending."""
        while True:
            with self._cond:
                at, self._quick_at = self._quick_at, None
                if at is None or self._stopped:
                    self._quick_thread = None
                    return
            self._quick(at)

    def _quick(self, fresh_after: float) -> None:
        """After a VIP move: the roles alone first (one dump), shown at once; the
        full read (health, counters) follows."""
        try:
            quick = self.reader.collect_roles(fresh_after)
        except Exception:
            log.debug("quick keepalived read failed", exc_info=True)
            return
        with self._cond:
            before = self._latest
            if quick is None or self._stopped or before is None:
                return
            if quick.started < before.started:
                return  # a full read that began after the event is shown already
            quick = quick.carry_over(before)
            if quick.signature()[2] == before.signature()[2]:
                return  # the roles did not change: nothing to show early
            self._latest = quick
            self._cond.notify_all()
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception:
                log.exception("keepalived refresher: on_change failed")

    # -- notify FIFOs -----------------------------------------------------------

    def _sync_fifos(self, paths: tuple[str, ...]) -> None:
        """Watch exactly the FIFOs the configuration names."""
        from lvstop.sources.keepalived.runtime.notify_fifo import (
            NotifyFifoReader,
            NotifyFifoThread,
        )

        for path in [p for p in self._fifos if p not in paths]:
            self._fifos.pop(path).stop()
        for path in paths:
            if path in self._fifos:
                continue
            thread = NotifyFifoThread(NotifyFifoReader(path), on_event=lambda _e: self._notified())
            try:
                thread.start()
            except (OSError, RuntimeError) as exc:
                log.warning("cannot watch keepalived's notify FIFO %s: %s", path, exc)
                continue
            self._fifos[path] = thread

    def _notified(self) -> None:
        self.urgent()
        if self._on_notify is not None:
            self._on_notify()


def _fifo_paths(reading: KeepalivedReading) -> tuple[str, ...]:
    cfg = reading.config
    if cfg is None or cfg.global_defs is None:
        return ()
    g = cfg.global_defs
    return tuple(
        sorted({f.path for f in (g.notify_fifo, g.vrrp_notify_fifo, g.lvs_notify_fifo) if f})
    )
