"""What happened between two snapshots, as a timeline of one-sentence events.

The Events view and the header alarms need *transitions* (a failover, a server going
down, an alarm raised), not states: a poll only ever sees states, so events are
derived by comparing consecutive snapshots. IPVS changes come from `diff` (never
re-diffed here); keepalived's are compared here, keyed by identity (instance name,
service + real server, alarm kind + VRID + interface, process role).

Each event is stamped with the newer snapshot's wall time: that is when lvstop saw
it. Ordering within one call is fixed (keepalived's processes, VRRP, VIPs, health,
the IPVS table, weights, wire alarms, errors) so the timeline reads cause before
effect (a server goes down, then keepalived removes it) and tests can compare whole
tuples.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress
from operator import is_not

from lvstop.model.diff import SnapshotDiff, diff
from lvstop.model.fastinit import positional_constructor
from lvstop.model.ipvs import RealServerKey, ServiceKey, rs_key
from lvstop.model.keepalived import KeepalivedState, RealServerStatus, RsId, VrrpAlarm
from lvstop.model.notation import real_server_label, service_label
from lvstop.model.snapshot import Snapshot
from lvstop.model.vrrp import Health, VrrpInstance, VrrpState

INFO, WARNING, CRITICAL = "info", "warning", "critical"


class EventKind(enum.StrEnum):
    """What an event is about (the Events view filters and colours by it)."""

    VRRP_STATE = "vrrp-state"
    VIP_ARRIVED = "vip-arrived"
    VIP_LEFT = "vip-left"
    SERVICE_ADDED = "service-added"
    SERVICE_REMOVED = "service-removed"
    RS_ADDED = "rs-added"
    RS_REMOVED = "rs-removed"
    RS_UP = "rs-up"
    RS_DOWN = "rs-down"
    WEIGHT_CHANGED = "weight-changed"
    KEEPALIVED = "keepalived"
    WIRE_ALARM = "wire-alarm"
    WIRE_CLEAR = "wire-clear"
    ACTION = "action"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened: `severity` is "info", "warning" or "critical";
    `subject` names what it happened to ("TCP 198.18.23.73:8765", "VI_1", ...)."""

    wall_time: float
    kind: EventKind
    severity: str
    subject: str
    message: str


def events_between(
    prev: Snapshot | None, cur: Snapshot, changes: SnapshotDiff | None = None
) -> tuple[Event, ...]:
    """Events from `prev` to `cur`, oldest cause first.

    `changes` is `diff(prev, cur)` when the caller already has it. With no `prev`
    (the first snapshot) the table itself is not news: only the errors and wire
    alarms already present are reported.
    """
    out = _Events(cur.wall_time)
    if prev is None:
        if cur.keepalived is not None:
            _alarms((), cur.keepalived.alarms, out)
        _errors((), _all_errors(cur), out)
        return out.done()
    if changes is None:
        changes = diff(prev, cur)
    pk, ck = prev.keepalived, cur.keepalived
    statuses: list[_StatusChange] = []
    if pk is not None and ck is not None:
        statuses = _status_changes(pk, ck)
        _processes(pk, ck, out)
        _reload(pk, ck, statuses, out)
        _instances(pk.instances, ck.instances, out)
    _vips(prev, cur, out)
    _health(statuses, out)
    _table(prev, cur, changes, out)
    _kernel_weights(prev, cur, changes, out)
    if pk is not None and ck is not None:
        _effective_weights(pk, ck, statuses, out)
        _alarms(pk.alarms, ck.alarms, out)
    elif ck is not None:
        _alarms((), ck.alarms, out)
    _errors(_all_errors(prev), _all_errors(cur), out)
    return out.done()


_make_event = positional_constructor(Event)


class _Events:
    """An event list with the common wall time."""

    def __init__(self, wall_time: float) -> None:
        self.wall_time = wall_time
        self.items: list[Event] = []

    def add(self, kind: EventKind, severity: str, subject: str, message: str) -> None:
        # A poll where many servers flap makes hundreds: no frozen-dataclass __init__.
        self.items.append(_make_event(self.wall_time, kind, severity, subject, message))

    def done(self) -> tuple[Event, ...]:
        return tuple(self.items)


