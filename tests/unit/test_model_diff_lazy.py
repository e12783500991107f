"""The lazy diff against a plain, eager one, on random pairs of snapshots.

`diff` pairs entries by identity, then position, then address and port, and
computes changes and rates only when asked (one by one, or all at once past a
screenful). Whatever the path, every public result must equal what comparing every
entry by key gives. The reference below is that comparison, written the obvious way.
"""

from __future__ import annotations

import random
from dataclasses import fields, replace
from typing import Any

import pytest

from lvstop.model import Counters, Forward, Protocol, Rates, RealServer, Service, ServiceKey
from lvstop.model.diff import _LAZY_RATES, diff
from lvstop.model.ipvs import ZERO_RATES, RealServerKey, Totals
from lvstop.model.snapshot import Snapshot, SourceKind

RsId = tuple[ServiceKey, RealServerKey]


def _fields(old: Any, new: Any, skip: tuple[str, ...]) -> dict[str, tuple[Any, Any]]:
    out = {}
    for f in fields(old):
        if f.name in skip:
            continue
        a, b = getattr(old, f.name), getattr(new, f.name)
        if f.name in ("stats", "rates"):
            for g in fields(a):
                x, y = getattr(a, g.name), getattr(b, g.name)
                if x != y:
                    out[f"{f.name}.{g.name}"] = (x, y)
        elif a != b:
            out[f.name] = (a, b)
    return out


def reference(prev: Snapshot, cur: Snapshot) -> dict[str, Any]:
    """Every result of diff(prev, cur), computed eagerly by key."""
    dt = cur.monotonic - prev.monotonic
    old_svcs = {s.key: s for s in prev.services}
    out: dict[str, Any] = {
        "added_services": [],
        "added_real_servers": [],
        "removed_real_servers": [],
        "changed_services": {},
        "changed_real_servers": {},
        "service_rates": {},
        "real_server_rates": {},
        "weights": [],
    }
    for svc in cur.services:
        old = old_svcs.get(svc.key)
        if old is None:
            out["added_services"].append(svc.key)
            out["service_rates"][svc.key] = ZERO_RATES
            for rs in svc.real_servers:
                out["added_real_servers"].append((svc.key, rs.key))
                out["real_server_rates"][(svc.key, rs.key)] = ZERO_RATES
            continue
        delta = _fields(old, svc, ("key", "real_servers"))
        if delta:
            out["changed_services"][svc.key] = delta
        out["service_rates"][svc.key] = Rates.between(old.stats, svc.stats, dt)
        before = {rs.key: rs for rs in old.real_servers}
        for rs in svc.real_servers:
            was = before.pop(rs.key, None)
            rid = (svc.key, rs.key)
            if was is None:
                out["added_real_servers"].append(rid)
                out["real_server_rates"][rid] = ZERO_RATES
                continue
            delta = _fields(was, rs, ())
            if delta:
                out["changed_real_servers"][rid] = delta
            if was.weight != rs.weight:
                out["weights"].append((rid, was.weight, rs.weight))
            out["real_server_rates"][rid] = Rates.between(was.stats, rs.stats, dt)
        out["removed_real_servers"].extend((svc.key, k) for k in before)
    cur_keys = {s.key for s in cur.services}
    out["removed_services"] = [s.key for s in prev.services if s.key not in cur_keys]
    for s in prev.services:
        if s.key not in cur_keys:
            out["removed_real_servers"].extend((s.key, rs.key) for rs in s.real_servers)
    return out


def _server(rng: random.Random, s: int, r: int) -> RealServer:
    n = rng.randrange(0, 1000)
    return RealServer(
        f"172.16.{s}.{r + 1}", 8080, Forward.ROUTE, rng.choice([0, 1, 1, 5]),
        active_conns=rng.randrange(50),
        stats=Counters(n, n * 9, n * 8, n * 900, n * 800),
        rates=Rates(float(rng.randrange(9))),
    )  # fmt: skip


