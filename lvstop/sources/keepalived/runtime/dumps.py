"""Ask keepalived for its state dumps, read them safely, and parse them.

Asking: keepalived writes its dumps when its *parent* gets a signal (it forwards them to
the children): JSON -> ``keepalived.json``, STATS -> ``keepalived.stats`` (both by the
VRRP child), DATA -> ``keepalived_parent.data``, ``keepalived.data`` (VRRP),
``keepalived_check.data`` (checker), ``keepalived_bfd.data``, all in keepalived's
TMPDIR. The numbers come from ``keepalived --signum=X`` (cached), else the documented
defaults. Signals are rate-limited per kind: a caller inside the window gets the last
result, so a fast UI refresh cannot flood keepalived (each dump walks all its state).

Reading: keepalived renames its temporary file into place *before* writing it, in a
directory that may be world-writable (/tmp). So the file is opened with
O_NOFOLLOW|O_NONBLOCK (no symlink, no FIFO planted under that name), then fstat'ed:
a regular file owned by root or keepalived's uid, and a different file (inode, mtime,
size) than before the signal. It counts as complete once no keepalived process holds it
open any more (its fd table, instead of inotify); JSON must also parse. Retries are
bounded (2 s by default). Two daemons sharing one TMPDIR overwrite each other's
``keepalived.json``/``.stats`` (those names never carry the instance), so each needs
its own TMPDIR.

Parsing: pure functions, text in, model out. The ``.data`` formats are "unstable" by
keepalived's own word: unknown lines are ignored, missing fields keep defaults, nothing
raises, and what could not be understood is returned as problems (data, not errors).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import functools
import json
import os
import re
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psutil

from lvstop.model.ipvs import Family, Protocol, RealServerKey, ServiceKey, rs_key
from lvstop.model.vrrp import Health, RealServerHealth, VrrpCounters, VrrpInstance, VrrpState
from lvstop.sources.keepalived.runtime.processes import KeepalivedDaemon

T = TypeVar("T")

# --------------------------------------------------------------------------- signals

#: keepalived 2.2.7 on Linux/glibc (``keepalived --signum=X``); used if asking fails.
FALLBACK_SIGNUMS: Mapping[str, int] = {
    "STOP": 15, "RELOAD": 1, "DATA": 10, "STATS": 12, "STATS_CLEAR": 63, "JSON": 36,
}  # fmt: skip


@functools.cache
def signal_number(sigfunc: str, exe: str = "keepalived") -> int:
    """keepalived's signal number for sigfunc (DATA, STATS, JSON...), asked once per exe."""
    with contextlib.suppress(OSError, ValueError, subprocess.SubprocessError):
        out = subprocess.run(
            [exe, f"--signum={sigfunc}"], capture_output=True, text=True, timeout=5, check=True
        ).stdout
        number = int(out.strip())
        if 0 < number < 128:
            return number
    return FALLBACK_SIGNUMS[sigfunc]


class DumpKind(enum.StrEnum):
    """The dumps lvstop asks for (never STATS_CLEAR: reading must not reset counters)."""

    JSON = "JSON"
    STATS = "STATS"
    DATA = "DATA"


# Which file each kind produces and which process writes it.
_FILES: Mapping[DumpKind, tuple[tuple[str, str], ...]] = {
    DumpKind.JSON: (("keepalived.json", "vrrp"),),
    DumpKind.STATS: (("keepalived.stats", "vrrp"),),
    DumpKind.DATA: (
        ("keepalived_parent.data", "parent"),
        ("keepalived.data", "vrrp"),
        ("keepalived_check.data", "checker"),
        ("keepalived_bfd.data", "bfd"),
    ),
}
MAX_DUMP_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class DumpFile:
    """One dump file as read (text None when it could not be read; see problem)."""

    name: str
    path: str
    text: str | None = None
    mtime: float | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Dump:
    """The outcome of one request: files read, problems, and when it was asked for.

    `fresh` is False when the rate limit served the previous result again.
    """

    kind: DumpKind
    requested_at: float
    files: tuple[DumpFile, ...] = ()
    problems: tuple[str, ...] = ()
    fresh: bool = True

    def text(self, name: str) -> str | None:
        """The text of one file by its plain name (``keepalived_check.data``...)."""
        for f in self.files:
            if f.name == name:
                return f.text
        return None


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    """A parsed dump: the value, what went wrong on the way, and the dump it came from."""

    value: T
    problems: tuple[str, ...]
    dump: Dump


