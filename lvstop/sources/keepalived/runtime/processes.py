"""Find the keepalived daemon serving this network namespace: parent, children, pid files.

keepalived is a parent plus VRRP, checker and BFD children. All of them run the same
executable with the same command line (``process_names`` only renames comm), so which
child is which comes from keepalived's pid files; comm names and sockets are the
fallback when no pid file names a child.

Pid files (keepalived 2.2.7 ``core/main.c``):

* ``-p/-r/-c/-b`` (``--pid`` ...) on the parent's command line win;
* otherwise ``/run/keepalived.pid``, ``/run/vrrp.pid``, ``/run/checkers.pid``,
  ``/run/bfd.pid``;
* with ``instance NAME`` or a network namespace (``net_namespace NS`` or ``-s NS``)
  they move to ``/run/keepalived/`` and carry a ``_NAME`` suffix; with a netns
  keepalived also bind-mounts ``/run/keepalived/NS`` over ``/run/keepalived`` in a
  private mount namespace, so from outside they are
  ``/run/keepalived/NS/keepalived_NAME.pid``.

Paths are resolved through ``/proc/<parent>/root`` when we may (root): that is
keepalived's own view of the filesystem, whatever private mounts it (netns) or
``ip netns exec`` made, so pid files and dump files are found where keepalived wrote
them. Without that access (not root) paths are used as they are.

Several daemons on one host (one per netns, as in the lab) are told apart by network
namespace: `local_daemon` picks the one whose ``/proc/<pid>/ns/net`` is ours. Its
TMPDIR (``/proc/<pid>/environ``; keepalived only honours an absolute one, else /tmp)
is where its dump files go.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import psutil

from lvstop.model.vrrp import KeepalivedProcess, KeepalivedProcesses

ROLES: tuple[str, ...] = ("parent", "vrrp", "checker", "bfd")
PID_DIR = "/run/keepalived"
_BASE = {"parent": "keepalived", "vrrp": "vrrp", "checker": "checkers", "bfd": "bfd"}
#: keepalived's default pid files (no instance, no netns, no -p/-r/-c/-b).
DEFAULT_PID_FILES: Mapping[str, str] = {role: f"/run/{b}.pid" for role, b in _BASE.items()}
DEFAULT_TMPDIR = "/tmp"

# comm names set by ``process_names`` (global_parser.c); custom names can't be guessed.
_COMM_ROLES = {"keepalived_vrrp": "vrrp", "keepalived_lvs": "checker", "keepalived_bfd": "bfd"}

# keepalived 2.2.7 getopt_long: short options taking an argument / an optional one.
_SHORT_ARG = frozenset("uSfpisrcbA")
_SHORT_OPTIONAL = frozenset("Mgt")
_LONG_ARG = {
    "use-file": "f", "log-facility": "S", "umask": "u", "pid": "p", "vrrp_pid": "r",
    "checkers_pid": "c", "bfd_pid": "b", "snmp-agent-socket": "A", "namespace": "s",
    "config-id": "i", "signum": "signum", "config-fd": "config-fd",
}  # fmt: skip
_LONG_OPTIONAL = {"log-file": "g", "core-dump-pattern": "M", "config-test": "t", "perf": "perf",
                  "debug": "debug"}  # fmt: skip
_LONG_FLAG = {
    "vrrp": "P", "check": "C", "no_bfd": "B", "all": "all", "log-console": "l",
    "log-detail": "D", "all-config": "e", "flush-log-file": "flush", "no-syslog": "G",
    "release-vips": "X", "dont-release-vrrp": "V", "dont-release-ipvs": "I",
    "dont-respawn": "R", "dont-fork": "n", "dump-conf": "d", "genhash": "T",
    "address-monitoring": "a", "snmp": "x", "core-dump": "m", "no-mem-check": "nomem",
    "mem-check-log": "L", "version": "v", "help": "h",
}  # fmt: skip
_PID_OPTS = {"p": "parent", "r": "vrrp", "c": "checker", "b": "bfd"}
# Options that make keepalived do one thing and exit: never a running daemon.
_TRANSIENT = frozenset({"signum", "t", "v", "h", "T"})

# VRRP is IP protocol 112 (AH 51 with auth_type AH); BFD uses UDP 3784/3785/4784.
_VRRP_PROTOCOLS = frozenset({112, 51})
_BFD_PORTS = frozenset({3784, 3785, 4784})
_NETLINK_GENERIC = 16


@dataclass(frozen=True, slots=True)
class CommandLine:
    """What lvstop needs from keepalived's argv: pid file overrides, netns, config file."""

    pid_files: Mapping[str, str] = field(default_factory=dict)
    namespace: str | None = None
    config_file: str | None = None
    transient: bool = False