def _moved(rng: random.Random, rs: RealServer) -> RealServer:
    """The next sample of `rs`: the same object, moved counters, a reset, a new weight."""
    roll = rng.random()
    if roll < 0.2:
        return rs  # a source that reuses unchanged objects
    if roll < 0.25:
        return replace(rs, stats=Counters(1, 1, 1, 1, 1))  # counters went backwards
    c = rs.stats
    step = rng.randrange(0, 50)
    out = replace(
        rs,
        active_conns=rs.active_conns + rng.randrange(-3, 4),
        stats=Counters(c.conns + step, c.inpkts + 9 * step, c.outpkts, c.inbytes + 900 * step, 0)
        if rng.random() < 0.9
        else Counters(c.conns + step, c.inpkts, c.outpkts + step, c.inbytes, c.outbytes + step),
    )
    if rng.random() < 0.1:
        out = replace(out, weight=rng.choice([0, 1, 3]))
    return out


def _pair(seed: int) -> tuple[Snapshot, Snapshot]:
    rng = random.Random(seed)
    keys = [ServiceKey.inet(Protocol.TCP, f"10.0.{s}.1", 80) for s in range(rng.randrange(1, 8))]
    prev_svcs = []
    for s, key in enumerate(keys):
        rss = tuple(_server(rng, s, r) for r in range(rng.randrange(0, 60)))
        prev_svcs.append(Service(key, "wlc", stats=Counters(s * 10), real_servers=rss))
    cur_svcs = []
    for s, old in enumerate(prev_svcs):
        if rng.random() < 0.1:
            continue  # service removed
        roll = rng.random()
        if roll < 0.15:
            cur_svcs.append(old)  # the whole service reused
            continue
        rss = list(old.real_servers)
        if roll < 0.3:
            cur_svcs.append(replace(old, stats=Counters(s * 10 + 5)))  # list reused
            continue
        rss = [_moved(rng, rs) for rs in rss]
        if rss and rng.random() < 0.2:
            del rss[rng.randrange(len(rss))]  # a server removed
        if rng.random() < 0.2:
            rss.insert(rng.randrange(len(rss) + 1), _server(rng, s, 100 + s))  # one added
        if rng.random() < 0.2:
            rng.shuffle(rss)  # listed in another order
        sched = "rr" if rng.random() < 0.1 else old.scheduler
        cur_svcs.append(
            replace(old, scheduler=sched, stats=Counters(s * 10 + 7), real_servers=tuple(rss))
        )
    if rng.random() < 0.3:
        key = ServiceKey.inet(Protocol.UDP, "10.9.9.9", 53)
        cur_svcs.insert(0, Service(key, "rr", real_servers=(_server(rng, 99, 0),)))
    if rng.random() < 0.2 and len(cur_svcs) >= 2 and cur_svcs[0].real_servers:
        # A source handing the same (equal) object to two services.
        shared = cur_svcs[0].real_servers[0]
        cur_svcs[1] = replace(cur_svcs[1], real_servers=(shared, *cur_svcs[1].real_servers))
    dt = rng.choice([0.0, 0.5, 1.0, 2.0])
    prev = Snapshot(1000.0, 10.0, "h", SourceKind.SIMULATED, tuple(prev_svcs), Totals(Counters(5)))
    cur = Snapshot(
        1001.0, 10.0 + dt, "h", SourceKind.SIMULATED, tuple(cur_svcs), Totals(Counters(9))
    )
    return prev, cur


@pytest.mark.parametrize("seed", range(200))
def test_lazy_diff_equals_the_eager_reference(seed: int) -> None:
    prev, cur = _pair(seed)
    want = reference(prev, cur)
    d = diff(prev, cur)
    assert list(d.added_services) == want["added_services"]
    assert list(d.removed_services) == want["removed_services"]
    assert list(d.added_real_servers) == want["added_real_servers"]
    assert list(d.removed_real_servers) == want["removed_real_servers"]
    assert dict(d.changed_services) == want["changed_services"]
    assert list(d.changed_real_servers) == list(want["changed_real_servers"])
    assert dict(d.changed_real_servers) == want["changed_real_servers"]
    assert list(d.weight_changes()) == want["weights"]
    assert dict(d.service_rates) == want["service_rates"]
    assert dict(d.real_server_rates) == want["real_server_rates"]
    assert d.empty == (
        not want["added_services"]
        and not want["removed_services"]
        and not want["added_real_servers"]
        and not want["removed_real_servers"]
        and not want["changed_services"]
        and not want["changed_real_servers"]
    )