# --------------------------------------------------------------------------- keepalived


def _pids(state: KeepalivedState) -> dict[str, int]:
    return {p.role: p.pid for p in state.processes.processes if p.alive}


def _processes(pk: KeepalivedState, ck: KeepalivedState, out: _Events) -> None:
    before, after = _pids(pk), _pids(ck)
    if not pk.running and ck.running:
        out.add(
            EventKind.KEEPALIVED, INFO, "keepalived", f"keepalived started (pid {after['parent']})"
        )
        return
    if pk.running and not ck.running:
        out.add(
            EventKind.KEEPALIVED,
            CRITICAL,
            "keepalived",
            f"keepalived stopped (was pid {before['parent']}): no VRRP, no health checks",
        )
        return
    if not ck.running:
        return
    if before["parent"] != after["parent"]:
        out.add(
            EventKind.KEEPALIVED,
            WARNING,
            "keepalived",
            f"keepalived restarted (pid {before['parent']} -> {after['parent']})",
        )
        return
    for role in sorted((set(before) | set(after)) - {"parent"}):
        old, new = before.get(role), after.get(role)
        if old == new:
            continue
        if new is None:
            msg, sev = f"keepalived's {role} process (pid {old}) died", CRITICAL
        elif old is None:
            msg, sev = f"keepalived's {role} process is running (pid {new})", INFO
        else:
            msg, sev = f"keepalived's {role} process restarted (pid {old} -> {new})", WARNING
        out.add(EventKind.KEEPALIVED, sev, "keepalived", msg)


def _loaded(state: KeepalivedState) -> tuple[object, ...]:
    """What keepalived reports that only a (re)load changes: its instances, their
    VRIDs, VIPs and base priorities."""
    return tuple(sorted((i.name, i.vrid, i.vips, i.base_priority) for i in state.instances))


def _reload(
    pk: KeepalivedState, ck: KeepalivedState, statuses: list[_StatusChange], out: _Events
) -> None:
    """A reload is not announced anywhere lvstop reads; it shows as what keepalived
    loaded changing while the same daemon keeps running. The configuration *file*
    can change without a reload: that is said as such."""
    if not (pk.running and ck.running) or _pids(pk).get("parent") != _pids(ck).get("parent"):
        return
    if pk.config_file != ck.config_file:
        out.add(
            EventKind.KEEPALIVED,
            INFO,
            "keepalived",
            f"keepalived's configuration is now {ck.config_file} (was {pk.config_file})",
        )
    if pk.instances and ck.instances and _loaded(pk) != _loaded(ck):
        out.add(
            EventKind.KEEPALIVED,
            INFO,
            "keepalived",
            "keepalived reloaded its configuration (VRRP instances, VIPs or priorities changed)",
        )
    changed = [
        c
        for c in statuses
        if c.was is not None and c.was.configured_weight != c.now.configured_weight
    ]
    if changed:
        first = changed[0]
        assert first.was is not None
        key, rs = first.rid
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        out.add(
            EventKind.KEEPALIVED,
            INFO,
            "keepalived",
            f"configured weight of {real_server_label(rs)} in {_svc(key)}{more} changed in "
            f"{ck.config_file or 'the configuration'} ({first.was.configured_weight} -> "
            f"{first.now.configured_weight}); keepalived applies it when it reloads",
        )


def _instance_label(inst: VrrpInstance) -> str:
    return f"{inst.name} (VRID {inst.vrid} on {inst.interface})"


def _state_severity(old: VrrpState, new: VrrpState) -> str:
    if new in (VrrpState.FAULT, VrrpState.STOP, VrrpState.DELETED):
        return CRITICAL
    if VrrpState.MASTER in (old, new):
        return WARNING
    return INFO