def parse_cmdline(argv: Sequence[str]) -> CommandLine:
    """Parse keepalived's argv the way its getopt_long does (clusters, ``--x=y``, prefixes)."""
    opts: dict[str, str] = {}
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            key, kind = _long_option(name)
            if key is None:
                continue
            if kind == "arg" and not eq and i < len(argv):
                value = argv[i]
                i += 1
            opts[key] = value
        elif arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                c = arg[j]
                j += 1
                if c in _SHORT_ARG:
                    value = arg[j:]
                    if not value and i < len(argv):
                        value = argv[i]
                        i += 1
                    opts[c] = value
                    break
                if c in _SHORT_OPTIONAL:
                    opts[c] = arg[j:]
                    break
                opts[c] = ""
    return CommandLine(
        pid_files={role: opts[o] for o, role in _PID_OPTS.items() if opts.get(o)},
        namespace=opts.get("s") or None,
        config_file=opts.get("f") or None,
        transient=any(o in opts for o in _TRANSIENT),
    )


def _long_option(name: str) -> tuple[str | None, str]:
    """Map a long option (or an unambiguous prefix, as getopt_long allows) to its key."""
    tables = (("arg", _LONG_ARG), ("optional", _LONG_OPTIONAL), ("flag", _LONG_FLAG))
    for kind, table in tables:
        if name in table:
            return table[name], kind
    matches = [(table[n], kind) for kind, table in tables for n in table if n.startswith(name)]
    return matches[0] if len(matches) == 1 else (None, "flag")


@dataclass(frozen=True, slots=True)
class KeepalivedDaemon:
    """One running keepalived (a parent and its children) and where its files are.

    `pid_files` maps each role found to its pid file, as a path openable from here
    (plain when our view has the same file, else under ``/proc/<pid>/root``); `root`
    is that prefix for keepalived's own paths ("" when we may not use it).
    `in_our_netns` is None when the namespace could not be compared (not root).
    """

    parent_pid: int
    parent_started: float | None
    exe: str | None
    cmdline: tuple[str, ...]
    uid: int | None
    processes: KeepalivedProcesses
    pid_files: Mapping[str, str]
    root: str
    tmpdir: str
    netns_inode: int | None
    in_our_netns: bool | None
    netns_name: str | None = None
    instance_name: str | None = None
    config_file: str = "/etc/keepalived/keepalived.conf"
    problems: tuple[str, ...] = ()

    def pid(self, role: str) -> int | None:
        """The pid of a live process of that role, else None."""
        for p in self.processes.processes:
            if p.role == role and p.alive:
                return p.pid
        return None

    def path(self, path: str) -> str:
        """A path as keepalived sees it, made openable from here."""
        return self.root + path if self.root else path

    def tmp_path(self, name: str) -> str:
        """A file in keepalived's TMPDIR (dump files), openable from here."""
        return self.path(os.path.join(self.tmpdir, name))


@dataclass(slots=True)
class _Proc:
    pid: int
    ppid: int
    comm: str
    exe: str | None
    cmdline: tuple[str, ...]
    started: float | None
    zombie: bool
    uid: int | None


def _scan() -> dict[int, _Proc]:
    """All processes that look like keepalived (by executable, else by argv[0]/name).

    A cheap first pass (one readlink per process) finds the candidates; psutil then
    reads the details of those few only: a director may run thousands of processes.
    """
    found: dict[int, _Proc] = {}
    for pid in _candidate_pids():
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                exe = _safe(proc.exe)
                cmdline = tuple(_safe(proc.cmdline) or ())
                name = _safe(proc.name) or ""
                if not _looks_like_keepalived(exe, cmdline, name):
                    continue
                uids = _safe(proc.uids)
                found[pid] = _Proc(
                    pid=pid,
                    ppid=proc.ppid(),
                    comm=_comm(pid) or name,
                    exe=exe or None,
                    cmdline=cmdline,
                    started=proc.create_time(),
                    zombie=proc.status() == psutil.STATUS_ZOMBIE,
                    uid=uids.real if uids is not None else None,
                )
        except psutil.Error:
            continue
    return found


