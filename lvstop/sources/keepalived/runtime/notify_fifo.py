"""keepalived's notify FIFO as typed events, read without ever blocking the caller.

keepalived (``global_defs { notify_fifo PATH }``, also ``vrrp_notify_fifo`` and
``lvs_notify_fifo``) writes one line per event (vrrp_notify.c, check/ipwrapper.c)::

    INSTANCE "VI_1" MASTER 100        GROUP "G2" BACKUP 0
    RS [198.18.23.10]:tcp:8765 [198.18.23.73]:tcp:8765 DOWN
    VS [198.18.23.73]:tcp:8765 UP     (or FWM 1 / [group]:8765)

keepalived opens the FIFO O_RDWR|O_NONBLOCK: it never blocks, drops lines when the pipe
is full, and its open end keeps the pipe buffer alive, so lines written before any reader
came are delivered to the first one (lvstop opens its own end O_RDONLY|O_NONBLOCK).
Each event's `at` is therefore when lvstop *read* the line, not when keepalived wrote it.
Every stop, and every reload, closes keepalived's end (vrrp_daemon.c, check_daemon.c)
and a reload opens it again; if keepalived created the
FIFO it also unlinks it and makes a new one. A reader sees EOF on stop (`FifoClosed`),
and on reload only if it reads in the milliseconds before keepalived reopens (seen
both ways), so besides reopening after EOF the reader also reopens when the path
names a different FIFO than the one it holds.

The trade-off: a FIFO line is consumed by exactly one reader. If keepalived's
``notify_fifo_script`` (or any other consumer) already reads the FIFO, lvstop reading
it too would *steal* lines from it: each line goes to whichever reader the kernel
wakes, so both would see gaps. Before opening, and again every `rescan_interval`
seconds, the reader therefore scans /proc/*/fd for another process holding the FIFO
open for reading (keepalived itself, which holds it O_RDWR but never reads, is left
out) and, unless ``allow_shared=True``, refuses to read and says so in `status`.
That scan needs root to see other users' processes; lvstop may still race a reader
that opens the FIFO between two scans.

`NotifyFifoReader` is poll-style (``fileno()`` for select/``loop.add_reader``, then
``read_ready()``); `NotifyFifoThread` runs one in a background thread and stamps lines
as they arrive.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lvstop.model.vrrp import VrrpState
from lvstop.sources.keepalived.runtime.dumps import parse_trio
from lvstop.sources.pollthread import PollThread

# ----------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class InstanceEvent:
    """``INSTANCE "VI_1" MASTER 100``: `event` as written, `state` what it means.

    MASTER_RX_LOWER_PRI and MASTER_PRIORITY mean MASTER, BACKUP_PRIORITY means BACKUP
    (priority changes need ``vrrp_notify_priority_changes``). `priority` is the
    effective priority (still shown in FAULT).
    """

    name: str
    event: str
    state: VrrpState
    priority: int
    at: float


@dataclass(frozen=True, slots=True)
class GroupEvent:
    """``GROUP "G2" FAULT 0``: a sync group's state."""

    name: str
    event: str
    state: VrrpState
    at: float


@dataclass(frozen=True, slots=True)
class RealServerEvent:
    """``RS [rip]:tcp:80 [vip]:tcp:80 UP``: a real server entered or left service.

    `real_server`/`virtual_server` are keepalived's notation (as in the check dump).
    """

    real_server: str
    virtual_server: str
    up: bool
    at: float
    address: str | None = None
    port: int | None = None


@dataclass(frozen=True, slots=True)
class VirtualServerEvent:
    """``VS [vip]:tcp:80 DOWN``: a virtual server's quorum was lost or regained."""

    virtual_server: str
    up: bool
    at: float


@dataclass(frozen=True, slots=True)
class UnknownLine:
    """A line lvstop does not understand (newer keepalived, or garbage)."""

    text: str
    at: float


@dataclass(frozen=True, slots=True)
class FifoClosed:
    """keepalived closed its end (reload or stop); the reader reopens by itself."""

    at: float


NotifyEvent = InstanceEvent | GroupEvent | RealServerEvent | VirtualServerEvent | UnknownLine
FifoEvent = NotifyEvent | FifoClosed

_VRRP_LINE_RE = re.compile(r'^(INSTANCE|GROUP) "(.*)" (\S+) (-?\d+)$')
_EVENT_STATES = {
    "MASTER": VrrpState.MASTER,
    "BACKUP": VrrpState.BACKUP,
    "FAULT": VrrpState.FAULT,
    "STOP": VrrpState.STOP,
    "DELETED": VrrpState.DELETED,
    "INIT": VrrpState.INIT,
    "MASTER_RX_LOWER_PRI": VrrpState.MASTER,
    "MASTER_PRIORITY": VrrpState.MASTER,
    "BACKUP_PRIORITY": VrrpState.BACKUP,
}


