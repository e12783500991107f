"""Row records of every console table, built from ConsoleState (no Textual here).

One small frozen record per row holds the raw values; the table formats only what
is on screen. Building these is the whole per-refresh cost, so it is one pass over
the snapshot with dictionary lookups, nothing quadratic.
"""

from __future__ import annotations

from dataclasses import dataclass

from lvstop.model.conns import ConnTable
from lvstop.model.events import Event
from lvstop.model.ipvs import Rates, RealServerKey, Service, ServiceKey
from lvstop.model.keepalived import KeepalivedState, RealServerStatus, VrrpAlarm
from lvstop.model.notation import hostport, service_label
from lvstop.model.vrrp import Health, VrrpInstance, WireSpeaker
from lvstop.ui.state import ConsoleState

RsId = tuple[ServiceKey, RealServerKey]


@dataclass(frozen=True, slots=True)
class ServiceRow:
    key: ServiceKey
    label: str
    scheduler: str
    persist: str
    vip: str
    role: str
    up: int
    total: int
    active: int
    inactive: int
    rates: Rates
    trend: tuple[float, ...]
    managed: bool

    @property
    def servers(self) -> tuple[int, int]:
        """Sorts by how many are down, then by size."""
        return (self.up - self.total, self.total)


@dataclass(frozen=True, slots=True)
class RealServerRow:
    key: RsId
    service: str
    server: str
    forward: str
    weight: int | None
    effective: int | None
    configured: int | None
    health: str
    detail: str
    active: int
    inactive: int
    persistent: int
    rates: Rates
    share: float | None
    drain_eta: float | None
    in_ipvs: bool

    @property
    def draining(self) -> bool:
        return self.in_ipvs and self.weight == 0

    @property
    def weights_differ(self) -> bool:
        known = {w for w in (self.weight, self.effective, self.configured) if w is not None}
        return len(known) > 1


@dataclass(frozen=True, slots=True)
class InstanceRow:
    key: str
    instance: VrrpInstance
    age: float | None

    @property
    def vips(self) -> str:
        i = self.instance
        return f"{len(i.vips_present)}/{len(i.vips)}"


@dataclass(frozen=True, slots=True)
class SpeakerRow:
    key: tuple[int, str, str]
    speaker: WireSpeaker
    seen_ago: float
    alarm: str | None


@dataclass(frozen=True, slots=True)
class ConnRow:
    key: tuple[str, str, str]
    service: str
    server: str
    state: str
    count: int


@dataclass(frozen=True, slots=True)
class ClientRow:
    key: str
    client: str
    count: int


@dataclass(frozen=True, slots=True)
class EventRow:
    key: int
    wall_time: float
    severity: str
    kind: str
    subject: str
    message: str


def _persist(svc: Service) -> str:
    if not svc.persistent:
        return "-"
    default_mask = 128 if ":" in (svc.key.address or "") else 32
    return str(svc.timeout) + ("" if svc.netmask == default_mask else f"/{svc.netmask}")


def _vip(svc: Service) -> str:
    if svc.vip_present is None:
        return "-"
    return (svc.vip_interface or "here") if svc.vip_present else "absent"


def _role(ka: KeepalivedState | None, key: ServiceKey) -> str:
    owner = ka.service(key) if ka is not None else None
    if owner is None:
        return "-"
    return owner.role.value if owner.role is not None else "?"


def service_rows(state: ConsoleState) -> list[ServiceRow]:
    snap = state.snapshot
    if snap is None:
        return []
    ka = snap.keepalived
    unmanaged = {u.service for u in ka.unexplained if u.real_server is None} if ka else set()
    down = _down_counts(ka)
    rows = []
    for svc in snap.services:
        total = len(svc.real_servers) + down.get(svc.key, (0, 0))[1]
        up = sum(1 for rs in svc.real_servers if _is_up(ka, svc.key, rs.key, rs.weight))
        rows.append(
            ServiceRow(
                key=svc.key,
                label=service_label(svc.key),
                scheduler=svc.scheduler,
                persist=_persist(svc),
                vip=_vip(svc),
                role=_role(ka, svc.key),
                up=up,
                total=total,
                active=sum(rs.active_conns for rs in svc.real_servers),
                inactive=sum(rs.inactive_conns for rs in svc.real_servers),
                rates=state.service_rates(svc.key, svc.rates),
                trend=state.cps.series(svc.key),
                managed=ka is None or svc.key not in unmanaged,
            )
        )
    return rows


def _down_counts(ka: KeepalivedState | None) -> dict[ServiceKey, tuple[int, int]]:
    """Per service: configured real servers missing from IPVS (counted as down)."""
    out: dict[ServiceKey, tuple[int, int]] = {}
    if ka is None:
        return out
    for a in ka.absent_real_servers:
        n = out.get(a.service, (0, 0))[1]
        out[a.service] = (0, n + 1)
    return out


def _is_up(ka: KeepalivedState | None, key: ServiceKey, rs: RealServerKey, weight: int) -> bool:
    """Up = would receive new connections: positive weight and not failing its checks."""
    if weight <= 0:
        return False
    status = ka.real_server(key, rs) if ka is not None else None
    return status is None or status.health is not Health.DOWN