def _instances(before: Iterable[VrrpInstance], after: Iterable[VrrpInstance], out: _Events) -> None:
    old = {i.name: i for i in before}
    for inst in after:
        was = old.pop(inst.name, None)
        if was is None:
            out.add(
                EventKind.VRRP_STATE,
                INFO,
                inst.name,
                f"{_instance_label(inst)} appeared in state {inst.state}",
            )
            continue
        if was.state is not inst.state:
            detail = f"effective priority {inst.effective_priority}"
            if inst.state is VrrpState.BACKUP and inst.master_router:
                detail += f"; master is {inst.master_router}"
                if inst.master_priority is not None:
                    detail += f" (priority {inst.master_priority})"
            out.add(
                EventKind.VRRP_STATE,
                _state_severity(was.state, inst.state),
                inst.name,
                f"{_instance_label(inst)}: {was.state} -> {inst.state} ({detail})",
            )
        if was.effective_priority != inst.effective_priority:
            out.add(
                EventKind.VRRP_STATE,
                WARNING if inst.effective_priority < was.effective_priority else INFO,
                inst.name,
                f"{_instance_label(inst)}: effective priority {was.effective_priority} -> "
                f"{inst.effective_priority} (base {inst.base_priority})",
            )
    for gone in old.values():
        out.add(
            EventKind.VRRP_STATE,
            WARNING,
            gone.name,
            f"{_instance_label(gone)} is no longer reported (was {gone.state})",
        )


# --------------------------------------------------------------------------- VIPs


def _vip_owners(snap: Snapshot) -> dict[str, str]:
    """VIP address -> where it is (interface, or the instance that holds it)."""
    out: dict[str, str] = {}
    for svc in snap.services:
        if svc.vip_present and svc.key.address is not None:
            out.setdefault(svc.key.address, svc.vip_interface or "")
    if snap.keepalived is not None:
        for inst in snap.keepalived.instances:
            for vip in inst.vips_present:
                if not out.get(vip):
                    out[vip] = inst.interface
    return out


def _vip_known_absent(snap: Snapshot) -> set[str]:
    """VIPs this snapshot positively says are *not* here (not merely unknown)."""
    out = {
        s.key.address for s in snap.services if s.vip_present is False and s.key.address is not None
    }
    if snap.keepalived is not None:
        for inst in snap.keepalived.instances:
            out.update(set(inst.vips).difference(inst.vips_present))
    return out


def _vip_instances(snap: Snapshot) -> dict[str, str]:
    if snap.keepalived is None:
        return {}
    return {v: i.name for i in snap.keepalived.instances for v in i.vips}


def _vips(prev: Snapshot, cur: Snapshot, out: _Events) -> None:
    before, after = _vip_owners(prev), _vip_owners(cur)
    owners = _vip_instances(cur) or _vip_instances(prev)
    # Only a VIP positively absent before (present after) moved: a service or an
    # address that was not known in one of the two snapshots did not.
    for vip in sorted((set(after) - set(before)) & _vip_known_absent(prev)):
        on = f" on {after[vip]}" if after[vip] else ""
        via = f" ({owners[vip]})" if vip in owners else ""
        out.add(
            EventKind.VIP_ARRIVED, WARNING, vip, f"VIP {vip}{via} arrived{on}: this node serves it"
        )
    for vip in sorted((set(before) - set(after)) & _vip_known_absent(cur)):
        via = f" ({owners[vip]})" if vip in owners else ""
        out.add(
            EventKind.VIP_LEFT, WARNING, vip, f"VIP {vip}{via} left this node: the peer serves it"
        )


# --------------------------------------------------------------------------- IPVS table


def _table(prev: Snapshot, cur: Snapshot, changes: SnapshotDiff, out: _Events) -> None:
    added, removed = set(changes.added_services), set(changes.removed_services)
    for key in changes.added_services:
        svc = cur.service(key)
        n = len(svc.real_servers) if svc is not None else 0
        sched = f"{svc.scheduler}, " if svc is not None else ""
        out.add(
            EventKind.SERVICE_ADDED,
            INFO,
            _svc(key),
            f"virtual service {_svc(key)} added ({sched}{n} real servers)",
        )
    for key in changes.removed_services:
        out.add(
            EventKind.SERVICE_REMOVED,
            WARNING,
            _svc(key),
            f"virtual service {_svc(key)} removed",
        )
    for key, rs in changes.added_real_servers:
        if key in added:
            continue
        svc = cur.service(key)
        entry = svc.real_server(rs) if svc is not None else None
        weight = f" with weight {entry.weight}" if entry is not None else ""
        out.add(
            EventKind.RS_ADDED,
            INFO,
            real_server_label(rs),
            f"real server {real_server_label(rs)} added to {_svc(key)}{weight}",
        )
    for key, rs in changes.removed_real_servers:
        if key in removed:
            continue
        out.add(
            EventKind.RS_REMOVED,
            WARNING,
            real_server_label(rs),
            f"real server {real_server_label(rs)} removed from {_svc(key)}",
        )


