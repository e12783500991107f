"""What changed between two snapshots, and lvstop's own rates from counter deltas.

Entries are matched by identity (service key, real-server address and port), never
by position. Rates are zero on the first sample, for entries that just appeared, and
whenever a counter went backwards (counters zeroed, or the entry was deleted and
re-created between the two samples).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from lvstop.model.ipvs import (
    ZERO_RATES,
    Counters,
    Rates,
    RealServer,
    RealServerKey,
    Service,
    ServiceKey,
)
from lvstop.model.snapshot import Snapshot

Change = tuple[Any, Any]
"""(old value, new value) of one field."""

_SERVICE_FIELDS = tuple(
    f.name for f in fields(Service) if f.name not in ("key", "real_servers", "stats", "rates")
)
_RS_FIELDS = tuple(f.name for f in fields(RealServer) if f.name not in ("stats", "rates"))
_COUNTER_FIELDS = tuple(f.name for f in fields(Counters))
_RATE_FIELDS = tuple(f.name for f in fields(Rates))

_STATS_NAMES = tuple(f"stats.{name}" for name in _COUNTER_FIELDS)
_RATES_NAMES = tuple(f"rates.{name}" for name in _RATE_FIELDS)

RsId = tuple[ServiceKey, RealServerKey]


def _changes(old: object, new: object, names: tuple[str, ...]) -> dict[str, Change]:
    out: dict[str, Change] = {}
    for name in names:
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            out[name] = (a, b)
    return out


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """All `names` of an object as one tuple, read at C speed (hot path: 10,000 real
    servers per poll, most of whose fields other than the counters never change)."""
    get = attrgetter(*names)
    return get if len(names) > 1 else lambda obj: (get(obj),)


_GET_SERVICE = _getter(_SERVICE_FIELDS)
_GET_RS = _getter(_RS_FIELDS)
_GET_COUNTERS = _getter(_COUNTER_FIELDS)
_GET_RATES = _getter(_RATE_FIELDS)


def _entry_changes(
    old: Service | RealServer,
    new: Service | RealServer,
    names: tuple[str, ...],
    get: Callable[[Any], tuple[Any, ...]],
) -> dict[str, Change]:
    out: dict[str, Change] = {}
    _into(out, get(old), get(new), names)
    if old.stats is not new.stats:
        _into(out, _GET_COUNTERS(old.stats), _GET_COUNTERS(new.stats), _STATS_NAMES)
    if old.rates is not new.rates:
        _into(out, _GET_RATES(old.rates), _GET_RATES(new.rates), _RATES_NAMES)
    return out


def _into(
    out: dict[str, Change], old: tuple[Any, ...], new: tuple[Any, ...], names: tuple[str, ...]
) -> None:
    if old != new:
        for i, name in enumerate(names):
            if old[i] != new[i]:
                out[name] = (old[i], new[i])


@dataclass(frozen=True, slots=True)
class SnapshotDiff:
    """Differences from `prev` to `cur` plus per-interval rates.

    `changed_*` map an entry to {field: (old, new)}; counter and kernel-rate fields
    appear as "stats.conns", "rates.cps", .... `interval` is the monotonic time
    between the samples (0.0 for the first sample).
    """

    interval: float
    added_services: tuple[ServiceKey, ...] = ()
    removed_services: tuple[ServiceKey, ...] = ()
    changed_services: MappingProxyType[ServiceKey, dict[str, Change]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    added_real_servers: tuple[RsId, ...] = ()
    removed_real_servers: tuple[RsId, ...] = ()
    changed_real_servers: MappingProxyType[RsId, dict[str, Change]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    service_rates: MappingProxyType[ServiceKey, Rates] = field(
        default_factory=lambda: MappingProxyType({})
    )
    real_server_rates: MappingProxyType[RsId, Rates] = field(
        default_factory=lambda: MappingProxyType({})
    )
    totals_rates: Rates = ZERO_RATES

    def service_rate(self, key: ServiceKey) -> Rates:
        return self.service_rates.get(key, ZERO_RATES)

    def real_server_rate(self, key: ServiceKey, rs: RealServerKey) -> Rates:
        return self.real_server_rates.get((key, rs), ZERO_RATES)

    @property
    def empty(self) -> bool:
        """No entry added, removed or changed."""
        return not (
            self.added_services
            or self.removed_services
            or self.changed_services
            or self.added_real_servers
            or self.removed_real_servers
            or self.changed_real_servers
        )


def diff(prev: Snapshot | None, cur: Snapshot) -> SnapshotDiff:
    """Compare two snapshots of the same director (prev None: first sample)."""
    if prev is None:
        first = {(svc.key, rs.key): ZERO_RATES for svc in cur.services for rs in svc.real_servers}
        return SnapshotDiff(
            interval=0.0,
            added_services=tuple(s.key for s in cur.services),
            added_real_servers=tuple(first),
            service_rates=MappingProxyType({s.key: ZERO_RATES for s in cur.services}),
            real_server_rates=MappingProxyType(first),
        )
    dt = cur.monotonic - prev.monotonic
    added: list[ServiceKey] = []
    changed: dict[ServiceKey, dict[str, Change]] = {}
    rs_added: list[RsId] = []
    rs_removed: list[RsId] = []
    rs_changed: dict[RsId, dict[str, Change]] = {}
    svc_rates: dict[ServiceKey, Rates] = {}
    rs_rates: dict[RsId, Rates] = {}
    for svc in cur.services:
        old = prev.service(svc.key)
        if old is None:
            added.append(svc.key)
            svc_rates[svc.key] = ZERO_RATES
            for rs in svc.real_servers:
                rs_added.append((svc.key, rs.key))
                rs_rates[(svc.key, rs.key)] = ZERO_RATES
            continue
        if old is not svc:
            # Not `old != svc`: that compares every real server, which the loop below
            # does anyway (and a busy director's counters always differ).
            delta = _entry_changes(old, svc, _SERVICE_FIELDS, _GET_SERVICE)
            if delta:
                changed[svc.key] = delta
        svc_rates[svc.key] = Rates.between(old.stats, svc.stats, dt)
        old_rs = {rs.key: rs for rs in old.real_servers}
        for rs in svc.real_servers:
            rs_key = rs.key
            rid = (svc.key, rs_key)
            before = old_rs.pop(rs_key, None)
            if before is None:
                rs_added.append(rid)
                rs_rates[rid] = ZERO_RATES
                continue
            if before is not rs:
                delta = _entry_changes(before, rs, _RS_FIELDS, _GET_RS)
                if delta:
                    rs_changed[rid] = delta
            rs_rates[rid] = Rates.between(before.stats, rs.stats, dt)
        rs_removed.extend((svc.key, k) for k in old_rs)
    cur_keys = {s.key for s in cur.services}
    removed = tuple(s.key for s in prev.services if s.key not in cur_keys)
    for key in removed:
        old_svc = prev.service(key)
        if old_svc is not None:
            rs_removed.extend((key, rs.key) for rs in old_svc.real_servers)
    totals = ZERO_RATES
    if prev.totals is not None and cur.totals is not None:
        totals = Rates.between(prev.totals.stats, cur.totals.stats, dt)
    return SnapshotDiff(
        interval=dt,
        added_services=tuple(added),
        removed_services=removed,
        changed_services=MappingProxyType(changed),
        added_real_servers=tuple(rs_added),
        removed_real_servers=tuple(rs_removed),
        changed_real_servers=MappingProxyType(rs_changed),
        service_rates=MappingProxyType(svc_rates),
        real_server_rates=MappingProxyType(rs_rates),
        totals_rates=totals,
    )
