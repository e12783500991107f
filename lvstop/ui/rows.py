"""Row records of every console table, built from ConsoleState (no Textual here).

One small frozen record per row holds the raw values; the table formats only what
is on screen. Building these is the whole per-refresh cost, so it is one pass over
the snapshot with dictionary lookups, nothing quadratic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from lvstop.model.conns import ConnTable
from lvstop.model.diff import SnapshotDiff
from lvstop.model.events import Event
from lvstop.model.ipvs import (
    ZERO_RATES,
    Rates,
    RealServer,
    RealServerKey,
    Service,
    ServiceKey,
    rs_key,
)
from lvstop.model.keepalived import (
    AbsentRealServer,
    KeepalivedState,
    RealServerStatus,
    VrrpAlarm,
)
from lvstop.model.notation import hostport, service_label
from lvstop.model.vrrp import Health, VrrpInstance, WireSpeaker
from lvstop.ui.state import ConsoleState

RsId = tuple[ServiceKey, RealServerKey]


@dataclass(slots=True)
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


@dataclass(slots=True, eq=False)
class _Lookups:
    """What every row of one refresh shares: keepalived's statuses and lvstop's rates."""

    state: ConsoleState
    statuses: Mapping[RsId, RealServerStatus]
    own_rates: SnapshotDiff | None
    unexplained: frozenset[tuple[ServiceKey, RealServerKey | None]]


@dataclass(slots=True, eq=False)
class _ServiceContext:
    """What the rows of one service share (their service's totals for the share)."""

    key: ServiceKey
    label: str
    inbps: float
    active: int
    look: _Lookups


_new_row = tuple.__new__


class RealServerRow(tuple[Any, ...]):
    """One real server of one service: the tuple (context, server, position).

    Building 10,000 of these per refresh must stay cheap, so a row is a tuple made
    at C speed (`real_server_rows`: tuple.__new__ mapped over zip) that only holds
    references; lookups keyed by model keys (keepalived status, lvstop's rates) and
    display values are computed on access: for the rows on screen, or for every row
    only when sorting by that column. `key` too: the table reads it only for rows
    that moved.
    `rs` None: configured in keepalived but absent from IPVS (an `AbsentServerRow`,
    whose `absent`, keepalived's record, says why). `pos` is the server's place in
    the snapshot (its services in order, each one's servers in order; -1 when
    absent), where bulk columns of the model find its values. Rows compare and hash
    by identity, like the objects they were before they were tuples.
    """

    __slots__ = ()
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    if TYPE_CHECKING:

        @property
        def ctx(self) -> _ServiceContext: ...
        @property
        def rs(self) -> RealServer | None: ...
        @property
        def pos(self) -> int: ...
        @property
        def absent(self) -> AbsentRealServer | None: ...

    else:
        ctx = property(itemgetter(0))
        rs = property(itemgetter(1))
        pos = property(itemgetter(2))
        absent = None

    @property
    def key(self) -> tuple[str, str, int]:
        """(service, address, port): plain values, hashed when the rows moved."""
        rs = self[1]
        return (self[0].label, rs.address, rs.port)

    @property
    def _look(self) -> _Lookups:
        look: _Lookups = self[0].look
        return look

    @property
    def rid(self) -> RsId:
        key = self.key
        return (self.ctx.key, rs_key(key[1], key[2]))

    @property
    def service(self) -> str:
        return self.ctx.label

    @property
    def status(self) -> RealServerStatus | None:
        if self.absent is not None:
            return self.absent.status
        return self._look.statuses.get(self.rid) if self._look.statuses else None

    @property
    def rates(self) -> Rates:
        if self.rs is None:
            return ZERO_RATES
        own = self._look.own_rates
        return own.rates_of(self.ctx.key, self.rs) if own is not None else self.rs.rates

    @property
    def share(self) -> float | None:
        """Of the service's inbound bytes/s, else of its active connections."""
        if self.rs is None:
            return None
        if self.ctx.inbps > 0:
            return self.rates.inbps / self.ctx.inbps
        if self.ctx.active > 0:
            return self.rs.active_conns / self.ctx.active
        return None

    @property
    def drain_eta(self) -> float | None:
        return self._look.state.drain_eta(self.rid) if self.draining else None

    @property
    def in_ipvs(self) -> bool:
        return self.rs is not None

    @property
    def server(self) -> str:
        _, address, port = self.key
        return hostport(address, port)

    @property
    def forward(self) -> str:
        return self.rs.forward.ipvsadm if self.rs is not None else "-"

    @property
    def weight(self) -> int | None:
        return self.rs.weight if self.rs is not None else None

    @property
    def effective(self) -> int | None:
        status = self.status
        return status.effective_weight if status is not None else None

    @property
    def configured(self) -> int | None:
        status = self.status
        return status.configured_weight if status is not None else None

    @property
    def active(self) -> int:
        return self.rs.active_conns if self.rs is not None else 0

    @property
    def inactive(self) -> int:
        return self.rs.inactive_conns if self.rs is not None else 0

    @property
    def persistent(self) -> int:
        return self.rs.persistent_conns if self.rs is not None else 0

    @property
    def health(self) -> str:
        status = self.status
        if status is None:
            return "-" if self.rs is not None else "absent"
        return status.health.value

    @property
    def detail(self) -> str:
        why = _failing(self.status)
        if self.absent is not None:
            reason = self.absent.reason
            return f"{why} · not in IPVS: {reason}" if why else f"not in IPVS: {reason}"
        if self._look.unexplained and self.rid in self._look.unexplained:
            return "not in keepalived's configuration"
        return why

    @property
    def draining(self) -> bool:
        return self.rs is not None and self.rs.weight == 0

    @property
    def weights_differ(self) -> bool:
        known = {w for w in (self.weight, self.effective, self.configured) if w is not None}
        return len(known) > 1


class AbsentServerRow(RealServerRow):
    """A configured real server keepalived removed from IPVS (or never added): the
    tuple (context, None, -1, keepalived's record)."""

    __slots__ = ()

    if not TYPE_CHECKING:
        absent = property(itemgetter(3))

    @classmethod
    def of_absent(cls, ctx: _ServiceContext, absent: AbsentRealServer) -> AbsentServerRow:
        return _new_row(cls, (ctx, None, -1, absent))

    @property
    def key(self) -> tuple[str, str, int]:
        a = self[3]
        return (self[0].label, a.address, a.port)


def rate_values(name: str) -> Callable[[Sequence[RealServerRow]], list[float]]:
    """`row.rates.<name>` of many rows in one pass: the bulk values of a rate column.

    Sorting by a rate needs every row's: a Rates object per row, through the row's
    property, was most of such a refresh. lvstop's own rates come as one column in
    snapshot order (`SnapshotDiff.rate_column`), picked by each row's position."""
    rate = attrgetter(f"rates.{name}")  # of a row, or of a RealServer: the kernel's

    def values(rows: Sequence[RealServerRow]) -> list[float]:
        if not rows:
            return []
        look = rows[0]._look
        # Comprehensions reading the tuple's items: on 3.11 they beat map() over
        # getters (which call a C function per item) by half.
        if [r for r in rows if r[0].look is not look]:
            return list(map(rate, rows))  # rows of different refreshes
        own = look.own_rates
        if own is None:  # the kernel's rates (ZERO_RATES for a row absent from IPVS)
            return [rate(row.rs) if row.rs is not None else 0.0 for row in rows]
        # Position -1 (absent from IPVS) picks the 0.0 appended at the end.
        picked = (*own.rate_column(name), 0.0)
        return [picked[r[2]] for r in rows]

    return values


def share_values(rows: Sequence[RealServerRow]) -> list[float | None]:
    """`row.share` of many rows in one pass (a sort by the share): the inbound bytes/s
    from the bulk rate, the rest as the property computes it."""
    inbps = rate_values("inbps")(rows)
    out: list[float | None] = []
    for row, rate in zip(rows, inbps, strict=True):
        ctx = row.ctx
        if row.rs is None:
            out.append(None)
        elif ctx.inbps > 0:
            out.append(rate / ctx.inbps)
        elif ctx.active > 0:
            out.append(row.rs.active_conns / ctx.active)
        else:
            out.append(None)
    return out


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


@lru_cache(maxsize=1 << 16)
def label(key: ServiceKey) -> str:
    """service_label, remembered: every row of every refresh shows one."""
    return service_label(key)


def _down_servers(
    statuses: Mapping[RsId, RealServerStatus],
) -> dict[ServiceKey, set[tuple[str, int]]]:
    """(address, port) of the servers keepalived says are down, per service."""
    down = Health.DOWN
    out: dict[ServiceKey, set[tuple[str, int]]] = {}
    for (key, rs), status in statuses.items():
        if status.health is down:
            out.setdefault(key, set()).add((rs.address, rs.port))
    return out


def service_rows(state: ConsoleState) -> list[ServiceRow]:
    snap = state.snapshot
    if snap is None:
        return []
    ka = snap.keepalived
    unmanaged = {u.service for u in ka.unexplained if u.real_server is None} if ka else set()
    absent: dict[ServiceKey, int] = {}
    statuses = ka.real_servers if ka is not None else {}
    if ka is not None:
        for a in ka.absent_real_servers:
            absent[a.service] = absent.get(a.service, 0) + 1
    down = _down_servers(statuses)
    rows = []
    for svc in snap.services:
        key = svc.key
        rss = svc.real_servers
        active = sum([rs.active_conns for rs in rss])
        inactive = sum([rs.inactive_conns for rs in rss])
        # Up = would get new connections: positive weight, not failing its checks.
        weights = [rs.weight for rs in rss]
        up = len(weights) - weights.count(0)
        failing = down.get(key)
        if failing:
            up -= sum(1 for rs in rss if rs.weight > 0 and (rs.address, rs.port) in failing)
        rows.append(
            ServiceRow(
                key=key,
                label=label(key),
                scheduler=svc.scheduler,
                persist=_persist(svc),
                vip=_vip(svc),
                role=_role(ka, key),
                up=up,
                total=len(svc.real_servers) + absent.get(key, 0),
                active=active,
                inactive=inactive,
                rates=state.service_rates(key, svc.rates),
                trend=state.cps.series(key),
                managed=key not in unmanaged,
            )
        )
    return rows


def _failing(status: RealServerStatus | None) -> str:
    """'HTTP_GET failed: /index.html (1/1 checks failing)' for a server that is down:
    the error first, so a narrow column still shows what is wrong."""
    if status is None or status.health is not Health.DOWN:
        return ""
    count = ""
    if status.failed_checkers:
        count = f"{status.failed_checkers}/{status.checkers or '?'} checks failing"
    if status.last_error:
        return f"{status.last_error} ({count})" if count else status.last_error
    return count


def real_server_rows(state: ConsoleState, service: ServiceKey | None = None) -> list[RealServerRow]:
    """Every real server (of one service when `service` is given), plus configured
    ones keepalived removed from IPVS, so a down server never silently disappears."""
    snap = state.snapshot
    if snap is None:
        return []
    ka = snap.keepalived
    d = state.diff
    look = _Lookups(
        state,
        ka.real_servers if ka is not None else {},
        d if d is not None and d.interval > 0 else None,
        frozenset((u.service, u.real_server) for u in ka.unexplained) if ka else frozenset(),
    )
    rows: list[RealServerRow] = []
    contexts: dict[ServiceKey, _ServiceContext] = {}
    only = snap.service(service) if service is not None else None
    end = 0
    for svc in snap.services:
        rss = svc.real_servers
        start, end = end, end + len(rss)
        if service is not None and svc is not only:
            continue
        key = svc.key
        inbps = state.service_rates(key, svc.rates).inbps
        active = 0 if inbps > 0 else sum([rs.active_conns for rs in rss])
        ctx = contexts[key] = _ServiceContext(key, label(key), inbps, active, look)
        # tuple.__new__ by map over zip: no Python call per row.
        rows.extend(map(_new_row, repeat(RealServerRow), zip(repeat(ctx), rss, range(start, end))))
    if ka is not None:
        for a in ka.absent_real_servers:
            if service is not None and a.service != service:
                continue
            ctx = contexts.get(a.service) or _ServiceContext(
                a.service, label(a.service), 0.0, 0, look
            )
            rows.append(AbsentServerRow.of_absent(ctx, a))
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