@lru_cache(maxsize=1 << 16)
def _svc(key: ServiceKey) -> str:
    return " ".join(service_label(key).split())


def _kernel_weights(prev: Snapshot, cur: Snapshot, changes: SnapshotDiff, out: _Events) -> None:
    for rs, old, new, keys in _by_server(
        (rid, old, new) for rid, old, new in changes.weight_changes()
    ):
        name = real_server_label(rs)
        out.add(
            EventKind.WEIGHT_CHANGED,
            WARNING if new == 0 else INFO,
            name,
            f"{name} in {_services(keys)}: kernel weight {old} -> {new}"
            + (" (drained: no new connections)" if new == 0 else ""),
        )


def _by_server(
    changes: Iterable[tuple[RsId, int, int]],
) -> list[tuple[RealServerKey, int, int, list[ServiceKey]]]:
    """One entry per (server, old, new): a server drained in every service it is in
    is one event naming those services, not one event per service."""
    groups: dict[tuple[RealServerKey, int, int], list[ServiceKey]] = {}
    for (key, rs), old, new in changes:
        groups.setdefault((rs, old, new), []).append(key)
    return [(rs, old, new, keys) for (rs, old, new), keys in groups.items()]


def _services(keys: list[ServiceKey]) -> str:
    """'TCP 198.18.23.73:8765', '... and TCP 198.18.23.74:8765', '..., ... and 3 more'."""
    names = [_svc(k) for k in keys]
    if len(names) == 1:
        return names[0]
    if len(names) <= 3:
        return f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{', '.join(names[:2])} and {len(names) - 2} more services"


# --------------------------------------------------------------------------- health


def _statuses(state: KeepalivedState) -> Mapping[RsId, RealServerStatus]:
    """Every real server keepalived speaks about, in IPVS or (removed as down) not."""
    if not state.absent_real_servers:
        return state.real_servers
    out: dict[RsId, RealServerStatus] = {
        (a.service, rs_key(a.address, a.port)): a.status for a in state.absent_real_servers
    }
    out.update(state.real_servers)
    return out


@dataclass(frozen=True, slots=True)
class _StatusChange:
    rid: RsId
    was: RealServerStatus | None
    now: RealServerStatus


_make_change = positional_constructor(_StatusChange)


def _status_changes(pk: KeepalivedState, ck: KeepalivedState) -> list[_StatusChange]:
    """The real servers whose keepalived status differs, in table order. One pass of
    lookups, no sorting of the unchanged: this runs every poll, on 10,000 servers."""
    before, after = _statuses(pk), _statuses(ck)
    if before is after:
        return []
    changed = _aligned_changes(before, after)
    if changed is None:
        changed = [
            _make_change(rid, was, now)
            for rid, now in after.items()
            if (was := before.get(rid)) is not now and was != now
        ]
    changed.sort(key=lambda c: _rs_order(c.rid))
    return changed


def _aligned_changes(
    before: Mapping[RsId, RealServerStatus], after: Mapping[RsId, RealServerStatus]
) -> list[_StatusChange] | None:
    """The changes when both mappings list the same servers in the same order (one
    keepalived read after another does): compared pairwise, no key hashed. None
    when the servers or their order differ."""
    if len(before) != len(after):
        return None
    # Compared as lists: a source's keys are the same objects poll after poll
    # (ServiceKey from the decoder's cache, RealServerKey from `rs_key`), so this is
    # an identity check per part at C speed; equal keys of other origins still
    # compare equal, field by field.
    keys = list(after)
    if keys != list(before):
        return None
    olds, news = list(before.values()), list(after.values())
    # Identity first, at C speed (a live reader hands out an unchanged status as the
    # same object); only the others are compared field by field.
    maybe = compress(range(len(keys)), map(is_not, olds, news))
    make = _make_change
    return [make(keys[i], olds[i], news[i]) for i in maybe if olds[i] != news[i]]


