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
once, and cached: the console asks for the rates of the rows on screen (and for
one rate of every server when sorting by it), events ask only for weights.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import fields
from itertools import accumulate, chain, compress, repeat
from operator import attrgetter, ne
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
_make_rates = positional_constructor(Rates)
_LAZY_RATES = 256
"""Real servers' rates computed one by one (the rows on screen) before `rates_of`
computes all of them at once (a sort by the share of traffic asks for every row's;
a sort by one rate uses `rate_column`)."""
_WEIGHT = attrgetter("weight")
_STATS = attrgetter("stats")
_OLD = attrgetter("old")
_NEW = attrgetter("new")


def _rates_between(olds: Iterable[Counters], news: Iterable[Counters], dt: float) -> list[Rates]:
    """`Rates.between` of each pair, inlined for a whole table (no call per pair):
    ZERO_RATES for an unchanged object or when any counter went backwards."""
    make = _make_rates
    out: list[Rates] = []
    append = out.append
    for a, b in zip(olds, news, strict=True):
        if a is b:
            append(ZERO_RATES)
            continue
        c, ip, op = b.conns - a.conns, b.inpkts - a.inpkts, b.outpkts - a.outpkts
        ib, ob = b.inbytes - a.inbytes, b.outbytes - a.outbytes
        if c < 0 or ip < 0 or op < 0 or ib < 0 or ob < 0:
            append(ZERO_RATES)
        else:
            append(make(c / dt, ip / dt, op / dt, ib / dt, ob / dt))
    return out