def _health(status: RealServerStatus | None) -> tuple[str, str]:
    if status is None:
        return "-", ""
    detail = ""
    if status.health is Health.DOWN:
        if status.failed_checkers:
            detail = f"{status.failed_checkers}/{status.checkers or '?'} checks failing"
        if status.last_error:
            detail = f"{detail}: {status.last_error}" if detail else status.last_error
    return status.health.value, detail


def real_server_rows(state: ConsoleState, service: ServiceKey | None = None) -> list[RealServerRow]:
    """Every real server (of one service when `service` is given), plus configured
    ones keepalived removed from IPVS, so a down server never silently disappears."""
    snap = state.snapshot
    if snap is None:
        return []
    ka = snap.keepalived
    unexplained = {(u.service, u.real_server) for u in ka.unexplained} if ka else set()
    rows: list[RealServerRow] = []
    for svc in snap.services:
        if service is not None and svc.key != service:
            continue
        label = service_label(svc.key)
        svc_rates = state.service_rates(svc.key, svc.rates)
        svc_active = sum(rs.active_conns for rs in svc.real_servers)
        for rs in svc.real_servers:
            status = ka.real_server(svc.key, rs.key) if ka is not None else None
            health, detail = _health(status)
            if (svc.key, rs.key) in unexplained:
                detail = "not in keepalived's configuration"
            rates = state.real_server_rates(svc.key, rs.key, rs.rates)
            if svc_rates.inbps > 0:
                share: float | None = rates.inbps / svc_rates.inbps
            elif svc_active > 0:
                share = rs.active_conns / svc_active
            else:
                share = None
            rid = (svc.key, rs.key)
            rows.append(
                RealServerRow(
                    key=rid,
                    service=label,
                    server=hostport(rs.address, rs.port),
                    forward=rs.forward.ipvsadm,
                    weight=rs.weight,
                    effective=status.effective_weight if status else None,
                    configured=status.configured_weight if status else None,
                    health=health,
                    detail=detail,
                    active=rs.active_conns,
                    inactive=rs.inactive_conns,
                    persistent=rs.persistent_conns,
                    rates=rates,
                    share=share,
                    drain_eta=state.drain_eta(rid) if rs.weight == 0 else None,
                    in_ipvs=True,
                )
            )
    if ka is not None:
        for a in ka.absent_real_servers:
            if service is not None and a.service != service:
                continue
            health, detail = _health(a.status)
            rows.append(
                RealServerRow(
                    key=(a.service, RealServerKey(a.address, a.port)),
                    service=service_label(a.service),
                    server=hostport(a.address, a.port),
                    forward="-",
                    weight=None,
                    effective=a.status.effective_weight,
                    configured=a.status.configured_weight,
                    health=health if health != "-" else "absent",
                    detail=f"not in IPVS: {a.reason}" + (f" ({detail})" if detail else ""),
                    active=0,
                    inactive=0,
                    persistent=0,
                    rates=Rates(),
                    share=None,
                    drain_eta=None,
                    in_ipvs=False,
                )
            )
    return rows


def instance_rows(state: ConsoleState) -> list[InstanceRow]:
    snap = state.snapshot
    if snap is None or snap.keepalived is None:
        return []
    return [
        InstanceRow(
            key=i.name,
            instance=i,
            age=snap.wall_time - i.last_transition if i.last_transition is not None else None,
        )
        for i in snap.keepalived.instances
    ]


def speaker_rows(state: ConsoleState) -> list[SpeakerRow]:
    snap = state.snapshot
    if snap is None or snap.keepalived is None:
        return []
    ka = snap.keepalived
    alarmed = {a.vrid: a for a in ka.alarms}
    rows = []
    for sp in ka.wire:
        alarm = alarmed.get(sp.vrid)
        rows.append(
            SpeakerRow(
                key=(sp.vrid, sp.interface, sp.source),
                speaker=sp,
                seen_ago=max(0.0, snap.monotonic - sp.last_seen),
                alarm=alarm.kind if alarm is not None else None,
            )
        )
    return rows


def alarms(state: ConsoleState) -> tuple[VrrpAlarm, ...]:
    snap = state.snapshot
    if snap is None or snap.keepalived is None:
        return ()
    return snap.keepalived.alarms


def conn_rows(table: ConnTable) -> list[ConnRow]:
    rows = []
    for key, n in table.groups:
        service = (
            f"FWM  {key.vaddr}"
            if key.protocol == "IP"
            else f"{key.protocol:<4} {hostport(key.vaddr, key.vport)}"
        )
        server = hostport(key.daddr, key.dport)
        rows.append(ConnRow((service, server, key.state), service, server, key.state, n))
    return rows


def client_rows(table: ConnTable) -> list[ClientRow]:
    return [ClientRow(addr, addr, n) for addr, n in table.top_clients]


def event_rows(events: tuple[Event, ...], first: int = 0) -> list[EventRow]:
    """Oldest first in; each keyed by its position in the session (`first` is the
    number of older events already dropped), so keys stay stable as the log rolls."""
    return [
        EventRow(first + i, e.wall_time, e.severity, e.kind.value, e.subject, e.message)
        for i, e in enumerate(events)
    ]