def _health(statuses: list[_StatusChange], out: _Events) -> None:
    for c in statuses:
        old = c.was.health if c.was is not None else Health.UNKNOWN
        if c.now.health is old:
            continue
        key, rs = c.rid
        label = real_server_label(rs)
        name = f"{label} in {_svc(key)}"
        if c.now.health is Health.DOWN:
            out.add(EventKind.RS_DOWN, CRITICAL, label, f"{name} is down{_why(c.now)}")
        elif c.now.health is Health.UP and old is Health.DOWN:
            out.add(EventKind.RS_UP, INFO, label, f"{name} is up again")


def _why(status: RealServerStatus) -> str:
    parts = []
    if status.failed_checkers is not None and status.checkers:
        parts.append(f"{status.failed_checkers} of {status.checkers} checkers failing")
    elif status.failed_checkers:
        parts.append(f"{status.failed_checkers} checkers failing")
    if status.last_error:
        parts.append(status.last_error)
    return f": {'; '.join(parts)}" if parts else ""


def _rs_order(rid: RsId) -> tuple[tuple[int, int, int, bytes, int], RealServerKey]:
    return rid[0].sort_key(), rid[1]


def _effective_weights(
    pk: KeepalivedState, ck: KeepalivedState, statuses: list[_StatusChange], out: _Events
) -> None:
    """Of servers in IPVS both times (a removed one's weight is not news)."""
    changed: list[tuple[RsId, int, int]] = []
    for c in statuses:
        was, now = c.was, c.now
        if was is None or was.effective_weight is None or now.effective_weight is None:
            continue
        if c.rid not in pk.real_servers or c.rid not in ck.real_servers:
            continue
        if was.effective_weight != now.effective_weight:
            changed.append((c.rid, was.effective_weight, now.effective_weight))
    for rs, old, new, keys in _by_server(changed):
        name = real_server_label(rs)
        out.add(
            EventKind.WEIGHT_CHANGED,
            WARNING if new == 0 else INFO,
            name,
            f"{name} in {_services(keys)}: keepalived's effective weight {old} -> {new}",
        )


# --------------------------------------------------------------------------- alarms, errors


def _alarm_key(a: VrrpAlarm) -> tuple[str, int, str]:
    return a.kind, a.vrid, a.interface or ""


def _alarms(before: Iterable[VrrpAlarm], after: Iterable[VrrpAlarm], out: _Events) -> None:
    old = {_alarm_key(a): a for a in before}
    new = {_alarm_key(a): a for a in after}
    for key, alarm in new.items():
        if key not in old:
            out.add(EventKind.WIRE_ALARM, alarm.severity, f"VRID {alarm.vrid}", alarm.message)
    for key, alarm in old.items():
        if key not in new:
            where = f" on {alarm.interface}" if alarm.interface else ""
            out.add(
                EventKind.WIRE_CLEAR,
                INFO,
                f"VRID {alarm.vrid}",
                f"cleared: {alarm.kind} for VRID {alarm.vrid}{where}",
            )


def _all_errors(snap: Snapshot) -> tuple[tuple[str, str], ...]:
    own = tuple(("lvstop", e) for e in snap.errors)
    if snap.keepalived is None:
        return own
    return own + tuple(("keepalived", e) for e in snap.keepalived.errors)


def _errors(
    before: tuple[tuple[str, str], ...], after: tuple[tuple[str, str], ...], out: _Events
) -> None:
    seen = set(before)
    for subject, message in after:
        if (subject, message) not in seen:
            seen.add((subject, message))
            out.add(EventKind.ERROR, WARNING, subject, message)


__all__ = ["Event", "EventKind", "events_between"]