def _one_rate(
    field: int, olds: Iterable[RealServer], news: Iterable[RealServer], dt: float
) -> list[float]:
    """Rate number `field` (in Rates' order) between each old and new server: zero
    when any of the five counters went backwards. Written out per field: a generic
    delta (getattr, a tuple of five) doubles the cost of this pass."""
    out: list[float] = []
    append = out.append
    for old, new in zip(olds, news, strict=True):
        a, b = old.stats, new.stats
        if (
            b.conns < a.conns
            or b.inpkts < a.inpkts
            or b.outpkts < a.outpkts
            or b.inbytes < a.inbytes
            or b.outbytes < a.outbytes
        ):
            append(0.0)
        elif field == 0:
            append((b.conns - a.conns) / dt)
        elif field == 1:
            append((b.inpkts - a.inpkts) / dt)
        elif field == 2:
            append((b.outpkts - a.outpkts) / dt)
        elif field == 3:
            append((b.inbytes - a.inbytes) / dt)
        else:
            append((b.outbytes - a.outbytes) / dt)
    return out


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
    RealServer object), `rate_column` (a sort) and `weight_changes`.
    """

    __slots__ = (
        "_changed_rs",
        "_changed_svc",
        "_old_by_service",
        "_pair_of",
        "_rate_columns",
        "_rs_pairs",
        "_rs_rate_cache",
        "_rs_rates",
        "_rs_rates_asked",
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
        self._pair_of: dict[ServiceKey, _Pairs] | None = None
        self._old_by_service: dict[ServiceKey, dict[int, RealServer]] = {}
        self._rs_rate_cache: dict[ServiceKey, dict[int, Rates]] = {}
        self._rs_rates_asked = 0
        self._rate_columns: dict[int, tuple[float, ...]] = {}
        self._svc_rate_cache: dict[ServiceKey, Rates] | None = None
        self._changed_svc: MappingProxyType[ServiceKey, dict[str, Change]] | None = None
        self._changed_rs: MappingProxyType[RsId, dict[str, Change]] | None = None
        self._svc_rates: MappingProxyType[ServiceKey, Rates] | None = None
        self._rs_rates: MappingProxyType[RsId, Rates] | None = None

    # -- rates ------------------------------------------------------------------

    def service_rate(self, key: ServiceKey) -> Rates:
        """lvstop's rates of a service over the interval (zero when new or unknown)."""
        return self.moving_services().get(key, ZERO_RATES)

    def moving_services(self) -> Mapping[ServiceKey, Rates]:
        """The rates of every service whose rates are not zero (a key that is not
        here has ZERO_RATES): what `service_rate` looks up, for a caller that looks
        up every service each refresh (the console), without a mapping of all."""
        cache = self._svc_rate_cache
        if cache is None:
            cache = self._svc_rate_cache = self._all_service_rates()
        return cache

    def _all_service_rates(self) -> dict[ServiceKey, Rates]:
        """Every paired service's rates in one pass (the console shows all of them
        each refresh)."""
        if self.interval <= 0:
            return {}
        pairs = self._svc_pairs
        news = [svc for _, svc in pairs]
        rates = _rates_between((o.stats for o, _ in pairs), map(_STATS, news), self.interval)
        return {svc.key: r for svc, r in zip(news, rates, strict=True) if r is not ZERO_RATES}

    def real_server_rate(self, key: ServiceKey, rs: RealServerKey) -> Rates:
        svc = self.cur.service(key)
        entry = svc.real_server(rs) if svc is not None else None
        return self.rates_of(key, entry) if entry is not None else ZERO_RATES

    def rates_of(self, key: ServiceKey, rs: RealServer) -> Rates:
        """Rates of `rs`, a real server of service `key` *in the current snapshot*
        (the object itself: matched by identity within its service, no key is built
        or hashed; a source may hand one equal object to two services)."""
        cache = self._rs_rate_cache.get(key)
        if cache is None:
            cache = self._rs_rate_cache[key] = {}
        cached = cache.get(id(rs))
        if cached is not None:
            return cached
        if self._rs_rates_asked == _LAZY_RATES and self.interval > 0:
            # Asked for more than a screenful: every row's. Compute all in one pass.
            self._all_rates()
            return self._rs_rate_cache[key].get(id(rs), ZERO_RATES)
        self._rs_rates_asked += 1
        old = self._old_in(key).get(id(rs))
        out = ZERO_RATES
        if old is not None and old.stats is not rs.stats and self.interval > 0:
            out = Rates.between(old.stats, rs.stats, self.interval)
        cache[id(rs)] = out
        return out

    def _old_in(self, key: ServiceKey) -> dict[int, RealServer]:
        """id(server of `key` in the current snapshot) -> its previous sample, built
        for one service when first asked (the rows on screen are a few services')."""
        index = self._old_by_service.get(key)
        if index is None:
            if self._pair_of is None:
                self._pair_of = {p.key: p for p in self._rs_pairs}
            p = self._pair_of.get(key)
            index = dict(zip(map(id, p.new), p.old, strict=True)) if p is not None else {}
            self._old_by_service[key] = index
        return index

    def _all_rates(self) -> None:
        """Every paired server's rates, one pass per service."""
        self._rs_rates_asked = _LAZY_RATES + 1  # once
        for p in self._rs_pairs:
            rates = _rates_between(map(_STATS, p.old), map(_STATS, p.new), self.interval)
            cache = self._rs_rate_cache.setdefault(p.key, {})
            cache.update(zip(map(id, p.new), rates, strict=True))

    def rate_column(self, name: str) -> tuple[float, ...]:
        """One rate (a field of Rates: "cps", "inbps", ...) of every real server of
        the current snapshot, in its order (services in order, each one's servers
        in order): `rates_of(key, rs).<name>` of all of them.

        A sort by a rate needs that one number of every server, not every server's
        Rates: one pass over the paired servers, with the arithmetic and the reset
        rule of `Rates.between`, remembered per rate."""
        if name not in _RATE_FIELDS:
            raise ValueError(f"unknown rate {name!r}: one of {', '.join(_RATE_FIELDS)}")
        field = _RATE_FIELDS.index(name)
        column = self._rate_columns.get(field)
        if column is None:
            column = self._rate_columns[field] = tuple(self._column(field))
        return column

    def _column(self, field: int) -> list[float]:
        services = self.cur.services
        pairs = self._rs_pairs
        if self.interval <= 0 or not pairs:
            return [0.0] * sum([len(s.real_servers) for s in services])
        values = _one_rate(
            field,
            chain.from_iterable(map(_OLD, pairs)),
            chain.from_iterable(map(_NEW, pairs)),
            self.interval,
        )
        if [p.new for p in pairs] == [s.real_servers for s in services]:
            return values  # every service paired whole, in order (the same tuples)
        # The pairs follow the current snapshot's services (those with servers
        # present both times); a pair holds fewer servers than its service when some
        # are new (rate 0), else the same ones in the same order.
        start_of: dict[ServiceKey, tuple[int, _Pairs]] = {}
        start = 0
        for p in pairs:
            start_of[p.key] = (start, p)
            start += len(p.new)
        out: list[float] = []
        for svc in services:
            rss = svc.real_servers
            found = start_of.get(svc.key)
            if found is None:
                out.extend(repeat(0.0, len(rss)))
                continue
            start, p = found
            part = values[start : start + len(p.new)]
            if len(p.new) == len(rss):
                out.extend(part)
            else:
                by_id = dict(zip(map(id, p.new), part, strict=True))
                out.extend(map(by_id.get, map(id, rss), repeat(0.0)))
        return out

    @property
    def service_rates(self) -> MappingProxyType[ServiceKey, Rates]:
        """Every current service's rates."""
        if self._svc_rates is None:
            rate = self.service_rate
            self._svc_rates = MappingProxyType({s.key: rate(s.key) for s in self.cur.services})
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
        changed, in the current snapshot's order (compares weights only, all of
        them at once; a few change per poll, if any)."""
        pairs = self._rs_pairs
        olds = [rs.weight for p in pairs for rs in p.old]
        news = [rs.weight for p in pairs for rs in p.new]
        if olds == news:
            return
        starts = list(accumulate(map(len, map(_NEW, pairs)), initial=0))
        for i in compress(range(len(news)), map(ne, olds, news)):
            # The last pair starting at or before i holds it (an empty pair ends
            # where it starts, so it is never the last one at or before i).
            j = bisect_right(starts, i) - 1
            p = pairs[j]
            yield (p.key, p.new[i - starts[j]].key), olds[i], news[i]

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
    aligned = _aligned(prev.services, cur.services)
    if aligned is not None:
        return SnapshotDiff(
            prev,
            cur,
            dt,
            service_pairs=aligned[0],
            rs_pairs=aligned[1],
            totals_rates=_totals_rates(prev, cur, dt),
        )
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
        if (
            len(before) == len(after)
            and [rs.port for rs in before] == [rs.port for rs in after]
            and [rs.address for rs in before] == [rs.address for rs in after]
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
        totals_rates=_totals_rates(prev, cur, dt),
    )


def _totals_rates(prev: Snapshot, cur: Snapshot, dt: float) -> Rates:
    if prev.totals is None or cur.totals is None:
        return ZERO_RATES
    return Rates.between(prev.totals.stats, cur.totals.stats, dt)


def _aligned(
    before: tuple[Service, ...], after: tuple[Service, ...]
) -> tuple[tuple[tuple[Service, Service], ...], tuple[_Pairs, ...]] | None:
    """The pairs when both tables list the same services with the same servers in
    the same order (poll after poll, unless the configuration changed): checked
    over the whole table in a few passes, not service by service. None otherwise."""
    if len(before) != len(after) or [s.key for s in before] != [s.key for s in after]:
        return None  # keys compare as identities: the decoder reuses them
    if [len(s.real_servers) for s in before] != [len(s.real_servers) for s in after]:
        return None
    if [rs.port for s in before for rs in s.real_servers] != [
        rs.port for s in after for rs in s.real_servers
    ] or [rs.address for s in before for rs in s.real_servers] != [
        rs.address for s in after for rs in s.real_servers
    ]:
        return None
    return tuple(zip(before, after, strict=True)), tuple(
        [
            _Pairs(new.key, old.real_servers, new.real_servers)
            for old, new in zip(before, after, strict=True)
            if old.real_servers is not new.real_servers
        ]
    )