def _candidate_pids() -> list[int]:
    """Pids whose executable (or, when hidden from us, comm) may be keepalived's."""
    pids: list[int] = []
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return pids
    for entry in entries:
        try:
            exe = os.readlink(f"/proc/{entry}/exe")
        except OSError:
            comm = _comm(int(entry))  # not root, or a zombie / kernel thread
            if comm is not None and comm.startswith("keepalived"):
                pids.append(int(entry))
            continue
        if os.path.basename(exe.removesuffix(" (deleted)")) == "keepalived":
            pids.append(int(entry))
    return pids


_R = TypeVar("_R")


def _safe(fn: Callable[[], _R]) -> _R | None:
    try:
        return fn()
    except psutil.AccessDenied:
        return None


def _looks_like_keepalived(exe: str | None, cmdline: Sequence[str], name: str) -> bool:
    if exe:
        return os.path.basename(exe.removesuffix(" (deleted)")) == "keepalived"
    if cmdline:
        return os.path.basename(cmdline[0]) == "keepalived"
    return name == "keepalived" or name in _COMM_ROLES


def _comm(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def find_daemons() -> list[KeepalivedDaemon]:
    """Every keepalived daemon visible from here (all network namespaces), by parent pid."""
    procs = _scan()
    parents = [
        p
        for p in procs.values()
        if p.ppid not in procs and not p.zombie and not parse_cmdline(p.cmdline).transient
    ]
    return [_build(p, procs) for p in sorted(parents, key=lambda p: p.pid)]


def local_daemon(
    daemons: Iterable[KeepalivedDaemon] | None = None, instance: str | None = None
) -> KeepalivedDaemon | None:
    """The keepalived serving our network namespace, or None when none runs here.

    Several daemons in one netns are legal (``instance NAME``): `instance` picks one;
    otherwise the oldest is returned and the others are named in its problems.
    """
    found = list(find_daemons() if daemons is None else daemons)
    if instance is not None:
        found = [d for d in found if d.instance_name == instance]
    mine = sorted(
        (d for d in found if d.in_our_netns),
        key=lambda d: (d.parent_started if d.parent_started is not None else float("inf"),
                       d.parent_pid),
    )  # fmt: skip
    if not mine:
        # Namespaces not comparable (not root): a single daemon is unambiguous.
        unknown = [d for d in found if d.in_our_netns is None]
        if len(found) == 1 and unknown:
            return _with_problem(unknown[0], "network namespace not comparable (not root?)")
        return None
    if len(mine) > 1:
        others = ", ".join(str(d.parent_pid) for d in mine[1:])
        return _with_problem(mine[0], f"other keepalived daemons in this netns: {others}")
    return mine[0]


def _with_problem(d: KeepalivedDaemon, problem: str) -> KeepalivedDaemon:
    return replace(d, problems=(*d.problems, problem))


def netns_inode(pid: int | str = "self") -> int | None:
    """Inode of a process's network namespace (equal inodes: same namespace)."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def read_pid_file(path: str) -> int | None:
    """The pid in a pid file, or None (missing, unreadable, not a regular file, garbage)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not _is_regular(fd):
            return None
        text = os.read(fd, 64)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        pid = int(text.strip() or b"x")
    except ValueError:
        return None
    return pid if pid > 0 else None


def _is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def _proc_root(pid: int) -> str:
    root = f"/proc/{pid}/root"
    try:
        os.stat(root + "/")
    except OSError:
        return ""
    return root


def _environ_tmpdir(pid: int) -> str | None:
    """keepalived's TMPDIR (absolute only, as keepalived requires), "" if unset, None if unknown."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
    except OSError:
        return None
    for item in env.split(b"\0"):
        if item.startswith(b"TMPDIR="):
            value = os.fsdecode(item[7:])
            return value if value.startswith("/") else ""
    return ""


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return "/"


def _pid_file_candidates(role: str, override: str | None) -> list[str]:
    """Pid file patterns for role in keepalived's view, most specific first."""
    if override is not None:
        return [override]
    base = _BASE[role]
    return [f"{PID_DIR}/{base}_*.pid", f"{PID_DIR}/{base}.pid", f"/run/{base}.pid"]


def _outside_candidates(role: str) -> list[str]:
    """Pid file patterns of a netns daemon as seen from outside its mount namespace."""
    base = _BASE[role]
    return [f"{PID_DIR}/*/{base}_*.pid", f"{PID_DIR}/*/{base}.pid"]


def _expand(root: str, pattern: str) -> list[str]:
    """Paths (in the view of `root`) matching pattern, sorted."""
    if not glob.has_magic(pattern):
        return [pattern]
    n = len(root)
    return sorted(p[n:] for p in glob.glob(root + pattern))


_NS_DIR_RE = re.compile(re.escape(PID_DIR) + r"/([^/]+)/[^/]+\.pid$")


def _build(parent: _Proc, procs: Mapping[int, _Proc]) -> KeepalivedDaemon:
    problems: list[str] = []
    pid = parent.pid
    cl = parse_cmdline(parent.cmdline)
    root = _proc_root(pid)
    cwd = _cwd(pid)
    overrides = {r: os.path.join(cwd, p) for r, p in cl.pid_files.items()}
    children = {p.pid: p for p in procs.values() if p.ppid == pid and not p.zombie}

    pid_files: dict[str, str] = {}
    processes: list[KeepalivedProcess] = [KeepalivedProcess("parent", pid, True)]
    netns_name = cl.namespace
    instance: str | None = None

    # The parent's own pid file is the one holding its pid.
    parent_hit = _search(root, "parent", overrides.get("parent"), lambda v: v == pid)
    if parent_hit is None:
        problems.append(f"no pid file holds the parent's pid {pid}")
        parent_file = None
    else:
        parent_file = parent_hit[0]
        pid_files["parent"] = parent_file
        m = _NS_DIR_RE.match(parent_file)
        if m and netns_name is None:
            netns_name = m.group(1)
        name = os.path.basename(parent_file)
        if "parent" not in overrides and name.startswith("keepalived_"):
            instance = name[len("keepalived_") : -len(".pid")] or None

    suffix = f"_{instance}.pid" if instance else ".pid"
    claimed: set[int] = set()
    for role in ROLES[1:]:
        override = overrides.get(role)
        hit = _search(root, role, override, lambda v: v in children and v not in claimed)
        if hit is not None:
            pid_files[role] = hit[0]
            claimed.add(hit[1])
            processes.append(KeepalivedProcess(role, hit[1], True))
            continue
        # No live child: a pid file where this daemon writes it names a dead one.
        expected = _expected_pid_file(role, override, parent_file, overrides, suffix, root)
        stale = read_pid_file(expected) if expected is not None else None
        if expected is not None and stale is not None:
            pid_files[role] = expected
            processes.append(KeepalivedProcess(role, stale, False))

    # Children that no pid file names (files removed, unusual layout): guess.
    known = {p.role for p in processes if p.alive}
    for child in sorted(set(children) - claimed):
        guess = _guess_role(children[child])
        if guess is None or guess in known:
            problems.append(f"cannot tell which keepalived child pid {child} is")
            role = "unknown"
        else:
            problems.append(f"child {child} identified as {guess} without a pid file")
            role = guess
            known.add(role)
        # A dead entry for that role is superseded by the live child.
        processes = [p for p in processes if p.alive or p.role != role]
        processes.append(KeepalivedProcess(role, child, True))

    tmp = _environ_tmpdir(pid)
    if tmp is None:
        problems.append(f"cannot read /proc/{pid}/environ; assuming TMPDIR {DEFAULT_TMPDIR}")
    ours = netns_inode()
    theirs = netns_inode(pid)
    return KeepalivedDaemon(
        parent_pid=pid,
        parent_started=parent.started,
        exe=parent.exe,
        cmdline=parent.cmdline,
        uid=parent.uid,
        processes=KeepalivedProcesses(tuple(sorted(processes, key=_role_order))),
        pid_files=pid_files,
        root=root,
        tmpdir=tmp or DEFAULT_TMPDIR,
        netns_inode=theirs,
        in_our_netns=None if ours is None or theirs is None else ours == theirs,
        netns_name=netns_name,
        instance_name=instance,
        config_file=cl.config_file or "/etc/keepalived/keepalived.conf",
        problems=tuple(problems),
    )


def _search(
    root: str, role: str, override: str | None, accept: Callable[[int], bool]
) -> tuple[str, int] | None:
    """First pid file of role whose pid `accept`s: (path openable from here, pid).

    Looks in keepalived's view first, then (no override) in the per-netns directories
    as seen from outside; a plain path is preferred over a /proc/<pid>/root one.
    """
    inside: tuple[str, int] | None = None
    for path in _matches(root, role, override):
        value = read_pid_file(_join(root, path))
        if value is not None and accept(value):
            if not root or read_pid_file(path) == value:
                return path, value
            inside = (root + path, value)
            break
    if override is None:
        for path in _outside_matches(role):
            value = read_pid_file(path)
            if value is not None and accept(value):
                return path, value
    return inside


def _role_order(p: KeepalivedProcess) -> tuple[int, int]:
    return (ROLES.index(p.role) if p.role in ROLES else len(ROLES), p.pid)


def _join(root: str, path: str) -> str:
    return root + path if root else path


def _matches(root: str, role: str, override: str | None) -> list[str]:
    out: list[str] = []
    for pattern in _pid_file_candidates(role, override):
        out += _expand(root, pattern)
    return out


def _outside_matches(role: str) -> list[str]:
    out: list[str] = []
    for pattern in _outside_candidates(role):
        out += _expand("", pattern)
    return out


def _expected_pid_file(
    role: str,
    override: str | None,
    parent_file: str | None,
    overrides: Mapping[str, str],
    suffix: str,
    root: str,
) -> str | None:
    """Where this daemon writes role's pid file (openable from here), when that can be told."""
    if override is not None:
        return _join(root, override)
    if parent_file is None or "parent" in overrides:
        return None
    return os.path.join(os.path.dirname(parent_file), _BASE[role] + suffix)


def _guess_role(child: _Proc) -> str | None:
    """A child's role from its comm (``process_names``) or from the sockets it holds."""
    role = _COMM_ROLES.get(child.comm)
    if role is not None:
        return role
    inodes = _socket_inodes(child.pid)
    if not inodes:
        return None
    net = f"/proc/{child.pid}/net"
    for table in ("raw", "raw6"):
        for _local, proto, inode in _inet_sockets(f"{net}/{table}"):
            if inode in inodes and proto in _VRRP_PROTOCOLS:
                return "vrrp"
    for table in ("udp", "udp6"):
        for port, _proto, inode in _inet_sockets(f"{net}/{table}"):
            if inode in inodes and port in _BFD_PORTS:
                return "bfd"
    for proto, inode in _netlink_sockets(f"{net}/netlink"):
        if inode in inodes and proto == _NETLINK_GENERIC:
            return "checker"
    return None


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(entry.path)
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def _inet_sockets(path: str) -> list[tuple[int, int, int]]:
    """(local port, port-or-protocol, inode) rows of /proc/net/{raw,udp}[6].

    For raw sockets the kernel prints the protocol where the port would be, so the
    local "port" of a raw row is its protocol number.
    """
    rows: list[tuple[int, int, int]] = []
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return rows
    for line in lines:
        cols = line.split()
        if len(cols) < 10:
            continue
        with contextlib.suppress(ValueError):
            port = int(cols[1].rpartition(":")[2], 16)
            rows.append((port, port, int(cols[9])))
    return rows


def _netlink_sockets(path: str) -> list[tuple[int, int]]:
    """(protocol, inode) rows of /proc/net/netlink."""
    rows: list[tuple[int, int]] = []
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return rows
    for line in lines:
        cols = line.split()
        if len(cols) >= 10:
            with contextlib.suppress(ValueError):
                rows.append((int(cols[1]), int(cols[9])))
    return rows
