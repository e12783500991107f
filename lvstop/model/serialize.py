"""The public JSON form of a snapshot ("lvstop.snapshot/1").

The schema shipped in lvstop/schemas/snapshot.schema.json describes exactly what
this module emits; a test validates one against the other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lvstop.model.conns import ConnTable
from lvstop.model.diff import SnapshotDiff
from lvstop.model.ipvs import Counters, Forward, Rates, RealServer, Service, ServiceKey
from lvstop.model.keepalived import (
    AbsentRealServer,
    KeepalivedState,
    RealServerStatus,
    UnexplainedEntry,
)
from lvstop.model.snapshot import Snapshot
from lvstop.model.vrrp import VrrpInstance, WireSpeaker

SCHEMA_ID = "lvstop.snapshot/1"
TUNNEL_TYPES = {0: "ipip", 1: "gue", 2: "gre"}
TUNNEL_FLAGS = ((1, "csum"), (2, "remcsum"))

JSON = dict[str, Any]


def rfc3339(wall_time: float) -> str:
    """UTC with microseconds and a Z, e.g. 2026-11-28T09:00:00.000000Z."""
    return datetime.fromtimestamp(wall_time, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def counters_json(c: Counters) -> JSON:
    return {
        "conns": c.conns,
        "inpkts": c.inpkts,
        "outpkts": c.outpkts,
        "inbytes": c.inbytes,
        "outbytes": c.outbytes,
    }


def rates_json(r: Rates) -> JSON:
    def num(v: float) -> float | int:
        return int(v) if float(v).is_integer() else round(v, 3)

    return {
        "cps": num(r.cps),
        "inpps": num(r.inpps),
        "outpps": num(r.outpps),
        "inbps": num(r.inbps),
        "outbps": num(r.outbps),
    }


def _tunnel(rs: RealServer) -> JSON | None:
    if rs.forward is not Forward.TUNNEL:
        return None
    return {
        "type": TUNNEL_TYPES.get(rs.tun_type, str(rs.tun_type)),
        "port": rs.tun_port or None,
        "flags": [name for bit, name in TUNNEL_FLAGS if rs.tun_flags & bit],
    }


def keepalived_rs_json(status: RealServerStatus | None) -> JSON:
    """The keepalived fields of a real server; all null when keepalived says nothing."""
    if status is None:
        return {
            "configured_weight": None,
            "effective_weight": None,
            "health": None,
            "failed_checkers": None,
            "last_error": None,
            "checkers": None,
            "inhibit_on_failure": None,
        }
    return {
        "configured_weight": status.configured_weight,
        "effective_weight": status.effective_weight,
        "health": status.health.value,
        "failed_checkers": status.failed_checkers,
        "last_error": status.last_error,
        "checkers": status.checkers,
        "inhibit_on_failure": status.inhibit_on_failure,
    }


def real_server_json(
    rs: RealServer, interval_rates: Rates | None, status: RealServerStatus | None = None
) -> JSON:
    return {
        "address": rs.address,
        "port": rs.port,
        "family": rs.family.label,
        "forward": rs.forward.label,
        "weight": rs.weight,
        "u_threshold": rs.u_threshold,
        "l_threshold": rs.l_threshold,
        "active_conns": rs.active_conns,
        "inactive_conns": rs.inactive_conns,
        "persistent_conns": rs.persistent_conns,
        "tunnel": _tunnel(rs),
        "stats": counters_json(rs.stats),
        "rates": rates_json(rs.rates),
        "interval_rates": None if interval_rates is None else rates_json(interval_rates),
        **keepalived_rs_json(status),
    }


def service_ref_json(key: ServiceKey) -> JSON:
    """A service's identity alone, as the service objects spell it."""
    return {
        "protocol": key.protocol.label if key.protocol is not None else None,
        "family": key.family.label,
        "address": key.address,
        "port": None if key.is_fwmark else key.port,
        "fwmark": key.fwmark if key.is_fwmark else None,
    }


def service_json(
    svc: Service, d: SnapshotDiff | None, keepalived: KeepalivedState | None = None
) -> JSON:
    key: ServiceKey = svc.key
    owner = keepalived.service(key) if keepalived is not None else None
    return {
        **service_ref_json(key),
        "scheduler": svc.scheduler,
        "persistence_timeout": svc.timeout if svc.persistent else None,
        "persistence_netmask": svc.netmask if svc.persistent else None,
        "persistence_engine": svc.pe_name,
        "flags": list(svc.flag_names),
        "vip_present": svc.vip_present,
        "vip_interface": svc.vip_interface,
        "vrrp_instance": owner.instance if owner is not None else None,
        "vrrp_role": owner.role.value if owner is not None and owner.role is not None else None,
        "stats": counters_json(svc.stats),
        "rates": rates_json(svc.rates),
        "interval_rates": None if d is None else rates_json(d.service_rate(key)),
        "real_servers": [
            real_server_json(
                rs,
                None if d is None else d.real_server_rate(key, rs.key),
                None if keepalived is None else keepalived.real_server(key, rs.key),
            )
            for rs in svc.real_servers
        ],
    }