class DumpRequester:
    """Signals one keepalived daemon for dumps and reads them back (thread-safe).

    At most one signal per kind every `min_interval` seconds; callers within that
    window, or waiting while a request is in flight, get the last result, unless they
    need a dump asked for after some moment (`fresh_after`, see `request`).
    """

    def __init__(
        self,
        daemon: KeepalivedDaemon,
        *,
        min_interval: float = 2.0,
        timeout: float = 2.0,
        send_signal: Callable[[int, int], None] = os.kill,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.daemon = daemon
        self.min_interval = min_interval
        self.timeout = timeout
        self._send_signal = send_signal
        self._clock = clock
        self._sleep = sleep
        self._locks = {k: threading.Lock() for k in DumpKind}
        # Per kind: (when its signal was sent, when its dump was read back, the dump).
        self._last: dict[DumpKind, tuple[float, float, Dump]] = {}

    def request(
        self, kind: DumpKind, min_interval: float | None = None, fresh_after: float | None = None
    ) -> Dump:
        """Signal keepalived for `kind` (unless rate-limited) and read the result.

        `min_interval` overrides the rate limit for this call (shorter when something
        just changed and a fresh dump is worth the signal). `fresh_after` (this
        requester's clock) is when the caller learnt that keepalived's state changed:
        a dump asked for before then would show the old state, so it is never served;
        one asked for since is shared, else a new one is asked for once the rate-limit
        window has passed (waiting out its rest)."""
        limit = self.min_interval if min_interval is None else min_interval
        with self._locks[kind]:
            last = self._last.get(kind)
            if last is not None:
                asked, done, dump = last
                if fresh_after is None:
                    if self._clock() - done < limit:
                        return _stale(dump)
                elif asked >= fresh_after:
                    return dump
                else:
                    rest = limit - (self._clock() - done)
                    if rest > 0:
                        self._sleep(rest)
            asked = self._clock()
            dump = self._request(kind)
            self._last[kind] = (asked, self._clock(), dump)
            return dump

    # Parsed views -------------------------------------------------------------

    def json(
        self, min_interval: float | None = None, fresh_after: float | None = None
    ) -> Parsed[list[VrrpInstance]]:
        """VRRP instances with their counters, from keepalived.json."""
        dump = self.request(DumpKind.JSON, min_interval, fresh_after)
        problems = list(dump.problems)
        text = dump.text("keepalived.json")
        value = parse_json(text, problems) if text is not None else []
        return Parsed(value, tuple(problems), dump)

    def stats(
        self, min_interval: float | None = None, fresh_after: float | None = None
    ) -> Parsed[dict[str, VrrpCounters]]:
        """Per-instance advert counters, from keepalived.stats."""
        dump = self.request(DumpKind.STATS, min_interval, fresh_after)
        problems = list(dump.problems)
        text = dump.text("keepalived.stats")
        value = parse_stats(text, problems) if text is not None else {}
        return Parsed(value, tuple(problems), dump)

    def data(
        self, min_interval: float | None = None, fresh_after: float | None = None
    ) -> Parsed[tuple[VrrpData | None, CheckData | None]]:
        """The VRRP and checker data dumps (None for a part that was not written)."""
        dump = self.request(DumpKind.DATA, min_interval, fresh_after)
        problems = list(dump.problems)
        vrrp_text = dump.text("keepalived.data")
        check_text = dump.text("keepalived_check.data")
        vrrp = parse_vrrp_data(vrrp_text) if vrrp_text is not None else None
        check = parse_check_data(check_text) if check_text is not None else None
        for part in (vrrp, check):
            if part is not None:
                problems += part.problems
        return Parsed((vrrp, check), tuple(problems), dump)

    # The request itself -------------------------------------------------------

    def _request(self, kind: DumpKind) -> Dump:
        d = self.daemon
        requested_at = time.time()
        problems: list[str] = []
        wanted = [(name, role) for name, role in _FILES[kind] if d.pid(role) is not None]
        if not wanted:
            return Dump(kind, requested_at, (), ("no keepalived process writes this dump",))
        candidates = {name: _candidate_names(name, d) for name, _role in wanted}
        before = {
            path: _identity(path)
            for names in candidates.values()
            for path in (d.tmp_path(n) for n in names)
        }
        problem = self._signal(kind)
        if problem is not None:
            return Dump(kind, requested_at, (), (problem,))
        writers = [p.pid for p in d.processes.processes if p.alive]
        allowed_uids = {0} | ({d.uid} if d.uid is not None else set())
        deadline = self._clock() + self.timeout
        results: dict[str, DumpFile] = {}
        pending = dict(candidates)
        delay = 0.01
        while True:
            final = self._clock() >= deadline
            for name, names in list(pending.items()):
                paths = [d.tmp_path(n) for n in names]
                json_check = kind is DumpKind.JSON
                got = _try_read(name, paths, before, writers, allowed_uids, final, json_check)
                if got is not None:
                    results[name] = got
                    del pending[name]
            if not pending or final:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        for name in pending:
            role = dict(wanted)[name]
            problems.append(
                f"keepalived ({role}) wrote no new {name} in {d.tmpdir} within {self.timeout:g} s"
            )
        for f in results.values():
            if f.problem:
                problems.append(f.problem)
        files = tuple(results[n] for n, _ in wanted if n in results)
        return Dump(kind, requested_at, files, tuple(problems))

    def _signal(self, kind: DumpKind) -> str | None:
        """Send kind's signal to the parent, after checking it is still that process."""
        d = self.daemon
        try:
            proc = psutil.Process(d.parent_pid)
            if d.parent_started is not None and abs(proc.create_time() - d.parent_started) > 0.5:
                return f"keepalived pid {d.parent_pid} was replaced (restart?); rediscover"
        except psutil.Error:
            return f"keepalived pid {d.parent_pid} is gone"
        exe = d.exe.removesuffix(" (deleted)") if d.exe else "keepalived"
        if not os.path.exists(exe):
            exe = "keepalived"
        try:
            self._send_signal(d.parent_pid, signal_number(kind.value, exe))
        except PermissionError:
            return f"not allowed to signal keepalived pid {d.parent_pid} (needs root)"
        except OSError as e:
            return f"cannot signal keepalived pid {d.parent_pid}: {e.strerror}"
        return None


def _stale(dump: Dump) -> Dump:
    return Dump(dump.kind, dump.requested_at, dump.files, dump.problems, fresh=False)


def _candidate_names(name: str, d: KeepalivedDaemon) -> list[str]:
    """The file's plain name plus its ``data_use_instance`` form (``.data`` files only)."""
    names = [name]
    if name.endswith(".data") and (d.netns_name or d.instance_name):
        stem = name[: -len(".data")]
        sep = "_" if d.netns_name and d.instance_name else ""
        names.insert(0, f"{stem}.{d.netns_name or ''}{sep}{d.instance_name or ''}.data")
    return names


def _identity(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _try_read(
    name: str,
    paths: list[str],
    before: Mapping[str, tuple[int, int, int, int] | None],
    writers: list[int],
    allowed_uids: set[int],
    final: bool,
    json_check: bool,
) -> DumpFile | None:
    """One attempt at a dump file: a DumpFile when done (read or refused), None to retry."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        except OSError as e:
            if e.errno == errno.ELOOP:  # a symlink where keepalived writes its file
                return DumpFile(name, path, problem=f"{path} is a symlink: not read")
            return DumpFile(name, path, problem=f"cannot open {path}: {e.strerror}")
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return DumpFile(name, path, problem=f"{path} is not a regular file: not read")
            if st.st_uid not in allowed_uids:
                return DumpFile(name, path, problem=f"{path} is owned by uid {st.st_uid}: not read")
            if (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size) == before.get(path):
                continue  # the old file: keepalived has not renamed the new one in yet
            still_open = _held_open(writers, st.st_dev, st.st_ino)
            if still_open and not final:
                return None
            data = _read_all(fd)
        except OSError as e:
            return DumpFile(name, path, problem=f"cannot read {path}: {e.strerror}")
        finally:
            os.close(fd)
        text = data.decode("utf-8", errors="replace")
        problem = None
        if json_check:
            try:
                json.loads(text)
            except ValueError:
                if not final:
                    return None
                problem = f"{path} is not complete JSON after waiting"
        elif still_open:
            problem = f"{path} was still being written when read"
        return DumpFile(name, path, text, st.st_mtime, problem)
    return None


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < MAX_DUMP_BYTES:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _held_open(pids: list[int], dev: int, ino: int) -> bool:
    """True when one of pids has (dev, ino) open: keepalived is still writing it."""
    me = os.getpid()  # our own fd on it is the one we read with
    for pid in pids:
        if pid == me:
            continue
        try:
            entries = list(os.scandir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                st = os.stat(entry.path)
                if st.st_ino == ino and st.st_dev == dev:
                    return True
    return False


# --------------------------------------------------------------------------- JSON


def parse_json(text: str, problems: list[str] | None = None) -> list[VrrpInstance]:
    """keepalived.json -> instances (with their counters). Never raises.

    JSON carries no master router, sync group or total priority (see parse_vrrp_data);
    `master_priority` is kept only in BACKUP, where it is meaningful. A VIP string
    ending in " set" is installed on this node.
    """
    out = problems if problems is not None else []
    try:
        doc = json.loads(text)
    except ValueError as e:
        out.append(f"keepalived.json: not valid JSON ({e})")
        return []
    if not isinstance(doc, list):
        out.append("keepalived.json: top level is not an array")
        return []
    instances: list[VrrpInstance] = []
    for i, item in enumerate(doc):
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(data, dict):
            out.append(f"keepalived.json: entry {i} has no data object")
            continue
        stats = item.get("stats")
        try:
            instances.append(_json_instance(data, stats if isinstance(stats, dict) else {}))
        except (KeyError, TypeError, ValueError) as e:
            out.append(f"keepalived.json: entry {i} ({data.get('iname', '?')}): {e}")
    return instances


def _json_instance(data: Mapping[str, Any], stats: Mapping[str, Any]) -> VrrpInstance:
    state = VrrpState.from_json(int(data.get("state", -1)))
    vips, present = _vip_strings(data.get("vips") or [])
    last = data.get("last_transition")
    return VrrpInstance(
        name=str(data["iname"]),
        vrid=int(data.get("vrid", 0)),
        interface=str(data.get("ifp_ifname") or ""),
        state=state,
        base_priority=int(data.get("base_priority", 0)),
        effective_priority=int(data.get("effective_priority", 0)),
        advert_int=float(data.get("adver_int", 0)),
        vips=vips,
        vips_present=present,
        master_priority=int(data["master_priority"])
        if state is VrrpState.BACKUP and "master_priority" in data
        else None,
        last_transition=float(last) if last is not None else None,
        nopreempt=bool(data.get("nopreempt", False)),
        counters=_json_counters(stats),
    )


def _vip_strings(items: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """("198.18.23.73/24 dev eth0 scope global set", ...) -> (addresses, those set)."""
    vips: list[str] = []
    present: list[str] = []
    for item in items if isinstance(items, list) else []:
        words = str(item).split()
        if not words:
            continue
        addr = words[0].split("/")[0]
        vips.append(addr)
        if "set" in words[1:]:
            present.append(addr)
    return tuple(vips), tuple(present)


def _json_counters(s: Mapping[str, Any]) -> VrrpCounters:
    def n(key: str) -> int:
        v = s.get(key, 0)
        return int(v) if isinstance(v, int | float) else 0

    return VrrpCounters(
        adverts_received=n("advert_rcvd"),
        adverts_sent=n("advert_sent"),
        became_master=n("become_master"),
        released_master=n("release_master"),
        packet_errors=sum(
            n(k)
            for k in (
                "packet_len_err",
                "advert_interval_err",
                "ip_ttl_err",
                "invalid_type_rcvd",
                "addr_list_err",
            )
        ),
        auth_errors=sum(n(k) for k in ("invalid_authtype", "authtype_mismatch", "auth_failure")),
        priority_zero_received=n("pri_zero_rcvd"),
        priority_zero_sent=n("pri_zero_sent"),
    )


# --------------------------------------------------------------------------- stats


def parse_stats(text: str, problems: list[str] | None = None) -> dict[str, VrrpCounters]:
    """keepalived.stats -> counters per instance name. Never raises.

    Layout (vrrp_print.c): ``VRRP Instance: NAME`` at column 0, counters or group
    headers at 2 spaces, group members at 4. Packet and authentication error kinds
    are summed, as VrrpCounters keeps one number for each.
    """
    out = problems if problems is not None else []
    result: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    group = ""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        stripped = line.strip()
        key, sep, value = stripped.partition(":")
        value = value.strip()
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            if key == "VRRP Instance" and value:
                current = result.setdefault(value, {})
                group = ""
            else:
                out.append(f"keepalived.stats line {lineno}: unexpected {stripped!r}")
            continue
        if current is None or not sep:
            out.append(f"keepalived.stats line {lineno}: unexpected {stripped!r}")
            continue
        if not value:
            group = key if indent <= 2 else group
            continue
        if indent <= 2:
            group = ""
        try:
            number = int(value)
        except ValueError:
            out.append(f"keepalived.stats line {lineno}: not a number {stripped!r}")
            continue
        target = _STATS_FIELDS.get((group, key)) or _STATS_GROUP_SUMS.get(group)
        if target is None:
            continue  # a counter VrrpCounters has no place for (newer keepalived)
        current[target] = current.get(target, 0) + number
    return {name: VrrpCounters(**fields) for name, fields in result.items()}


_STATS_FIELDS = {
    ("Advertisements", "Received"): "adverts_received",
    ("Advertisements", "Sent"): "adverts_sent",
    ("", "Became master"): "became_master",
    ("", "Released master"): "released_master",
    ("Priority Zero", "Received"): "priority_zero_received",
    ("Priority Zero", "Sent"): "priority_zero_sent",
}
_STATS_GROUP_SUMS = {"Packet Errors": "packet_errors", "Authentication Errors": "auth_errors"}


# --------------------------------------------------------------------------- shared


_SECTION_RE = re.compile(r"^(\s*)-+<\s*(.*?)\s*>-+\s*$")


@dataclass(slots=True)
class _Line:
    lineno: int
    indent: int
    text: str  # stripped

    def kv(self) -> tuple[str, str] | None:
        key, sep, value = self.text.partition(" = ")
        return (key.strip(), value.strip()) if sep else None


def _lines(text: str) -> Iterator[_Line | tuple[int, str]]:
    """Dump lines; a ``------< Section >------`` header becomes (indent, name)."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        m = _SECTION_RE.match(raw)
        if m:
            yield (len(m.group(1)), m.group(2))
            continue
        body = raw.rstrip()
        yield _Line(lineno, len(body) - len(body.lstrip(" ")), body.strip())


def _int(value: str | None, default: int | None = None) -> int | None:
    if value is None:
        return default
    m = re.match(r"-?\d+", value.strip())
    return int(m.group(0)) if m else default


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    m = re.match(r"-?\d+(?:\.\d+)?", value.strip())
    return float(m.group(0)) if m else None


def _state(value: str | None) -> VrrpState:
    if not value:
        return VrrpState.UNKNOWN
    try:
        return VrrpState(value.split(",")[0].strip().upper())
    except ValueError:
        return VrrpState.UNKNOWN


# --------------------------------------------------------------------------- VRRP data


@dataclass(frozen=True, slots=True)
class TrackRef:
    """An instance's reference to a tracked object (script, file, interface) and its weight."""

    name: str
    weight: int | None = None
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class InstanceDetail:
    """What keepalived.data says about an instance beyond VrrpInstance.

    `total_priority` is base + every tracker's contribution before clamping to 1..254
    (the value used for FAULT decisions; VrrpInstance has no field for it).
    """

    name: str
    total_priority: int | None = None
    wantstate: VrrpState | None = None
    config_faults: int | None = None
    tracker_faults: int | None = None
    track_scripts: tuple[TrackRef, ...] = ()
    track_files: tuple[TrackRef, ...] = ()
    track_interfaces: tuple[TrackRef, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncGroupStatus:
    name: str
    state: VrrpState
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScriptStatus:
    """A vrrp_script: `good` is keepalived's Status line (result >= rise)."""

    name: str
    command: str | None = None
    good: bool | None = None
    result: int | None = None
    weight: int | None = None
    rise: int | None = None
    fall: int | None = None
    state: str | None = None


@dataclass(frozen=True, slots=True)
class TrackFileStatus:
    """A track_file: `status` is the last value read from the file (x weight if set)."""

    name: str
    path: str | None = None
    status: int | None = None
    weight: int | None = None
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class VrrpData:
    """Parsed VRRP part of keepalived.data."""

    instances: tuple[VrrpInstance, ...] = ()
    details: tuple[InstanceDetail, ...] = ()
    sync_groups: tuple[SyncGroupStatus, ...] = ()
    scripts: tuple[ScriptStatus, ...] = ()
    track_files: tuple[TrackFileStatus, ...] = ()
    router_id: str | None = None
    problems: tuple[str, ...] = ()

    def instance(self, name: str) -> VrrpInstance | None:
        return next((i for i in self.instances if i.name == name), None)

    def detail(self, name: str) -> InstanceDetail | None:
        return next((d for d in self.details if d.name == name), None)


def _track_ref(text: str) -> TrackRef:
    """``chk_ok weight 0``, ``tf_a, weight 1 reverse``, ``eth0 weight -10``."""
    m = re.match(r"^(.*?),?\s+weight\s+(-?\d+)(\s+reverse)?", text)
    if not m:
        return TrackRef(text.rstrip(","))
    return TrackRef(m.group(1), int(m.group(2)), bool(m.group(3)))


_LIST_HEADERS = {
    "Virtual IP": "vips",
    "Virtual IP Excluded": "evips",
    "Tracked scripts": "scripts",
    "Tracked files": "files",
    "Tracked interfaces": "interfaces",
    "VRRP member instances": "members",
}


def _list_header(text: str) -> str | None:
    if not text.endswith(":"):
        return None
    head = re.sub(r"\s*\(\d+\)\s*", "", text[:-1]).strip()
    return _LIST_HEADERS.get(head, "other")


def parse_vrrp_data(text: str) -> VrrpData:
    """keepalived.data (VRRP child) -> instances, details, sync groups, scripts, files.

    Never raises; problems name what was skipped. Counters are not in this dump
    (see parse_stats / parse_json).
    """
    problems: list[str] = []
    section = ""
    router_id: str | None = None
    inst: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    scripts: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    sublist: str | None = None
    for item in _lines(text):
        if isinstance(item, tuple):
            section = item[1]
            cur, sublist = None, None
            continue
        line = item
        kv = line.kv()
        if section == "Global definitions":
            if kv and kv[0] == "Router ID":
                router_id = kv[1]
            continue
        top = {
            "VRRP Topology": ("VRRP Instance", inst),
            "VRRP Sync groups": ("VRRP Sync Group", groups),
            "VRRP Scripts": ("VRRP Script", scripts),
            "VRRP Track files": ("Track file", files),
        }.get(section)
        if top is None:
            continue
        if line.indent <= 1:
            if kv and kv[0] == top[0]:
                cur = {"name": kv[1], "lists": {}, "lineno": line.lineno}
                top[1].append(cur)
                sublist = None
            else:
                problems.append(f"keepalived.data line {line.lineno}: unexpected {line.text!r}")
                cur = None
            continue
        if cur is None:
            continue
        if line.indent <= 3:
            header = _list_header(line.text) if kv is None else None
            if header is not None:
                sublist = header
                cur["lists"].setdefault(header, [])
                continue
            sublist = None
            if kv is not None:
                cur.setdefault(kv[0], kv[1])
            continue
        if sublist is not None:
            cur["lists"][sublist].append(line.text)
    instances: list[VrrpInstance] = []
    details: list[InstanceDetail] = []
    for raw in inst:
        try:
            vi, detail = _data_instance(raw)
        except (KeyError, ValueError) as e:
            problems.append(f"keepalived.data line {raw['lineno']}: instance {raw['name']}: {e}")
            continue
        instances.append(vi)
        details.append(detail)
    return VrrpData(
        instances=tuple(instances),
        details=tuple(details),
        sync_groups=tuple(_sync_group(g) for g in groups),
        scripts=tuple(_script(s) for s in scripts),
        track_files=tuple(_track_file(f) for f in files),
        router_id=router_id,
        problems=tuple(problems),
    )


def _data_instance(raw: Mapping[str, Any]) -> tuple[VrrpInstance, InstanceDetail]:
    lists: Mapping[str, list[str]] = raw["lists"]
    state = _state(raw.get("State"))
    vips: list[str] = []
    present: list[str] = []
    for entry in lists.get("vips", []):
        words = entry.split()
        addr = words[0].split("/")[0]
        vips.append(addr)
        if "set" in words[1:]:
            present.append(addr)
    advert = raw.get("Advert interval", "")
    advert_int = _float(advert) or 0.0
    if "milli" in advert:
        advert_int /= 1000.0
    master = raw.get("Master router") if state is VrrpState.BACKUP else None
    vi = VrrpInstance(
        name=raw["name"],
        vrid=_int(raw.get("Virtual Router ID"), 0) or 0,
        interface=(raw.get("Interface") or "").split(",")[0].strip(),
        state=state,
        base_priority=_int(raw.get("Priority"), 0) or 0,
        effective_priority=_int(raw.get("Effective priority"), 0) or 0,
        advert_int=advert_int,
        vips=tuple(vips),
        vips_present=tuple(present),
        master_router=master,
        master_priority=_int(raw.get("Master priority")) if state is VrrpState.BACKUP else None,
        last_transition=_float(raw.get("Last transition")),
        sync_group=raw.get("Sync group"),
        nopreempt=raw.get("Preempt") == "disabled",
    )
    wantstate = raw.get("Wantstate")
    detail = InstanceDetail(
        name=raw["name"],
        total_priority=_int(raw.get("Total priority")),
        wantstate=_state(wantstate) if wantstate else None,
        config_faults=_int(raw.get("Number of config faults")),
        tracker_faults=_int(raw.get("Number of interface and track script faults")),
        track_scripts=tuple(_track_ref(t) for t in lists.get("scripts", [])),
        track_files=tuple(_track_ref(t) for t in lists.get("files", [])),
        track_interfaces=tuple(_track_ref(t) for t in lists.get("interfaces", [])),
    )
    return vi, detail


def _sync_group(raw: Mapping[str, Any]) -> SyncGroupStatus:
    name, _, state = str(raw["name"]).partition(",")
    return SyncGroupStatus(name.strip(), _state(state), tuple(raw["lists"].get("members", ())))


def _script(raw: Mapping[str, Any]) -> ScriptStatus:
    status = raw.get("Status")
    weight = raw.get("Weight")
    return ScriptStatus(
        name=raw["name"],
        command=raw.get("Command"),
        good=None if status is None else status == "GOOD",
        result=_int(raw.get("Result")),
        weight=_int(weight),
        rise=_int(raw.get("Rise")),
        fall=_int(raw.get("Fall")),
        state=raw.get("State"),
    )


def _track_file(raw: Mapping[str, Any]) -> TrackFileStatus:
    weight = raw.get("Weight")
    return TrackFileStatus(
        name=raw["name"],
        path=raw.get("File"),
        status=_int(raw.get("Status")),
        weight=_int(weight),
        reverse=bool(weight and "reverse" in weight),
    )


# --------------------------------------------------------------------------- check data


@dataclass(frozen=True, slots=True)
class CheckerStatus:
    """One health checker (``------< Health checkers >------`` entry).

    `virtual_server` and `real_server` are keepalived's own notation
    (``[198.18.23.73]:tcp:8765``, ``FWM 1``, ``[group]:80``), as in the notify FIFO.
    """

    virtual_server: str
    real_server: str
    address: str | None
    port: int | None
    method: str | None = None
    enabled: bool | None = None
    up: bool | None = None
    has_run: bool | None = None
    current_weight: int | None = None
    last_errno: int | None = None
    failed_url: str | None = None

    @property
    def error(self) -> str | None:
        """Why this checker is down, when it is and keepalived says why."""
        if self.up is not False:
            return None
        if self.failed_url:
            return f"{self.method or 'check'} failed: {self.failed_url}"
        if self.last_errno:
            return os.strerror(self.last_errno)
        return f"{self.method or 'check'} failed" if self.has_run else None


@dataclass(frozen=True, slots=True)
class VirtualServerStatus:
    """A virtual_server as the checker sees it.

    `key` is keepalived's notation (as in CheckerStatus); `service` the IPVS identity
    (None for a virtual_server_group, which stands for several IPVS services).
    `alive`/`quorum_up` False mean the quorum is lost (sorry server or no service).
    """

    key: str
    service: ServiceKey | None
    group: str | None = None
    quorum: int | None = None
    hysteresis: int | None = None
    alive: bool | None = None
    quorum_up: bool | None = None
    sorry_server: str | None = None
    real_servers: tuple[RealServerHealth, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckData:
    """Parsed keepalived_check.data."""

    virtual_servers: tuple[VirtualServerStatus, ...] = ()
    checkers: tuple[CheckerStatus, ...] = ()
    problems: tuple[str, ...] = ()

    def health(self) -> dict[tuple[str, RealServerKey], RealServerHealth]:
        """RealServerHealth per (virtual server in keepalived's notation, real server)."""
        return {
            (vs.key, rs_key(rs.address, rs.port)): rs
            for vs in self.virtual_servers
            for rs in vs.real_servers
        }

    def health_by_service(self) -> dict[tuple[ServiceKey, RealServerKey], RealServerHealth]:
        """The same keyed by IPVS identity, to join with the kernel's table."""
        return {
            (vs.service, rs_key(rs.address, rs.port)): rs
            for vs in self.virtual_servers
            if vs.service is not None
            for rs in vs.real_servers
        }


_TRIO_RE = re.compile(r"^\[(?P<addr>[^\]]*)\]:(?:(?P<proto>[a-z?]+):)?(?P<port>\d+)$")
_PROTOCOLS = {"TCP": Protocol.TCP, "UDP": Protocol.UDP, "SCTP": Protocol.SCTP}


def parse_trio(text: str) -> tuple[str, str | None, int] | None:
    """``[1.2.3.4]:tcp:80`` -> ("1.2.3.4", "tcp", 80); ``[grp]:80`` -> ("grp", None, 80)."""
    m = _TRIO_RE.match(text.strip())
    if not m:
        return None
    return m.group("addr"), m.group("proto"), int(m.group("port"))


def parse_check_data(text: str) -> CheckData:
    """keepalived_check.data -> virtual servers with RealServerHealth, and the checkers.

    Never raises. A real server's health is keepalived's ``alive`` flag (1: in
    service), which is 0 as soon as one of its checkers fails; `checkers` and
    `last_error` come from the health checkers section, joined by notation.
    """
    problems: list[str] = []
    section = ""
    vss: list[dict[str, Any]] = []
    chks: list[dict[str, Any]] = []
    vs: dict[str, Any] | None = None
    rs: dict[str, Any] | None = None
    chk: dict[str, Any] | None = None
    for item in _lines(text):
        if isinstance(item, tuple):
            indent, name = item
            if indent == 0:
                section, vs, rs, chk = name, None, None, None
            elif section == "LVS Topology" and name == "Virtual server":
                vs = {"lineno": 0, "rs": []}
                vss.append(vs)
                rs = None
            elif section == "LVS Topology" and name == "Real server" and vs is not None:
                rs = {}
                vs["rs"].append(rs)
            else:
                vs = rs = None  # virtual server group definitions and the like
            continue
        line = item
        if section == "LVS Topology":
            target = rs if rs is not None else vs
            if target is None:
                continue
            if rs is None and line.indent <= 1 and vs is not None:
                vs["head"] = line.text
                vs["lineno"] = line.lineno
                continue
            for key, value in _check_pairs(line.text):
                target.setdefault(key, value)
        elif section == "Health checkers":
            if line.indent <= 1 and " -> " in line.text:
                vs_key, _, rs_key = line.text.partition(" -> ")
                chk = {"vs": vs_key.strip(), "rs": rs_key.strip(), "lineno": line.lineno}
                chks.append(chk)
                continue
            if chk is None:
                continue
            if line.text.startswith("Keepalive method = "):
                chk.setdefault("method", line.text.split("=", 1)[1].split(",")[0].strip())
                continue
            kv = line.kv()
            if kv is not None:
                chk.setdefault(kv[0], kv[1])
    checkers = tuple(_checker(c) for c in chks)
    virtual_servers: list[VirtualServerStatus] = []
    for raw in vss:
        status = _virtual_server(raw, checkers, problems)
        if status is not None:
            virtual_servers.append(status)
    return CheckData(tuple(virtual_servers), checkers, tuple(problems))


def _check_pairs(text: str) -> list[tuple[str, str]]:
    """``RIP = 1.2.3.4, RPORT = 80, WEIGHT = 1 EFF WEIGHT = 1`` -> the four pairs.

    keepalived joins several pairs per line with ", " or (EFF WEIGHT) a bare space;
    ``Inhibit on failure is ON`` style lines become ("Inhibit on failure", "ON").
    """
    m = re.match(r"^(.*?) is (ON|OFF)$", text)
    if m:
        return [(m.group(1), m.group(2))]
    if text.startswith("RIP = "):
        m = re.match(
            r"RIP = (?P<rip>\S+), RPORT = (?P<rport>\d+), WEIGHT = (?P<w>-?\d+)"
            r"(?: EFF WEIGHT = (?P<ew>-?\d+))?",
            text,
        )
        if m:
            pairs = [("RIP", m["rip"]), ("RPORT", m["rport"]), ("WEIGHT", m["w"])]
            if m["ew"] is not None:
                pairs.append(("EFF WEIGHT", m["ew"]))
            return pairs
    if text.startswith(("quorum = ", "VS VIP = ")):
        parts = (p.partition(" = ") for p in text.split(", "))
        return [(k.strip(), v.strip()) for k, _, v in parts if v]
    if text.startswith("sorry server"):
        return [("sorry server", text.split("=", 1)[1].strip())] if "=" in text else []
    key, sep, value = text.partition(" = ")
    return [(key.strip(), value.strip())] if sep else []


def _checker(raw: Mapping[str, Any]) -> CheckerStatus:
    trio = parse_trio(raw["rs"])

    def yes(key: str) -> bool | None:
        v = raw.get(key)
        return None if v is None else v == "yes"

    return CheckerStatus(
        virtual_server=raw["vs"],
        real_server=raw["rs"],
        address=trio[0] if trio else None,
        port=trio[2] if trio else None,
        method=raw.get("method"),
        enabled=yes("Enabled"),
        up=yes("Up"),
        has_run=yes("Has run"),
        current_weight=_int(raw.get("Current weight")),
        last_errno=_int(raw.get("Last errno")),
        failed_url=raw.get("Failed URL"),
    )


def _virtual_server(
    raw: Mapping[str, Any], checkers: tuple[CheckerStatus, ...], problems: list[str]
) -> VirtualServerStatus | None:
    head = raw.get("head", "")
    family = Family.INET6 if raw.get("Address family") == "inet6" else Family.INET
    proto_name = str(raw.get("protocol", "")).upper()
    protocol = _PROTOCOLS.get(proto_name)
    service: ServiceKey | None = None
    group: str | None = None
    if head.startswith("VS VIP = "):
        pairs = dict(_check_pairs(head))
        addr, port = pairs.get("VS VIP"), _int(pairs.get("VPORT"))
        if addr is None or port is None:
            problems.append(f"keepalived_check.data line {raw['lineno']}: bad {head!r}")
            return None
        key = f"[{addr}]:{proto_name.lower() or 'none'}:{port}"
        if protocol is not None:
            service = ServiceKey.inet(protocol, addr, port)
    elif head.startswith("VS FWMARK = "):
        mark = _int(head.split("=", 1)[1])
        if mark is None:
            problems.append(f"keepalived_check.data line {raw['lineno']}: bad {head!r}")
            return None
        key = f"FWM {mark}"
        service = ServiceKey.mark(mark, family)
    elif head.startswith("VS GROUP = "):
        key = head.split("=", 1)[1].strip()
        trio = parse_trio(key)
        group = trio[0] if trio else key
    else:
        problems.append(f"keepalived_check.data: virtual server without a VS line ({head!r})")
        return None
    real_servers = []
    for r in raw["rs"]:
        health = _real_server(r, key, checkers, raw.get("Inhibit on failure") == "ON")
        if health is None:
            problems.append(f"keepalived_check.data: real server of {key} without RIP/RPORT")
        else:
            real_servers.append(health)
    alive = _int(raw.get("alive"))
    quorum_up = _int(raw.get("quorum_state_up"))
    return VirtualServerStatus(
        key=key,
        service=service,
        group=group,
        quorum=_int(raw.get("quorum")),
        hysteresis=_int(raw.get("hysteresis")),
        alive=None if alive is None else alive != 0,
        quorum_up=None if quorum_up is None else quorum_up != 0,
        sorry_server=raw.get("sorry server"),
        real_servers=tuple(real_servers),
    )


def _real_server(
    raw: Mapping[str, Any], vs_key: str, checkers: tuple[CheckerStatus, ...], vs_inhibit: bool
) -> RealServerHealth | None:
    addr = raw.get("RIP")
    port = _int(raw.get("RPORT"))
    if addr is None or port is None:
        return None
    mine = [
        c for c in checkers if c.virtual_server == vs_key and (c.address, c.port) == (addr, port)
    ]
    alive = _int(raw.get("alive"))
    failed = _int(raw.get("num failed checkers"), 0) or 0
    if alive is not None:
        health = Health.UP if alive else Health.DOWN
    elif mine:
        health = Health.DOWN if failed or any(c.up is False for c in mine) else Health.UP
    else:
        health = Health.UNKNOWN
    errors = [e for e in (c.error for c in mine) if e]
    inhibit = raw.get("Inhibit on failure")
    configured = _int(raw.get("initial weight"))
    effective = _int(raw.get("effective weight"))
    return RealServerHealth(
        address=addr,
        port=port,
        health=health,
        configured_weight=configured if configured is not None else _int(raw.get("WEIGHT"), 0) or 0,
        effective_weight=effective
        if effective is not None
        else _int(raw.get("EFF WEIGHT"), 0) or 0,
        failed_checkers=failed,
        checkers=len(mine),
        inhibit_on_failure=(inhibit == "ON") if inhibit is not None else vs_inhibit,
        last_error=errors[0] if errors and health is not Health.UP else None,
    )
