"""The inverse of serialize.py: an "lvstop.snapshot/1" document back into a Snapshot.

Why: a recording (`lvstop record`, or `lvstop snapshot --json` lines) replayed into
the console must be the same frozen model the live director produces, so the UI,
diff() and the events code cannot tell a replay from the real thing. One schema, one
writer, this one reader; a round-trip test keeps them inverse.

The document has no monotonic clock, so the caller says which monotonic time the
snapshot was taken at; wire speakers' ages and the listener's age are turned back
into monotonic times against it. What the writer does not keep comes back as the
kernel would have it: every listed service carries the HASHED flag, a service
without persistence has timeout 0 and the full netmask of its family. Fields added
within lvstop.snapshot/1 (the keepalived ones) may be missing, as in older documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from operator import itemgetter
from types import MappingProxyType
from typing import Any, TypeVar

from lvstop.model.conns import ConnKey, ConnTable
from lvstop.model.ipvs import (
    SVC_F_HASHED,
    SVC_F_ONEPACKET,
    SVC_F_PERSISTENT,
    SVC_F_SCHED1,
    SVC_F_SCHED2,
    SVC_F_SCHED3,
    Counters,
    Family,
    Forward,
    Protocol,
    Rates,
    RealServer,
    RealServerKey,
    Service,
    ServiceKey,
    Totals,
)
from lvstop.model.keepalived import (
    AbsentRealServer,
    KeepalivedState,
    RealServerStatus,
    RsId,
    ServiceVrrp,
    UnexplainedEntry,
    VrrpAlarm,
)
from lvstop.model.serialize import SCHEMA_ID, TUNNEL_FLAGS, TUNNEL_TYPES
from lvstop.model.snapshot import Snapshot, SourceKind
from lvstop.model.vrrp import (
    Health,
    KeepalivedProcess,
    KeepalivedProcesses,
    VrrpCounters,
    VrrpInstance,
    VrrpState,
    WireSpeaker,
)

T = TypeVar("T")


class SnapshotFormatError(ValueError):
    """Not a readable lvstop.snapshot/1 document; the message names the field."""


_FAMILIES = {f.label: f for f in Family}
_PROTOCOLS = {p.label: p for p in Protocol}
_FORWARDS = {f.label: f for f in Forward}
_TUNNEL_TYPES = {name: number for number, name in TUNNEL_TYPES.items()}
_TUNNEL_FLAGS = {name: bit for bit, name in TUNNEL_FLAGS}
_HEALTH = {h.value: h for h in Health}
_VRRP_STATES = {s.value: s for s in VrrpState}
_SOURCES = {s.value: s for s in SourceKind}


_MISSING = object()


class _Obj:
    """One JSON object and where it sits in the document, for error messages.

    Hot path (a recording replays thousands of real servers per second): the usual
    well-typed value costs one dict lookup and one type check; the path for a message
    is only put together when something is wrong.
    """

    __slots__ = ("data", "index", "name", "parent")

    def __init__(
        self, data: object, parent: _Obj | None = None, name: str = "", index: int = -1
    ) -> None:
        self.parent, self.name, self.index = parent, name, index
        if type(data) is not dict:
            raise SnapshotFormatError(f"{self.path or 'document'}: expected an object")
        self.data: dict[str, Any] = data

    @property
    def path(self) -> str:
        if self.parent is None:
            return self.name
        here = self.name if self.index < 0 else f"{self.name}[{self.index}]"
        up = self.parent.path
        return f"{up}.{here}" if up else here

    def _at(self, key: str) -> str:
        path = self.path
        return f"{path}.{key}" if path else key

    def _get(self, key: str, optional: bool) -> object:
        v = self.data.get(key, _MISSING)
        if v is _MISSING:
            if optional:
                return None
            raise SnapshotFormatError(f"{self._at(key)}: missing")
        return v

    def _bad(self, key: str, what: str) -> SnapshotFormatError:
        return SnapshotFormatError(f"{self._at(key)}: expected {what}, got {self.data[key]!r}")

    def integer(self, key: str) -> int:
        v = self.data.get(key)
        if type(v) is int:
            return v
        self._get(key, False)
        raise self._bad(key, "an integer")

    def opt_integer(self, key: str, *, optional: bool = False) -> int | None:
        v = self._get(key, optional)
        if v is None:
            return None
        return self.integer(key)

    def number(self, key: str) -> float:
        v = self.data.get(key)
        if type(v) is int or type(v) is float:
            return float(v)
        self._get(key, False)
        raise self._bad(key, "a number")

    def opt_number(self, key: str) -> float | None:
        return None if self._get(key, False) is None else self.number(key)

    def text(self, key: str) -> str:
        v = self.data.get(key)
        if type(v) is str:
            return v
        self._get(key, False)
        raise self._bad(key, "a string")

    def opt_text(self, key: str, *, optional: bool = False) -> str | None:
        return None if self._get(key, optional) is None else self.text(key)

    def boolean(self, key: str) -> bool:
        v = self._get(key, False)
        if type(v) is not bool:
            raise self._bad(key, "true or false")
        return v

    def opt_boolean(self, key: str, *, optional: bool = False) -> bool | None:
        return None if self._get(key, optional) is None else self.boolean(key)

    def obj(self, key: str) -> _Obj:
        return _Obj(self._get(key, False), self, key)

    def opt_obj(self, key: str, *, optional: bool = False) -> _Obj | None:
        v = self._get(key, optional)
        return None if v is None else _Obj(v, self, key)

    def array(self, key: str) -> list[object]:
        v = self._get(key, False)
        if type(v) is not list:
            raise self._bad(key, "a list")
        return v

    def objs(self, key: str) -> list[_Obj]:
        return [_Obj(item, self, key, i) for i, item in enumerate(self.array(key))]

    def texts(self, key: str) -> tuple[str, ...]:
        items = self.array(key)
        if not all(type(s) is str for s in items):
            raise self._bad(key, "a list of strings")
        return tuple(str(s) for s in items)

    def choice(self, key: str, names: Mapping[str, T]) -> T:
        v = self.data.get(key)
        if type(v) is str and v in names:
            return names[v]
        self._get(key, False)
        raise self._bad(key, "one of " + ", ".join(names))

    def time(self, key: str) -> float:
        text = self.text(key)
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            raise self._bad(key, "an RFC 3339 time") from None
        if t.tzinfo is None:
            raise self._bad(key, "an RFC 3339 time with a zone")
        return t.timestamp()

    def opt_time(self, key: str) -> float | None:
        return None if self._get(key, False) is None else self.time(key)


def snapshot_from_json(
    doc: object, *, monotonic: float | None = None, source: SourceKind | None = None
) -> Snapshot:
    """The Snapshot a document describes.

    `monotonic` is the snapshot's monotonic time (default: its wall time);
    `source` overrides the recorded source (a replay says "replay"). `interval`
    and `interval_rates` are not read: they are diff() results, recomputed from
    consecutive snapshots. Raises SnapshotFormatError naming the first bad field.
    """
    d = _Obj(doc)
    schema = d.text("schema")
    if schema != SCHEMA_ID:
        raise SnapshotFormatError(f"schema: expected {SCHEMA_ID!r}, got {schema!r}")
    wall = d.time("taken_at")
    mono = wall if monotonic is None else monotonic
    kind = d.choice("source", _SOURCES)
    k = d.opt_obj("keepalived", optional=True)
    owners: dict[ServiceKey, ServiceVrrp] = {}
    statuses: dict[RsId, RealServerStatus] = {}
    services = tuple(_service(s, owners, statuses) for s in d.objs("services"))
    totals_doc = d.opt_obj("totals")
    totals = None
    if totals_doc is not None:
        totals = Totals(_counters(totals_doc.obj("stats")), _rates(totals_doc.obj("rates")))
    conns_doc = d.opt_obj("connections")
    return Snapshot(
        wall_time=wall,
        monotonic=mono,
        host=d.text("host"),
        source=source if source is not None else kind,
        services=services,
        totals=totals,
        errors=d.texts("errors"),
        connections=None if conns_doc is None else _connections(conns_doc),
        keepalived=None if k is None else _keepalived(k, mono, owners, statuses),
    )


_COUNTER_KEYS = ("conns", "inpkts", "outpkts", "inbytes", "outbytes")
_RATE_KEYS = ("cps", "inpps", "outpps", "inbps", "outbps")
_RS_INT_KEYS = (
    "port", "weight", "u_threshold", "l_threshold",
    "active_conns", "inactive_conns", "persistent_conns",
)  # fmt: skip
_GET_COUNTERS = itemgetter(*_COUNTER_KEYS)
_GET_RATES = itemgetter(*_RATE_KEYS)
_GET_RS_INTS = itemgetter(*_RS_INT_KEYS)


def _integers(o: _Obj, get: itemgetter[Any], keys: tuple[str, ...]) -> tuple[int, ...]:
    """Several integer fields at once: one C-level lookup, one check per value; the
    field-by-field path (and its exact message) only when something is off."""
    try:
        values: tuple[Any, ...] = get(o.data)
    except KeyError:
        values = ()
    if values and all(type(v) is int for v in values):
        return values
    return tuple(o.integer(k) for k in keys)


def _counters(o: _Obj) -> Counters:
    return Counters(*_integers(o, _GET_COUNTERS, _COUNTER_KEYS))


def _rates(o: _Obj) -> Rates:
    try:
        values: tuple[Any, ...] = _GET_RATES(o.data)
    except KeyError:
        values = ()
    if values and all(type(v) is int or type(v) is float for v in values):
        return Rates(*map(float, values))
    return Rates(*(o.number(k) for k in _RATE_KEYS))


def _service_key(o: _Obj) -> ServiceKey:
    family = o.choice("family", _FAMILIES)
    fwmark = o.opt_integer("fwmark")
    if fwmark is not None:
        return ServiceKey.mark(fwmark, family)
    protocol = o.choice("protocol", _PROTOCOLS)
    port = o.integer("port")
    return ServiceKey(family, protocol, o.text("address"), port, 0)


def _flags(o: _Obj, scheduler: str) -> int:
    sched = (
        (f"{scheduler}-fallback", f"{scheduler}-port", "flag-3")
        if scheduler in ("sh", "mh")
        else ("flag-1", "flag-2", "flag-3")
    )
    bits = {
        "persistent": SVC_F_PERSISTENT,
        "one-packet": SVC_F_ONEPACKET,
        **dict(zip(sched, (SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3), strict=True)),
    }
    flags = SVC_F_HASHED  # every service the kernel lists is hashed
    for name in o.texts("flags"):
        if name not in bits:
            raise SnapshotFormatError(f"{o.path}.flags: unknown flag {name!r} for {scheduler}")
        flags |= bits[name]
    return flags


def _status(o: _Obj) -> RealServerStatus | None:
    """keepalived's fields of a real server (None when all are null)."""
    if o.opt_text("health", optional=True) is None:
        return None  # (documents from before the keepalived fields have none of them)
    return RealServerStatus(
        configured_weight=o.opt_integer("configured_weight"),
        effective_weight=o.opt_integer("effective_weight"),
        health=o.choice("health", _HEALTH),
        failed_checkers=o.opt_integer("failed_checkers"),
        checkers=o.opt_integer("checkers", optional=True),
        last_error=o.opt_text("last_error", optional=True),
        inhibit_on_failure=o.opt_boolean("inhibit_on_failure", optional=True),
    )