def connections_json(t: ConnTable) -> JSON:
    return {
        "entries": t.entries,
        "templates": t.templates,
        "truncated": t.truncated,
        "groups": [
            {
                "protocol": k.protocol,
                "virtual_address": k.vaddr,
                "virtual_port": k.vport,
                "real_address": k.daddr,
                "real_port": k.dport,
                "state": k.state,
                "count": n,
            }
            for k, n in t.groups
        ],
        "top_clients": [{"address": a, "count": n} for a, n in t.top_clients],
        "clients_exact": t.clients_exact,
        "clients_error": t.clients_error,
    }


def instance_json(i: VrrpInstance) -> JSON:
    c = i.counters
    return {
        "name": i.name,
        "vrid": i.vrid,
        "interface": i.interface,
        "state": i.state.value,
        "base_priority": i.base_priority,
        "effective_priority": i.effective_priority,
        "advert_int": i.advert_int,
        "master_router": i.master_router,
        "master_priority": i.master_priority,
        "vips": list(i.vips),
        "vips_present": list(i.vips_present),
        "last_transition": None if i.last_transition is None else rfc3339(i.last_transition),
        "sync_group": i.sync_group,
        "nopreempt": i.nopreempt,
        "counters": {
            "adverts_received": c.adverts_received,
            "adverts_sent": c.adverts_sent,
            "became_master": c.became_master,
            "released_master": c.released_master,
            "packet_errors": c.packet_errors,
            "auth_errors": c.auth_errors,
            "priority_zero_received": c.priority_zero_received,
            "priority_zero_sent": c.priority_zero_sent,
        },
    }


def wire_json(sp: WireSpeaker, snap: Snapshot) -> JSON:
    """A speaker; its monotonic last_seen becomes wall time through the snapshot's clocks."""
    age = max(0.0, snap.monotonic - sp.last_seen)
    return {
        "vrid": sp.vrid,
        "interface": sp.interface,
        "source": sp.source,
        "priority": sp.priority,
        "advert_int": sp.advert_int,
        "vips": list(sp.vips),
        "auth_type": sp.auth_type,
        "version": sp.version,
        "last_seen": rfc3339(snap.wall_time - age),
        "age": round(age, 3),
        "adverts": sp.adverts,
    }


def absent_json(a: AbsentRealServer) -> JSON:
    return {
        "service": service_ref_json(a.service),
        "address": a.address,
        "port": a.port,
        "service_in_ipvs": a.service_in_ipvs,
        **keepalived_rs_json(a.status),
        "reason": a.reason,
    }


def unexplained_json(u: UnexplainedEntry) -> JSON:
    rs = u.real_server
    return {
        "service": service_ref_json(u.service),
        "real_server": None if rs is None else {"address": rs.address, "port": rs.port},
        "reason": u.reason,
    }


def keepalived_json(k: KeepalivedState, snap: Snapshot) -> JSON:
    return {
        "running": k.running,
        "processes": [
            {"role": p.role, "pid": p.pid, "alive": p.alive} for p in k.processes.processes
        ],
        "config_file": k.config_file,
        "instances": [instance_json(i) for i in k.instances],
        "wire_listening": None
        if k.wire_since is None
        else round(max(0.0, snap.monotonic - k.wire_since), 3),
        "wire": [wire_json(sp, snap) for sp in k.wire],
        "alarms": [
            {
                "kind": a.kind,
                "severity": a.severity,
                "vrid": a.vrid,
                "interface": a.interface,
                "sources": list(a.sources),
                "message": a.message,
            }
            for a in k.alarms
        ],
        "absent_real_servers": [absent_json(a) for a in k.absent_real_servers],
        "unexplained": [unexplained_json(u) for u in k.unexplained],
        "notes": list(k.notes),
        "errors": list(k.errors),
    }


def snapshot_json(snap: Snapshot, d: SnapshotDiff | None = None) -> JSON:
    """The whole document; `d` (from two samples) adds interval and interval_rates."""
    totals = None
    if snap.totals is not None:
        totals = {
            "stats": counters_json(snap.totals.stats),
            "rates": rates_json(snap.totals.rates),
            "interval_rates": None if d is None else rates_json(d.totals_rates),
        }
    return {
        "schema": SCHEMA_ID,
        "host": snap.host,
        "taken_at": rfc3339(snap.wall_time),
        "source": snap.source.value,
        "interval": None if d is None else round(d.interval, 6),
        "services": [service_json(s, d, snap.keepalived) for s in snap.services],
        "totals": totals,
        "connections": None if snap.connections is None else connections_json(snap.connections),
        "errors": list(snap.errors),
        "keepalived": None if snap.keepalived is None else keepalived_json(snap.keepalived, snap),
    }