@pytest.mark.parametrize("seed", range(60))
def test_rates_by_object_one_by_one_and_in_bulk_agree(seed: int) -> None:
    """`rates_of` answers the first requests one by one and then computes every
    server at once; both must give the eager rates, whichever is asked first."""
    prev, cur = _pair(seed)
    want = reference(prev, cur)["real_server_rates"]
    every = [(s.key, rs) for s in cur.services for rs in s.real_servers]
    d = diff(prev, cur)
    order = list(every)
    random.Random(seed).shuffle(order)
    # Enough requests to cross into the bulk path on most seeds.
    asked = (order * (1 + _LAZY_RATES // max(1, len(order))))[: _LAZY_RATES + len(order)]
    for key, rs in asked:
        assert d.rates_of(key, rs) == want[(key, rs.key)]
    for key, rs in every:
        assert d.real_server_rate(key, rs.key) == want[(key, rs.key)]


RATE_NAMES = [f.name for f in fields(Rates)]


@pytest.mark.parametrize("seed", range(120))
def test_a_rate_column_equals_every_servers_rates(seed: int) -> None:
    """`rate_column` (one rate of every server, in snapshot order, for a sort) must
    give exactly `rates_of` of each server: counter resets, new servers, reused
    objects and lists, one object in two services, no time between the samples."""
    prev, cur = _pair(seed)
    every = [(s.key, rs) for s in cur.services for rs in s.real_servers]
    want = reference(prev, cur)["real_server_rates"]
    for asked_first in (False, True):  # whichever is computed first
        d = diff(prev, cur)
        if asked_first:
            for key, rs in every[: len(every) // 2]:
                d.rates_of(key, rs)
        for name in RATE_NAMES:
            column = d.rate_column(name)
            assert column == tuple(getattr(d.rates_of(k, rs), name) for k, rs in every)
            assert column == tuple(getattr(want[(k, rs.key)], name) for k, rs in every)
            assert all(type(v) is float for v in column)


def test_a_rate_column_of_the_first_sample_is_zero_and_names_are_checked() -> None:
    _, cur = _pair(5)
    d = diff(None, cur)
    assert d.rate_column("cps") == (0.0,) * sum(len(s.real_servers) for s in cur.services)
    with pytest.raises(ValueError, match="unknown rate 'conns'"):
        d.rate_column("conns")


def test_first_sample_everything_added_and_zero() -> None:
    _, cur = _pair(3)
    d = diff(None, cur)
    assert d.interval == 0.0
    assert list(d.added_services) == [s.key for s in cur.services]
    assert all(r == ZERO_RATES for r in d.real_server_rates.values())
    assert all(d.rates_of(s.key, rs) == ZERO_RATES for s in cur.services for rs in s.real_servers)
    assert not d.changed_real_servers and list(d.weight_changes()) == []


def test_one_object_in_two_services_is_rated_per_service() -> None:
    """A source may reuse one equal RealServer object in two services: paired (with
    moved counters) in the first, new in the second. Its rates differ per service."""
    a_key = ServiceKey.inet(Protocol.TCP, "10.0.0.1", 80)
    b_key = ServiceKey.inet(Protocol.TCP, "10.0.0.2", 80)
    before = RealServer("172.16.0.1", 8080, Forward.ROUTE, 1, stats=Counters(10, 10, 0, 10, 0))
    after = replace(before, stats=Counters(30, 50, 0, 90, 0))
    other = RealServer("172.16.0.9", 8080, Forward.ROUTE, 1)
    prev = Snapshot(
        1.0, 1.0, "h", SourceKind.SIMULATED,
        (Service(a_key, "rr", real_servers=(before,)), Service(b_key, "rr", real_servers=(other,))),
    )  # fmt: skip
    for shared_in_b in ((after, other), (other, after)):
        cur = Snapshot(
            3.0, 3.0, "h", SourceKind.SIMULATED,
            (Service(a_key, "rr", real_servers=(after,)),
             Service(b_key, "rr", real_servers=shared_in_b)),
        )  # fmt: skip
        for first in (a_key, b_key):  # whichever service is asked about first
            d = diff(prev, cur)
            second = b_key if first == a_key else a_key
            got = {k: d.rates_of(k, after) for k in (first, second)}
            assert got[a_key] == Rates(10.0, 20.0, 0.0, 40.0, 0.0)
            assert got[b_key] == ZERO_RATES
            assert dict(d.real_server_rates) == reference(prev, cur)["real_server_rates"]
