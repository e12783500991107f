"""What changed between two snapshots, and lvstop's own rates from counter deltas.

Entries are matched by identity (service key, real-server address and port), never
by position. Rates are zero on the first sample, for entries that just appeared, and
whenever a counter went backwards (counters zeroed, or the entry was deleted and
re-created between the two samples).

Why lazy: a busy director's counters move on every real server every poll, so a
full field-by-field comparison of 10,000 servers (a change dict and a Rates object
each) cost more than the whole console refresh may. `diff` only pairs each entry
with its previous self (identity first: a netlink poll reuses unchanged objects;
position next: the kernel lists a service's servers in a stable order; address and
port as the fallback). Per-field changes and rates are computed when asked for,
once, and cached: the console asks for the rates of the rows on screen (or all of
them when sorting by a rate), events ask only for weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from lvstop.model.fastinit import positional_constructor
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


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """All `names` of an object as one tuple, read at C speed."""
    get = attrgetter(*names)
    return get if len(names) > 1 else lambda obj: (get(obj),)


_GET_SERVICE = _getter(_SERVICE_FIELDS)
_GET_RS = _getter(_RS_FIELDS)
_GET_COUNTERS = _getter(_COUNTER_FIELDS)
_GET_RATES = _getter(_RATE_FIELDS)
_ADDRESS_PORT = attrgetter("address", "port")
_make_rates = positional_constructor(Rates)
_LAZY_RATES = 256
"""Real servers' rates computed one by one (the rows on screen) before `rates_of`
computes all of them at once (a sort by a rate asks for every row's)."""
_WEIGHT = attrgetter("weight")
_STATS = attrgetter("stats")


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


class _Pairs:
    """The real servers of one service present in both snapshots, aligned: `old[i]`
    is the previous sample of `new[i]`, in the current snapshot's order."""

    __slots__ = ("key", "new", "old")

    def __init__(
        self, key: ServiceKey, old: tuple[RealServer, ...], new: tuple[RealServer, ...]
    ) -> None:
        self.key = key
        self.old = old
        self.new = new


def _match(
    key: ServiceKey,
    before: tuple[RealServer, ...],
    after: tuple[RealServer, ...],
    added: list[RsId],
    removed: list[RsId],
) -> _Pairs:
    """Pair a service's servers by address and port (when the order changed, or
    servers were added or removed)."""
    old_rs = {rs.key: rs for rs in before}
    olds: list[RealServer] = []
    news: list[RealServer] = []
    for rs in after:
        rs_key = rs.key
        was = old_rs.pop(rs_key, None)
        if was is None:
            added.append((key, rs_key))
        else:
            olds.append(was)
            news.append(rs)
    removed.extend((key, k) for k in old_rs)
    return _Pairs(key, tuple(olds), tuple(news))


class SnapshotDiff:
    """Differences from `prev` to `cur` plus per-interval rates.

    `changed_*` map an entry to {field: (old, new)}; counter and kernel-rate fields
    appear as "stats.conns", "rates.cps", .... `interval` is the monotonic time
    between the samples (0.0 for the first sample). The mappings are built on first
    use; the hot paths are `service_rate`, `rates_of` (by the current snapshot's
    RealServer object) and `weight_changes`.
    """

    __slots__ = (
        "_changed_rs",
        "_changed_svc",
        "_old_of",
        "_rs_pairs",
        "_rs_rate_cache",
        "_rs_rates",
        "_shared",
        "_svc_pairs",
        "_svc_rate_cache",
        "_svc_rates",
        "added_real_servers",
        "added_services",
        "cur",
        "interval",
        "prev",
        "removed_real_servers",
        "removed_services",
        "totals_rates",
    )

    def __init__(
        self,
        prev: Snapshot | None,
        cur: Snapshot,
        interval: float,
        *,
        added_services: tuple[ServiceKey, ...] = (),
        removed_services: tuple[ServiceKey, ...] = (),
        added_real_servers: tuple[RsId, ...] = (),
        removed_real_servers: tuple[RsId, ...] = (),
        service_pairs: tuple[tuple[Service, Service], ...] = (),
        rs_pairs: tuple[_Pairs, ...] = (),
        totals_rates: Rates = ZERO_RATES,
    ) -> None:
        self.prev = prev
        self.cur = cur
        self.interval = interval
        self.added_services = added_services
        self.removed_services = removed_services
        self.added_real_servers = added_real_servers
        self.removed_real_servers = removed_real_servers
        self.totals_rates = totals_rates
        self._svc_pairs = service_pairs
        self._rs_pairs = rs_pairs
        self._old_of: dict[Any, RealServer] | None = None
        self._shared = False
        self._rs_rate_cache: dict[Any, Rates] = {}
        self._svc_rate_cache: dict[ServiceKey, Rates] = {}
        self._changed_svc: MappingProxyType[ServiceKey, dict[str, Change]] | None = None
        self._changed_rs: MappingProxyType[RsId, dict[str, Change]] | None = None
        self._svc_rates: MappingProxyType[ServiceKey, Rates] | None = None
        self._rs_rates: MappingProxyType[RsId, Rates] | None = None

    # -- rates ------------------------------------------------------------------

    def service_rate(self, key: ServiceKey) -> Rates:
        """lvstop's rates of a service over the interval (zero when new or unknown)."""
        cached = self._svc_rate_cache.get(key)
        if cached is not None:
            return cached
        out = ZERO_RATES
        if self.prev is not None and self.interval > 0:
            old, new = self.prev.service(key), self.cur.service(key)
            if old is not None and new is not None and old.stats is not new.stats:
                out = Rates.between(old.stats, new.stats, self.interval)
        self._svc_rate_cache[key] = out
        return out

    def real_server_rate(self, key: ServiceKey, rs: RealServerKey) -> Rates:
        svc = self.cur.service(key)
        entry = svc.real_server(rs) if svc is not None else None
        return self.rates_of(key, entry) if entry is not None else ZERO_RATES

    def rates_of(self, key: ServiceKey, rs: RealServer) -> Rates:
        """Rates of `rs`, a real server of service `key` *in the current snapshot*
        (the object itself: matched by identity, no key is built or hashed)."""
        old_of = self._old_of if self._old_of is not None else self._index()
        ident: Any = (key, id(rs)) if self._shared else id(rs)
        cache = self._rs_rate_cache
        cached = cache.get(ident)
        if cached is not None:
            return cached
        if len(cache) == _LAZY_RATES and self.interval > 0:
            # Asked for more than a screenful: a sort. Compute all in one pass.
            self._all_rates(cache)
            return cache.get(ident, ZERO_RATES)
        old = old_of.get(ident)
        out = ZERO_RATES
        if old is not None and old.stats is not rs.stats and self.interval > 0:
            out = Rates.between(old.stats, rs.stats, self.interval)
        self._rs_rate_cache[ident] = out
        return out

    def _all_rates(self, cache: dict[Any, Rates]) -> None:
        """`Rates.between` for every paired server, inlined (the same arithmetic)."""
        dt = self.interval
        make = _make_rates
        shared = self._shared
        for p in self._rs_pairs:
            key = p.key
            idents = [(key, id(rs)) for rs in p.new] if shared else map(id, p.new)
            for ident, a, b in zip(idents, map(_STATS, p.old), map(_STATS, p.new), strict=True):
                if a is b:
                    cache[ident] = ZERO_RATES
                    continue
                c, ip, op = b.conns - a.conns, b.inpkts - a.inpkts, b.outpkts - a.outpkts
                ib, ob = b.inbytes - a.inbytes, b.outbytes - a.outbytes
                if c < 0 or ip < 0 or op < 0 or ib < 0 or ob < 0:
                    cache[ident] = ZERO_RATES
                else:
                    cache[ident] = make(c / dt, ip / dt, op / dt, ib / dt, ob / dt)

    def _index(self) -> dict[Any, RealServer]:
        """id(new object) -> its previous sample, for every paired real server.

        The diff holds both snapshots, so the ids stay valid as long as it lives. A
        source may hand the same (equal) RealServer object to two services of the
        current snapshot (paired in one, new in the other, say): then every server is
        keyed by (service, id) instead."""
        seen: set[int] = set()
        total = 0
        for svc in self.cur.services:
            seen.update(map(id, svc.real_servers))
            total += len(svc.real_servers)
        index: dict[Any, RealServer] = {}
        if len(seen) == total:
            for p in self._rs_pairs:
                index.update(zip(map(id, p.new), p.old, strict=True))
        else:
            self._shared = True
            for p in self._rs_pairs:
                index.update(((p.key, id(rs)), old) for rs, old in zip(p.new, p.old, strict=True))
        self._old_of = index
        return index

    @property
    def service_rates(self) -> MappingProxyType[ServiceKey, Rates]:
        """Every current service's rates."""
        if self._svc_rates is None:
            self._svc_rates = MappingProxyType(
                {s.key: self.service_rate(s.key) for s in self.cur.services}
            )
        return self._svc_rates

    @property
    def real_server_rates(self) -> MappingProxyType[RsId, Rates]:
        """Every current real server's rates (builds a key per server: not per poll)."""
        if self._rs_rates is None:
            self._rs_rates = MappingProxyType(
                {
                    (s.key, rs.key): self.rates_of(s.key, rs)
                    for s in self.cur.services
                    for rs in s.real_servers
                }
            )
        return self._rs_rates

    # -- changes ----------------------------------------------------------------

    @property
    def changed_services(self) -> MappingProxyType[ServiceKey, dict[str, Change]]:
        if self._changed_svc is None:
            out: dict[ServiceKey, dict[str, Change]] = {}
            for old, svc in self._svc_pairs:
                if old is not svc:
                    delta = _entry_changes(old, svc, _SERVICE_FIELDS, _GET_SERVICE)
                    if delta:
                        out[svc.key] = delta
            self._changed_svc = MappingProxyType(out)
        return self._changed_svc

    @property
    def changed_real_servers(self) -> MappingProxyType[RsId, dict[str, Change]]:
        if self._changed_rs is None:
            out: dict[RsId, dict[str, Change]] = {}
            for p in self._rs_pairs:
                for before, rs in zip(p.old, p.new, strict=True):
                    if before is not rs:
                        delta = _entry_changes(before, rs, _RS_FIELDS, _GET_RS)
                        if delta:
                            out[(p.key, rs.key)] = delta
            self._changed_rs = MappingProxyType(out)
        return self._changed_rs

    def weight_changes(self) -> Iterator[tuple[RsId, int, int]]:
        """((service, server), old, new) of every paired server whose kernel weight
        changed, in the current snapshot's order (compares weights only)."""
        for p in self._rs_pairs:
            if list(map(_WEIGHT, p.old)) != list(map(_WEIGHT, p.new)):
                for before, rs in zip(p.old, p.new, strict=True):
                    if before.weight != rs.weight:
                        yield (p.key, rs.key), before.weight, rs.weight

    @property
    def empty(self) -> bool:
        """No entry added, removed or changed."""
        return not (
            self.added_services
            or self.removed_services
            or self.added_real_servers
            or self.removed_real_servers
            or self.changed_services
            or self.changed_real_servers
        )


def diff(prev: Snapshot | None, cur: Snapshot) -> SnapshotDiff:
    """Compare two snapshots of the same director (prev None: first sample)."""
    if prev is None:
        return SnapshotDiff(
            None,
            cur,
            0.0,
            added_services=tuple(s.key for s in cur.services),
            added_real_servers=tuple(
                (svc.key, rs.key) for svc in cur.services for rs in svc.real_servers
            ),
        )
    dt = cur.monotonic - prev.monotonic
    added: list[ServiceKey] = []
    svc_pairs: list[tuple[Service, Service]] = []
    rs_pairs: list[_Pairs] = []
    rs_added: list[RsId] = []
    rs_removed: list[RsId] = []
    find = prev.service
    for svc in cur.services:
        old = find(svc.key)
        if old is None:
            added.append(svc.key)
            rs_added.extend((svc.key, rs.key) for rs in svc.real_servers)
            continue
        svc_pairs.append((old, svc))
        before, after = old.real_servers, svc.real_servers
        if before is after:
            continue  # the source reused the whole list: nothing moved
        if len(before) == len(after) and list(map(_ADDRESS_PORT, before)) == list(
            map(_ADDRESS_PORT, after)
        ):
            rs_pairs.append(_Pairs(svc.key, before, after))
        else:
            rs_pairs.append(_match(svc.key, before, after, rs_added, rs_removed))
    removed: tuple[ServiceKey, ...] = ()
    if len(svc_pairs) != len(prev.services):
        cur_keys = {s.key for s in cur.services}
        removed = tuple(s.key for s in prev.services if s.key not in cur_keys)
        for key in removed:
            old_svc = find(key)
            if old_svc is not None:
                rs_removed.extend((key, rs.key) for rs in old_svc.real_servers)
    totals = ZERO_RATES
    if prev.totals is not None and cur.totals is not None:
        totals = Rates.between(prev.totals.stats, cur.totals.stats, dt)
    return SnapshotDiff(
        prev,
        cur,
        dt,
        added_services=tuple(added),
        removed_services=removed,
        added_real_servers=tuple(rs_added),
        removed_real_servers=tuple(rs_removed),
        service_pairs=tuple(svc_pairs),
        rs_pairs=tuple(rs_pairs),
        totals_rates=totals,
    )