def _service(
    o: _Obj, owners: dict[ServiceKey, ServiceVrrp], statuses: dict[RsId, RealServerStatus]
) -> Service:
    key = _service_key(o)
    scheduler = o.text("scheduler")
    flags = _flags(o, scheduler)
    timeout = o.opt_integer("persistence_timeout")
    netmask = o.opt_integer("persistence_netmask")
    full = 32 if key.family is Family.INET else 128
    instance = o.opt_text("vrrp_instance", optional=True)
    if instance is not None:
        role = o.opt_text("vrrp_role", optional=True)
        owners[key] = ServiceVrrp(
            instance, None if role is None else o.choice("vrrp_role", _VRRP_STATES)
        )
    real_servers = []
    for r in o.objs("real_servers"):
        rs = _real_server(r)
        status = _status(r)
        if status is not None:
            statuses[(key, rs.key)] = status
        real_servers.append(rs)
    return Service(
        key,
        scheduler,
        flags=flags,
        timeout=timeout or 0,
        netmask=full if netmask is None else netmask,
        pe_name=o.opt_text("persistence_engine"),
        stats=_counters(o.obj("stats")),
        rates=_rates(o.obj("rates")),
        real_servers=tuple(real_servers),
        vip_present=o.opt_boolean("vip_present"),
        vip_interface=o.opt_text("vip_interface"),
    )