def parse_notify_line(line: str, at: float) -> NotifyEvent:
    """One FIFO line (without its newline) -> an event. Never raises."""
    text = line.rstrip("\r\n")
    m = _VRRP_LINE_RE.match(text)
    if m:
        kind, name, event, prio = m.groups()
        state = _EVENT_STATES.get(event, VrrpState.UNKNOWN)
        if kind == "INSTANCE":
            return InstanceEvent(name, event, state, int(prio), at)
        return GroupEvent(name, event, state, at)
    words = text.split()
    if len(words) >= 3 and words[0] in ("RS", "VS") and words[-1] in ("UP", "DOWN"):
        up = words[-1] == "UP"
        if words[0] == "VS":
            return VirtualServerEvent(" ".join(words[1:-1]), up, at)
        if len(words) >= 4:
            trio = parse_trio(words[1])
            return RealServerEvent(
                words[1],
                " ".join(words[2:-1]),
                up,
                at,
                trio[0] if trio else None,
                trio[2] if trio else None,
            )
    return UnknownLine(text, at)


# ----------------------------------------------------------------------------- readers


@dataclass(frozen=True, slots=True)
class FifoReader:
    """Another process that has the FIFO open for reading."""

    pid: int
    name: str


def fifo_readers(path: str, exclude: Iterable[int] = ()) -> list[FifoReader]:
    """Processes (other than `exclude`, ourselves and keepalived) reading the FIFO at path.

    Scans /proc/*/fd for the FIFO's inode; an fd opened write-only is no reader.
    keepalived's own O_RDWR descriptors are left out: it never reads.
    """
    try:
        st = os.stat(path)
    except OSError:
        return []
    skip = {os.getpid(), *exclude}
    base = os.path.basename(path)
    found: list[FifoReader] = []
    pids: list[int] = []
    with contextlib.suppress(OSError):
        pids = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]
    for pid in pids:
        if pid in skip:
            continue
        try:
            entries = list(os.scandir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        for entry in entries:
            try:
                target = os.readlink(entry.path)
                if os.path.basename(target.removesuffix(" (deleted)")) != base:
                    continue
                fst = os.stat(entry.path)
            except OSError:
                continue
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                continue
            if _access_mode(pid, entry.name) == os.O_WRONLY:
                continue
            name = _comm(pid)
            if _is_keepalived(pid, name):
                continue
            found.append(FifoReader(pid, name))
            break
    return found


def _access_mode(pid: int, fd: str) -> int | None:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as f:
            for line in f:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE
    except (OSError, ValueError, IndexError):
        pass
    return None


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _is_keepalived(pid: int, comm: str) -> bool:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return comm.startswith("keepalived")  # exe hidden from us (not root)
    return os.path.basename(exe.removesuffix(" (deleted)")) == "keepalived"


class NotifyFifoReader:
    """Reads keepalived's notify FIFO without blocking; reopens after EOF.

    Call `read_ready` whenever `fileno` is readable, and also every
    `reopen_interval` or so (with no FIFO open, `fileno` is None and reopening is
    driven by these calls). `status` says what the reader is doing, in words.
    """

    def __init__(
        self,
        path: str,
        *,
        allow_shared: bool = False,
        exclude_pids: Iterable[int] = (),
        reopen_interval: float = 0.5,
        rescan_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.allow_shared = allow_shared
        self.exclude_pids = tuple(exclude_pids)
        self.reopen_interval = reopen_interval
        self.rescan_interval = rescan_interval
        self._clock = clock
        self._wall = wall
        self._fd: int | None = None
        self._buf = b""
        self._connected = False  # a writer was seen on this open
        self._next_open = 0.0
        self._next_scan = 0.0
        self.status = "not opened yet"
        self.refused_by: tuple[FifoReader, ...] = ()

    def fileno(self) -> int | None:
        return self._fd

    @property
    def reading(self) -> bool:
        return self._fd is not None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._buf = b""

    def __enter__(self) -> NotifyFifoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_ready(self) -> list[FifoEvent]:
        """Events read so far (possibly none); opens/reopens the FIFO when due."""
        now = self._clock()
        if self._fd is not None and now >= self._next_scan:
            self._next_scan = now + self.rescan_interval
            if not self.allow_shared and self._refuse():
                self.close()
                self._next_open = now + self.rescan_interval
                return []
            if self._replaced():
                events = self._drain()  # what is left in the old FIFO, then the new one
                self.close()
                self.status = f"{self.path} was re-created; reopening"
                return events + self.read_ready()
        if self._fd is None:
            if now < self._next_open:
                return []
            if not self._open(now):
                return []
        return self._drain()

    def _open(self, now: float) -> bool:
        self._next_open = now + self.reopen_interval
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            self.status = f"no FIFO at {self.path} (keepalived not running or not configured)"
            return False
        except OSError as e:
            self.status = f"cannot stat {self.path}: {e.strerror}"
            return False
        if not stat.S_ISFIFO(st.st_mode):
            self.status = f"{self.path} is not a FIFO: not read"
            self._next_open = now + self.rescan_interval
            return False
        if not self.allow_shared:
            self._next_scan = now + self.rescan_interval
            if self._refuse():
                self._next_open = now + self.rescan_interval
                return False
        try:
            self._fd = os.open(
                self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
            )
        except OSError as e:
            self.status = f"cannot open {self.path}: {e.strerror}"
            return False
        self._connected = False
        self.status = f"reading {self.path}"
        return True

    def _replaced(self) -> bool:
        """True when the path now names another FIFO (keepalived re-created it)."""
        if self._fd is None:
            return False
        try:
            ours, now = os.fstat(self._fd), os.stat(self.path)
        except OSError:
            return False  # gone for now: EOF will follow once keepalived closes it
        return (ours.st_dev, ours.st_ino) != (now.st_dev, now.st_ino)

    def _refuse(self) -> bool:
        readers = fifo_readers(self.path, self.exclude_pids)
        self.refused_by = tuple(readers)
        if not readers:
            return False
        who = ", ".join(f"{r.name} (pid {r.pid})" for r in readers)
        self.status = (
            f"not reading {self.path}: {who} already reads it and each line goes to one "
            "reader only (allow_shared=True reads anyway and steals lines)"
        )
        return True

    def _drain(self) -> list[FifoEvent]:
        events: list[FifoEvent] = []
        fd = self._fd
        while fd is not None:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                self._connected = True  # EAGAIN: a writer has it open
                break
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                self.status = f"error reading {self.path}: {e.strerror}"
                self.close()
                break
            at = self._wall()
            if not chunk:  # EOF: keepalived closed its end (reload or stop)
                if self._connected or self._buf:
                    if self._buf.strip():
                        events.append(parse_notify_line(self._buf.decode(errors="replace"), at))
                    events.append(FifoClosed(at))
                self.close()
                self.status = f"waiting for keepalived to reopen {self.path}"
                break
            self._connected = True
            self._buf += chunk
            *lines, self._buf = self._buf.split(b"\n")
            events += [parse_notify_line(x.decode(errors="replace"), at) for x in lines if x]
        return events


class NotifyFifoThread:
    """Runs a NotifyFifoReader in a daemon thread; `drain()` never blocks.

    Lines are stamped when they arrive, not when the caller drains. `fileno()` is a
    pipe that becomes readable when events are waiting (for select/add_reader);
    `on_event`, when given, is also called from the thread for each event (keep it
    short and thread-safe).
    """

    def __init__(
        self,
        reader: NotifyFifoReader,
        max_events: int = 10000,
        on_event: Callable[[FifoEvent], None] | None = None,
    ) -> None:
        self.reader = reader
        self._events: deque[FifoEvent] = deque(maxlen=max_events)
        self._lock = threading.Lock()
        self._on_event = on_event
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread: PollThread[FifoEvent] = PollThread(
            lambda: reader, self._arrived, name="lvstop-notify-fifo", idle=self._idle, eager=True
        )

    @property
    def status(self) -> str:
        return self.reader.status

    def fileno(self) -> int:
        return self._wake_r

    def start(self) -> NotifyFifoThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._thread.stop(timeout)
        self.reader.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> NotifyFifoThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drain(self) -> list[FifoEvent]:
        """Events since the last drain, oldest first."""
        with contextlib.suppress(OSError):
            while os.read(self._wake_r, 4096):
                pass
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events

    def _idle(self) -> float:
        """With no FIFO open, retry the open; with one, rescan for other readers."""
        if self.reader.fileno() is None:
            return self.reader.reopen_interval
        return self.reader.rescan_interval

    def _arrived(self, event: FifoEvent) -> None:
        with self._lock:
            self._events.append(event)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._on_event is not None:
            self._on_event(event)
