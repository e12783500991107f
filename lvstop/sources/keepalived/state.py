"""keepalived's state for one snapshot: its processes, dumps, configuration and the wire,
joined with the IPVS table.

`join` is pure (parsed inputs in, `KeepalivedState` out) so it is tested on captured
dumps; `KeepalivedReader` does the I/O around it for the live director: finds the
daemon serving this network namespace, asks it for its dumps (rate-limited by
`DumpRequester`), re-reads the configuration only when a file of it changed, and runs
the passive VRRP listener when it can. Nothing here raises for a partial failure:
each one becomes a sentence in `KeepalivedState.errors`.

What a configuration explains (configured-but-absent real servers, IPVS entries no
configuration accounts for) is decided by `lint.match_live`, the same code behind
`lvstop lint --live`, so the two can never disagree.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from lvstop.errors import LvstopError
from lvstop.model.ipvs import RealServerKey, Service, ServiceKey, rs_key
from lvstop.model.keepalived import (
    NO_PROCESSES,
    AbsentRealServer,
    KeepalivedState,
    RealServerStatus,
    RsId,
    ServiceVrrp,
    UnexplainedEntry,
    VrrpAlarm,
)
from lvstop.model.vrrp import (
    Health,
    KeepalivedProcesses,
    RealServerHealth,
    VrrpCounters,
    VrrpInstance,
    VrrpState,
    WireSpeaker,
)

if TYPE_CHECKING:  # the parsers and psutil load on first use: the demo needs none of them
    from lvstop.sources.keepalived.config import Config
    from lvstop.sources.keepalived.runtime.dumps import CheckData, DumpRequester, VrrpData
    from lvstop.sources.keepalived.runtime.processes import KeepalivedDaemon
    from lvstop.sources.vrrp_listen import AlarmHold, VrrpListenerThread

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
NOT_RUNNING = "keepalived is not running in this network namespace"
URGENT_INTERVAL = 0.25
"""Shortest gap between two dump signals of one kind when something just changed
(instead of the reader's `dump_interval`): a failover is worth a fresh dump, an
event storm must still not become a signal storm."""


@dataclass(frozen=True, slots=True)
class KeepalivedReading:
    """The slow part of reading keepalived, before it is joined with an IPVS table:
    its processes, configuration and dumps. `started`/`read_at` are the monotonic
    times the read began and finished: every dump in it was asked for at or after
    `started`, so of two readings the later-started one shows the newer roles."""

    processes: KeepalivedProcesses
    config: Config | None
    config_file: str | None
    instances: tuple[VrrpInstance, ...]
    check: CheckData | None
    notes: tuple[str, ...]
    errors: tuple[str, ...]
    started: float
    read_at: float

    def carry_over(self, before: KeepalivedReading) -> KeepalivedReading:
        """This reading, with the dumps that failed this time (keepalived running but
        nothing read) taken from `before`; `read_at` is then the older one, so the age
        shown is that of the oldest part. A stuck keepalived thus shows its last known
        roles and health as stale, with the errors saying why, instead of none."""
        if not self.processes.running:
            return self
        instances, check, read_at = self.instances, self.check, self.read_at
        if not instances and before.instances:
            instances, read_at = before.instances, before.read_at
        if check is None and before.check is not None:
            check, read_at = before.check, min(read_at, before.read_at)
        if instances is self.instances and check is self.check:
            return self
        return replace(self, instances=instances, check=check, read_at=read_at)

    def signature(self) -> tuple[object, ...]:
        """What a reader of the joined state would notice changing (not counters)."""
        health: tuple[object, ...] = ()
        if self.check is not None:
            health = tuple(
                sorted(
                    (str(key), h.health.value, h.effective_weight, h.failed_checkers)
                    for key, h in self.check.health().items()
                )
            )
        return (
            self.processes,
            self.config_file,
            tuple(
                (i.name, i.state, i.effective_priority, i.vips_present, i.master_router)
                for i in self.instances
            ),
            health,
            self.errors,
        )


# --------------------------------------------------------------------------- pure join


def merge_instances(
    from_json: Sequence[VrrpInstance],
    stats: Mapping[str, VrrpCounters],
    data: VrrpData | None,
) -> tuple[VrrpInstance, ...]:
    """One VrrpInstance per instance from the three VRRP dumps.

    JSON is the base (typed, has the counters); the data dump adds what JSON lacks
    (master router, sync group) and stands in for JSON when that failed; the stats
    dump, asked for after JSON, has the newer counters.
    """
    base = list(from_json) or list(data.instances if data is not None else ())
    out: list[VrrpInstance] = []
    for inst in base:
        d = data.instance(inst.name) if data is not None else None
        if d is not None and d.state is inst.state:
            if inst.master_router is None and inst.state is VrrpState.BACKUP:
                inst = replace(inst, master_router=d.master_router)
            if inst.master_priority is None and inst.state is VrrpState.BACKUP:
                inst = replace(inst, master_priority=d.master_priority)
        if d is not None and inst.sync_group is None and d.sync_group is not None:
            inst = replace(inst, sync_group=d.sync_group)
        if d is not None and inst.last_transition is None:
            inst = replace(inst, last_transition=d.last_transition)
        counters = stats.get(inst.name)
        if counters is not None:
            inst = replace(inst, counters=counters)
        out.append(inst)
    return tuple(out)


def _canon(address: str) -> str:
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(address.split("/")[0]))
    return address


def _with_present_vips(
    instances: Iterable[VrrpInstance], addresses: Mapping[str, str], notes: list[str]
) -> tuple[VrrpInstance, ...]:
    """`vips_present` from the node's real addresses; disagreements with keepalived's
    own belief (its "set" flag) are noted: someone added or removed a VIP by hand."""
    out = []
    for inst in instances:
        present = tuple(v for v in inst.vips if _canon(v) in addresses)
        believed = {_canon(v) for v in inst.vips_present}
        actual = {_canon(v) for v in present}
        for vip in sorted(believed - actual):
            notes.append(f"{inst.name}: keepalived believes VIP {vip} is set, but it is not")
        for vip in sorted(actual - believed):
            notes.append(f"{inst.name}: VIP {vip} is on this node but keepalived did not set it")
        out.append(replace(inst, vips_present=present))
    return tuple(out)


def _owners(
    services: Sequence[Service], instances: Sequence[VrrpInstance], config: Config | None
) -> dict[ServiceKey, ServiceVrrp]:
    """Service -> the instance whose VIPs hold its address (running instances first)."""
    by_vip: dict[str, str] = {}
    if config is not None:
        for ci in config.vrrp_instances:
            for vip in ci.vips:
                by_vip.setdefault(_canon(vip.address), ci.name)
    for inst in instances:
        for address in inst.vips:
            by_vip[_canon(address)] = inst.name
    states = {i.name: i.state for i in instances}
    out: dict[ServiceKey, ServiceVrrp] = {}
    for svc in services:
        if svc.key.address is None:
            continue
        name = by_vip.get(_canon(svc.key.address))
        if name is not None:
            out[svc.key] = ServiceVrrp(name, states.get(name))
    return out


def _health_index(
    check: CheckData, config: Config | None
) -> dict[tuple[ServiceKey, RealServerKey], RealServerHealth]:
    """Checker health keyed by IPVS identity (canonical addresses); a group's entry fans
    out to every service of the group, as keepalived reports a virtual_server_group once."""
    out: dict[tuple[ServiceKey, RealServerKey], RealServerHealth] = {}
    for vs in check.virtual_servers:
        keys: list[ServiceKey] = []
        if vs.service is not None:
            keys = [vs.service]
        elif vs.group is not None and config is not None:
            from lvstop.sources.keepalived import lint

            for cvs in config.virtual_servers:
                if cvs.group == vs.group:
                    keys += lint.config_service_keys(config, cvs)
        for key in keys:
            for rs in vs.real_servers:
                out[(_canon_key(key), rs_key(_canon(rs.address), rs.port))] = rs
    return out


def _canon_key(key: ServiceKey) -> ServiceKey:
    if key.address is None:
        return key
    return replace(key, address=_canon(key.address))


def _status(
    configured: int | None, health: RealServerHealth | None, inhibit: bool | None
) -> RealServerStatus:
    if health is None:
        return RealServerStatus(configured_weight=configured, inhibit_on_failure=inhibit)
    return RealServerStatus(
        configured_weight=configured if configured is not None else health.configured_weight,
        effective_weight=health.effective_weight,
        health=health.health,
        failed_checkers=health.failed_checkers,
        checkers=health.checkers,
        last_error=health.last_error,
        inhibit_on_failure=inhibit if inhibit is not None else health.inhibit_on_failure,
    )


class StatusReuse:
    """Hands out the previous join's RealServerStatus object for a server whose status
    did not change (equal inputs), so whoever compares consecutive snapshots (events,
    the console, 10,000 servers each poll) finds the same object: an identity check
    instead of a compare field by field. Keeps only what the last join used."""

    def __init__(self) -> None:
        self._last: dict[tuple[object, ...], RealServerStatus] = {}
        self._now: dict[tuple[object, ...], RealServerStatus] = {}

    def status(
        self, configured: int | None, health: RealServerHealth | None, inhibit: bool | None
    ) -> RealServerStatus:
        key = (configured, health, inhibit)
        got = self._now.get(key)
        if got is None:
            got = self._last.get(key)
            if got is None:
                got = _status(configured, health, inhibit)
            self._now[key] = got
        return got

    def rotate(self) -> None:
        """One join done: what it used is what the next one may reuse."""
        self._last, self._now = self._now, {}


def _absent_reason(status: RealServerStatus, in_ipvs: bool, running: bool) -> str:
    if not in_ipvs:
        why = "keepalived is not running" if not running else "keepalived did not create it"
        return f"the virtual service is not in IPVS ({why})"
    if status.health is Health.DOWN:
        if status.inhibit_on_failure:
            return (
                "health check failing, but with inhibit_on_failure keepalived keeps it at "
                "weight 0: removed by hand"
            )
        return "health check failing: keepalived removed it"
    if status.health is Health.UP:
        return "keepalived reports it up: removed by hand, or keepalived runs another configuration"
    return "not in IPVS; keepalived's health of it is unknown"


def join(
    *,
    services: Sequence[Service],
    processes: KeepalivedProcesses = NO_PROCESSES,
    config: Config | None = None,
    config_file: str | None = None,
    instances: Sequence[VrrpInstance] = (),
    check: CheckData | None = None,
    addresses: Mapping[str, str] | None = None,
    wire: Sequence[WireSpeaker] = (),
    wire_since: float | None = None,
    alarms: Sequence[VrrpAlarm] = (),
    notes: Sequence[str] = (),
    errors: Sequence[str] = (),
    reuse: StatusReuse | None = None,
) -> KeepalivedState:
    """Join keepalived's parsed state with the IPVS table (pure, but for `reuse`).

    `addresses` (canonical address -> interface, None when unknown) make
    `vips_present` the node's truth instead of keepalived's belief. Without `config`
    nothing can be called absent or unexplained; configured weights then come from
    the checker dump (what keepalived loaded). `reuse` hands out unchanged statuses
    as the previous join's objects (a live reader passes the same one every poll).
    """
    make_status = reuse.status if reuse is not None else _status
    note_list = list(notes)
    insts = tuple(instances)
    if addresses is not None:
        insts = _with_present_vips(insts, addresses, note_list)
    health = _health_index(check, config) if check is not None else {}
    real_servers: dict[RsId, RealServerStatus] = {}
    absent: list[AbsentRealServer] = []
    unexplained: list[UnexplainedEntry] = []
    if config is not None:
        from lvstop.sources.keepalived import lint

        match = lint.match_live(config, services)
        for ls in match.services:
            for lrs in ls.real_servers:
                rkey = rs_key(lrs.address, lrs.port)
                status = make_status(
                    ls.vs.rs_weight(lrs.conf),
                    health.get((_canon_key(ls.key), rkey)),
                    ls.inhibit(lrs.conf),
                )
                if lrs.kernel is not None:
                    real_servers[(ls.key, lrs.kernel.key)] = status
                else:
                    in_ipvs = ls.service is not None
                    reason = _absent_reason(status, in_ipvs, processes.running)
                    absent.append(
                        AbsentRealServer(ls.key, lrs.address, lrs.port, status, in_ipvs, reason)
                    )
            for krs in ls.unmanaged:
                unexplained.append(
                    UnexplainedEntry(
                        ls.key,
                        krs.key,
                        "not a real_server of this virtual_server: added by hand, "
                        "not health-checked",
                    )
                )
        for svc in match.unmanaged:
            unexplained.append(
                UnexplainedEntry(
                    svc.key,
                    None,
                    f"not in {config_file or config.path}: a manual ipvsadm rule keepalived "
                    "neither checks nor fails over",
                )
            )
    elif health:
        for svc in services:
            for rs in svc.real_servers:
                h = health.get((_canon_key(svc.key), rs_key(_canon(rs.address), rs.port)))
                if h is not None:
                    real_servers[(svc.key, rs.key)] = make_status(None, h, None)
    if reuse is not None:
        reuse.rotate()
    return KeepalivedState(
        processes=processes,
        config_file=config_file,
        instances=insts,
        services=MappingProxyType(_owners(services, insts, config)),
        real_servers=MappingProxyType(real_servers),
        absent_real_servers=tuple(absent),
        unexplained=tuple(unexplained),
        wire=tuple(wire),
        wire_since=wire_since,
        alarms=tuple(alarms),
        notes=tuple(note_list),
        errors=tuple(errors),
    )


def expected_wire(
    config: Config | None, instances: Sequence[VrrpInstance]
) -> dict[int, tuple[tuple[str, ...], float]]:
    """VRID -> (VIPs, advert interval) this pair should advertise, for the wire analysis."""
    out: dict[int, tuple[tuple[str, ...], float]] = {}
    if config is not None:
        for ci in config.vrrp_instances:
            if ci.vrid is not None:
                out[ci.vrid] = (tuple(v.address for v in ci.vips), ci.advert_int)
    for inst in instances:
        out.setdefault(inst.vrid, (inst.vips, inst.advert_int or 1.0))
    return out


def wire_alarms(
    speakers: Sequence[WireSpeaker],
    now: float,
    expected: Mapping[int, tuple[tuple[str, ...], float]],
    listening_since: float | None,
    hold: AlarmHold | None = None,
) -> tuple[VrrpAlarm, ...]:
    """The passive listener's analysis of the speakers, as model values."""
    from lvstop.sources.vrrp_listen import analyse

    found = analyse(speakers, now, expected=expected, listening_since=listening_since)
    if hold is not None:
        found = hold.filter(found, now)
    return tuple(
        VrrpAlarm(a.kind.value, a.severity, a.vrid, a.interface, a.sources, a.message)
        for a in found
    )


# --------------------------------------------------------------------------- live reading


class KeepalivedReader:
    """Reads the local keepalived for a live director, one `read()` per snapshot.

    `config_path` overrides the configuration file (default: the daemon's ``-f``,
    else /etc/keepalived/keepalived.conf). `wire` runs the passive VRRP listener on
    the instances' interfaces (needs CAP_NET_RAW); with `wire_warmup`, `warm_up()`
    lets it listen about one advert interval first, so a one-shot snapshot shows the
    speakers instead of an empty list. One read at a time (a lock).
    """

    def __init__(
        self,
        config_path: str | None = None,
        *,
        wire: bool = True,
        wire_warmup: bool = False,
        dump_interval: float = 2.0,
    ) -> None:
        self.config_path = config_path
        self.wire = wire
        self.wire_warmup = wire_warmup
        self.dump_interval = dump_interval
        self._lock = threading.Lock()  # the slow part: daemon, configuration, dumps
        self._wire_lock = threading.Lock()  # the listener
        self._requester: DumpRequester | None = None
        self._requester_for: tuple[int, float | None, KeepalivedProcesses] | None = None
        self._config: Config | None = None
        self._config_source: str | None = None
        self._config_shown: str | None = None  # the path as keepalived names it
        # What a quick read reuses, as the last collect left it (one reference, so a
        # quick read on another thread never sees a half-updated reader).
        self._found: tuple[DumpRequester, Config | None, str | None] | None = None
        # Any mix-up between two joins at once costs only reuse: statuses are keyed by value.
        self._reuse = StatusReuse()
        self._config_stamp: tuple[tuple[str, int, int], ...] | None = None
        self._listener: VrrpListenerThread | None = None
        self._listener_ifaces: tuple[str, ...] = ()
        self._listener_error: str | None = None
        self._hold: AlarmHold | None = None
        self._warmed = False

    def close(self) -> None:
        with self._wire_lock:
            self._stop_listener()

    def read(
        self, services: Sequence[Service], addresses: Mapping[str, str] | None
    ) -> KeepalivedState:
        """One-shot: read keepalived now and join it with this IPVS table."""
        return self.join_reading(self.collect(), services, addresses)

    def collect(self, *, fresh_after: float | None = None) -> KeepalivedReading:
        """The slow part of a read: processes, configuration, dumps (up to a few
        seconds when keepalived writes nothing). `fresh_after` (monotonic: when
        something changed, e.g. a VIP moved) lets the dumps past their rate limit,
        down to `URGENT_INTERVAL`, and makes sure none was asked for before then.

        The configuration is (re)loaded while the dumps are awaited: parsing it is
        CPU work, the dumps are waiting on keepalived, so the first read (the
        console's launch) costs the slower of the two instead of their sum."""
        from lvstop.sources.keepalived.runtime.processes import local_daemon

        with self._lock:
            started = time.monotonic()
            errors: list[str] = []
            notes: list[str] = []
            try:
                daemon = local_daemon()
            except (OSError, LvstopError) as exc:
                daemon = None
                errors.append(f"cannot look for keepalived processes: {exc}")
            if daemon is None:
                notes.append(NOT_RUNNING)
                self._requester = self._requester_for = None
            else:
                notes.extend(daemon.problems)
                errors.extend(
                    f"keepalived's {p.role} process (pid {p.pid}) is dead"
                    for p in daemon.processes.processes
                    if not p.alive
                )
            instances: tuple[VrrpInstance, ...] = ()
            check: CheckData | None = None
            if daemon is None:
                config, config_file = self._load_config(daemon, errors, notes)
            else:
                # Own lists for the configuration's problems, appended first as before.
                cfg_errors: list[str] = []
                cfg_notes: list[str] = []
                dump_errors: list[str] = []
                with ThreadPoolExecutor(1, thread_name_prefix="keepalived-conf") as pool:
                    loading = pool.submit(self._load_config, daemon, cfg_errors, cfg_notes)
                    instances, check = self._dumps(daemon, dump_errors, fresh_after)
                    config, config_file = loading.result()
                errors.extend(e for e in dict.fromkeys(cfg_errors + dump_errors) if e not in errors)
                notes += cfg_notes
            self._config_shown = config_file
            req = self._requester
            self._found = (req, config, config_file) if req is not None else None
            if (
                daemon is not None
                and check is None
                and config is not None
                and config.virtual_servers
                and not daemon.processes.alive("checker")
            ):
                errors.append("keepalived's checker process is not running: health unknown")
            return KeepalivedReading(
                processes=daemon.processes if daemon is not None else NO_PROCESSES,
                config=config,
                config_file=config_file,
                instances=instances,
                check=check,
                notes=tuple(notes),
                errors=tuple(errors),
                started=started,
                read_at=time.monotonic(),
            )

    def collect_roles(self, fresh_after: float | None = None) -> KeepalivedReading | None:
        """A fast partial read for when a VIP just moved (at `fresh_after`, monotonic):
        only the JSON dump (roles, priorities, VIPs), asked for after that moment, from
        the daemon and configuration the last `collect` found; the checker's health is
        left out (None). None before any `collect` found a daemon. The full `collect`
        should follow.

        It does not wait for a `collect` under way (it may run beside one, on another
        thread: the dump requester is thread-safe), so a slow routine read never
        delays the roles after a VIP move."""
        found = self._found
        if found is None:
            return None
        req, config, config_file = found
        # Its JSON dump may be one asked for since `fresh_after` by another read.
        started = time.monotonic() if fresh_after is None else fresh_after
        from_json = req.json(URGENT_INTERVAL, fresh_after)
        if not from_json.value:
            return None  # nothing new to show early; the full read says why
        return KeepalivedReading(
            processes=req.daemon.processes,
            config=config,
            config_file=config_file,
            instances=merge_instances(from_json.value, {}, None),
            check=None,
            notes=(),
            errors=tuple(from_json.problems),
            started=started,
            read_at=time.monotonic(),
        )

    def join_reading(
        self,
        reading: KeepalivedReading,
        services: Sequence[Service],
        addresses: Mapping[str, str] | None,
        *,
        extra_errors: Sequence[str] = (),
    ) -> KeepalivedState:
        """The fast part: the wire as of now, joined with `reading` and the table."""
        errors = [*reading.errors, *extra_errors]
        wire: tuple[WireSpeaker, ...] = ()
        since: float | None = None
        alarms: tuple[VrrpAlarm, ...] = ()
        if self.wire:
            with self._wire_lock:
                wire, since, alarms = self._wire(reading.config, reading.instances, errors)
        return replace(
            join(
                services=services,
                processes=reading.processes,
                config=reading.config,
                config_file=reading.config_file,
                instances=reading.instances,
                check=reading.check,
                addresses=addresses,
                wire=wire,
                wire_since=since,
                alarms=alarms,
                notes=reading.notes,
                errors=errors,
                reuse=self._reuse,
            ),
            read_at=reading.read_at,
        )

    # Dumps --------------------------------------------------------------------

    def _dumps(
        self, daemon: KeepalivedDaemon, errors: list[str], fresh_after: float | None = None
    ) -> tuple[tuple[VrrpInstance, ...], CheckData | None]:
        """JSON, STATS and DATA (VRRP + checker) dumps, merged; problems become errors."""
        from lvstop.sources.keepalived.runtime.dumps import DumpRequester

        ident = (daemon.parent_pid, daemon.parent_started, daemon.processes)
        if self._requester is None or self._requester_for != ident:
            # A new daemon, or a child died or came back: which files to expect changed.
            self._requester = DumpRequester(daemon, min_interval=self.dump_interval)
            self._requester_for = ident
        req = self._requester
        limit = URGENT_INTERVAL if fresh_after is not None else None
        # The three requests wait on keepalived, not on the CPU: in parallel, a read
        # costs the slowest dump instead of the sum (~2 s instead of ~6 s when
        # keepalived writes nothing).
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="keepalived-dump") as pool:
            stats_f = pool.submit(req.stats, limit, fresh_after)
            data_f = pool.submit(req.data, limit, fresh_after)
            from_json = req.json(limit, fresh_after)
            stats, data = stats_f.result(), data_f.result()
        for parsed in (from_json, stats, data):
            errors.extend(p for p in parsed.problems if p not in errors)
        vrrp_data, check = data.value
        return merge_instances(from_json.value, stats.value, vrrp_data), check

    # Configuration ------------------------------------------------------------

    def _load_config(
        self, daemon: KeepalivedDaemon | None, errors: list[str], notes: list[str]
    ) -> tuple[Config | None, str | None]:
        """The configuration and its path as keepalived names it; re-read only when the
        path or one of its files changed. A missing default file without a daemon is
        a note (keepalived is simply not set up here), anything else an error."""
        from lvstop.sources.keepalived import lint
        from lvstop.sources.keepalived.config import load

        shown, path = self._config_paths(daemon)
        if daemon is None and self.config_path is None and not os.path.exists(path):
            self._config = self._config_source = self._config_stamp = None
            notes.append(f"no keepalived configuration at {shown}")
            return None, None
        if self._config is None or path != self._config_source or self._changed():
            self._config = self._config_stamp = None
            self._config_source = path
            try:
                cfg = load(path, config_id=lint.default_config_id())
            except LvstopError as exc:
                errors.append(f"cannot read keepalived's configuration: {exc}")
                return None, shown
            self._config, self._config_stamp = cfg, _stamp(cfg)
        return self._config, shown

    def _changed(self) -> bool:
        return self._config is None or _stamp(self._config) != self._config_stamp

    def _config_paths(self, daemon: KeepalivedDaemon | None) -> tuple[str, str]:
        """(the path as keepalived names it, the path to open from here)."""
        if self.config_path is not None:
            return self.config_path, self.config_path
        if daemon is None:
            return DEFAULT_CONFIG, DEFAULT_CONFIG
        shown = daemon.config_file
        if not os.path.isabs(shown):
            with contextlib.suppress(OSError):
                shown = os.path.join(os.readlink(f"/proc/{daemon.parent_pid}/cwd"), shown)
        rooted = daemon.path(shown)
        # The plain path keeps includes resolving as usual, when it is the same file.
        with contextlib.suppress(OSError):
            if rooted == shown or os.path.samefile(shown, rooted):
                return shown, shown
        return shown, rooted

    # The wire -----------------------------------------------------------------

    def warm_up(self) -> None:
        """Before a one-shot snapshot starts its clock: start the VRRP listener on the
        configured interfaces and let it listen about one advert interval (at most 3 s),
        so that snapshot has a wire view. Only the first call waits."""
        from lvstop.sources.keepalived.runtime.processes import local_daemon

        with self._lock:
            if not (self.wire and self.wire_warmup) or self._warmed:
                return
            self._warmed = True
            try:
                daemon = local_daemon()
            except (OSError, LvstopError):
                daemon = None
            config, _ = self._load_config(daemon, [], [])
            ifaces = _interfaces(config, ())
            with self._wire_lock:
                if ifaces != self._listener_ifaces:
                    self._start_listener(ifaces)
                if self._listener is None:
                    return
            longest = max((a for _vips, a in expected_wire(config, ()).values()), default=1.0)
            time.sleep(min(longest * 1.2 + 0.1, 3.0))

    def _wire(
        self, config: Config | None, instances: Sequence[VrrpInstance], errors: list[str]
    ) -> tuple[tuple[WireSpeaker, ...], float | None, tuple[VrrpAlarm, ...]]:
        ifaces = _interfaces(config, instances)
        if ifaces != self._listener_ifaces:
            self._start_listener(ifaces)
        if self._listener is None:
            if self._listener_error:
                errors.append(self._listener_error)
            return (), None, ()
        since = self._listener.listener.started
        now = time.monotonic()
        speakers = self._listener.snapshot(now)
        expected = expected_wire(config, instances)
        return speakers, since, wire_alarms(speakers, now, expected, since, self._hold)

    def _start_listener(self, ifaces: tuple[str, ...]) -> None:
        self._stop_listener()
        self._listener_ifaces = ifaces
        if not ifaces:
            return
        try:
            from lvstop.sources.vrrp_listen import AlarmHold, VrrpListenerThread
        except ImportError:
            self._listener_error = "the VRRP wire listener is not available"
            return
        listener = VrrpListenerThread(ifaces, outgoing=True)
        try:
            listener.start()
        except (OSError, LvstopError) as exc:
            self._listener_error = f"VRRP wire listener on {', '.join(ifaces)}: {exc}"
            return
        self._listener, self._listener_error, self._hold = listener, None, AlarmHold()

    def _stop_listener(self) -> None:
        if self._listener is not None:
            self._listener.stop()
        self._listener = self._hold = None
        self._listener_ifaces = ()


def _interfaces(config: Config | None, instances: Sequence[VrrpInstance]) -> tuple[str, ...]:
    """Where the VRRP instances run: the listener's interfaces."""
    configured = config.vrrp_instances if config is not None else ()
    names = {i.interface for i in instances} | {c.interface or "" for c in configured}
    return tuple(sorted(names - {""}))


def _stamp(cfg: Config) -> tuple[tuple[str, int, int], ...]:
    """(file, mtime, size) of every file of a configuration, to notice an edit."""
    out = []
    for f in cfg.files or (cfg.path,):
        try:
            st = os.stat(f)
            out.append((f, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((f, -1, -1))
    return tuple(out)