def _real_server(o: _Obj) -> RealServer:
    tun_type = tun_port = tun_flags = 0
    tunnel = o.opt_obj("tunnel")
    if tunnel is not None:
        tun_type = tunnel.choice("type", _TUNNEL_TYPES)
        tun_port = tunnel.opt_integer("port") or 0
        for name in tunnel.texts("flags"):
            if name not in _TUNNEL_FLAGS:
                raise SnapshotFormatError(f"{tunnel.path}.flags: unknown tunnel flag {name!r}")
            tun_flags |= _TUNNEL_FLAGS[name]
    port, weight, u_threshold, l_threshold, active, inactive, persistent = _integers(
        o, _GET_RS_INTS, _RS_INT_KEYS
    )
    return RealServer(
        address=o.text("address"),
        port=port,
        forward=o.choice("forward", _FORWARDS),
        weight=weight,
        u_threshold=u_threshold,
        l_threshold=l_threshold,
        active_conns=active,
        inactive_conns=inactive,
        persistent_conns=persistent,
        stats=_counters(o.obj("stats")),
        rates=_rates(o.obj("rates")),
        family=o.choice("family", _FAMILIES),
        tun_type=tun_type,
        tun_port=tun_port,
        tun_flags=tun_flags,
    )


def _connections(o: _Obj) -> ConnTable:
    groups = tuple(
        (
            ConnKey(
                g.text("protocol"),
                g.text("virtual_address"),
                g.integer("virtual_port"),
                g.text("real_address"),
                g.integer("real_port"),
                g.text("state"),
            ),
            g.integer("count"),
        )
        for g in o.objs("groups")
    )
    return ConnTable(
        entries=o.integer("entries"),
        templates=o.integer("templates"),
        groups=groups,
        top_clients=tuple((c.text("address"), c.integer("count")) for c in o.objs("top_clients")),
        clients_exact=o.boolean("clients_exact"),
        clients_error=o.integer("clients_error"),
        truncated=o.boolean("truncated"),
    )


