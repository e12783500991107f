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
from lvstop.model.snapshot import Snapshot

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


def real_server_json(rs: RealServer, interval_rates: Rates | None) -> JSON:
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
    }


def service_json(svc: Service, d: SnapshotDiff | None) -> JSON:
    key: ServiceKey = svc.key
    return {
        "protocol": key.protocol.label if key.protocol is not None else None,
        "family": key.family.label,
        "address": key.address,
        "port": None if key.is_fwmark else key.port,
        "fwmark": key.fwmark if key.is_fwmark else None,
        "scheduler": svc.scheduler,
        "persistence_timeout": svc.timeout if svc.persistent else None,
        "persistence_netmask": svc.netmask if svc.persistent else None,
        "persistence_engine": svc.pe_name,
        "flags": list(svc.flag_names),
        "vip_present": svc.vip_present,
        "vip_interface": svc.vip_interface,
        "stats": counters_json(svc.stats),
        "rates": rates_json(svc.rates),
        "interval_rates": None if d is None else rates_json(d.service_rate(key)),
        "real_servers": [
            real_server_json(rs, None if d is None else d.real_server_rate(key, rs.key))
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
        "services": [service_json(s, d) for s in snap.services],
        "totals": totals,
        "connections": None if snap.connections is None else connections_json(snap.connections),
        "errors": list(snap.errors),
    }