def _instance(o: _Obj) -> VrrpInstance:
    c = o.obj("counters")
    return VrrpInstance(
        name=o.text("name"),
        vrid=o.integer("vrid"),
        interface=o.text("interface"),
        state=o.choice("state", _VRRP_STATES),
        base_priority=o.integer("base_priority"),
        effective_priority=o.integer("effective_priority"),
        advert_int=o.number("advert_int"),
        vips=o.texts("vips"),
        vips_present=o.texts("vips_present"),
        master_router=o.opt_text("master_router"),
        master_priority=o.opt_integer("master_priority"),
        last_transition=o.opt_time("last_transition"),
        sync_group=o.opt_text("sync_group"),
        nopreempt=o.boolean("nopreempt"),
        counters=VrrpCounters(
            adverts_received=c.integer("adverts_received"),
            adverts_sent=c.integer("adverts_sent"),
            became_master=c.integer("became_master"),
            released_master=c.integer("released_master"),
            packet_errors=c.integer("packet_errors"),
            auth_errors=c.integer("auth_errors"),
            priority_zero_received=c.integer("priority_zero_received"),
            priority_zero_sent=c.integer("priority_zero_sent"),
        ),
    )


def _speaker(o: _Obj, mono: float) -> WireSpeaker:
    return WireSpeaker(
        vrid=o.integer("vrid"),
        interface=o.text("interface"),
        source=o.text("source"),
        priority=o.integer("priority"),
        advert_int=o.number("advert_int"),
        vips=o.texts("vips"),
        auth_type=o.integer("auth_type"),
        version=o.integer("version"),
        last_seen=mono - o.number("age"),
        adverts=o.integer("adverts"),
    )


def _absent(o: _Obj) -> AbsentRealServer:
    return AbsentRealServer(
        service=_service_key(o.obj("service")),
        address=o.text("address"),
        port=o.integer("port"),
        status=_status(o) or RealServerStatus(),
        service_in_ipvs=o.boolean("service_in_ipvs"),
        reason=o.text("reason"),
    )


def _unexplained(o: _Obj) -> UnexplainedEntry:
    rs = o.opt_obj("real_server")
    return UnexplainedEntry(
        service=_service_key(o.obj("service")),
        real_server=None if rs is None else RealServerKey(rs.text("address"), rs.integer("port")),
        reason=o.text("reason"),
    )


def _keepalived(
    o: _Obj,
    mono: float,
    owners: dict[ServiceKey, ServiceVrrp],
    statuses: dict[RsId, RealServerStatus],
) -> KeepalivedState:
    listening = o.opt_number("wire_listening")
    return KeepalivedState(
        processes=KeepalivedProcesses(
            tuple(
                KeepalivedProcess(p.text("role"), p.integer("pid"), p.boolean("alive"))
                for p in o.objs("processes")
            )
        ),
        config_file=o.opt_text("config_file"),
        instances=tuple(_instance(i) for i in o.objs("instances")),
        services=MappingProxyType(owners),
        real_servers=MappingProxyType(statuses),
        absent_real_servers=tuple(_absent(a) for a in o.objs("absent_real_servers")),
        unexplained=tuple(_unexplained(u) for u in o.objs("unexplained")),
        wire=tuple(_speaker(w, mono) for w in o.objs("wire")),
        wire_since=None if listening is None else mono - listening,
        alarms=tuple(
            VrrpAlarm(
                kind=a.text("kind"),
                severity=a.text("severity"),
                vrid=a.integer("vrid"),
                interface=a.opt_text("interface"),
                sources=a.texts("sources"),
                message=a.text("message"),
            )
            for a in o.objs("alarms")
        ),
        notes=o.texts("notes"),
        errors=o.texts("errors"),
    )
