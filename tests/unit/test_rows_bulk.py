"""Bulk column values of the real-server rows against each row's own value.

A sort by a rate reads one rate of every row in one pass (`rows.rate_values`, from
`SnapshotDiff.rate_column` by the row's place in the snapshot); it must give what
each row's `rates` gives, or the order on screen would change.
"""

from __future__ import annotations

import random
from dataclasses import fields, replace

import pytest
from test_model_diff_lazy import _pair

from lvstop.feed import Update
from lvstop.model import Counters, Forward, Protocol, Rates, RealServer, Service, ServiceKey
from lvstop.model.diff import diff
from lvstop.model.keepalived import AbsentRealServer, KeepalivedState, RealServerStatus
from lvstop.model.snapshot import Snapshot, SourceKind
from lvstop.model.vrrp import Health
from lvstop.ui import rows as R
from lvstop.ui.state import ConsoleState
from lvstop.ui.table import Column, LiveTable

RATE_NAMES = [f.name for f in fields(Rates)]


def _with_absent(snap: Snapshot, rng: random.Random) -> Snapshot:
    """`snap` with keepalived reporting a server or two it removed from IPVS."""
    keys = [s.key for s in snap.services] or [None]
    absent = tuple(
        AbsentRealServer(
            key, f"172.31.0.{i}", 8080, RealServerStatus(1, 0, Health.DOWN), True, "failed"
        )
        for i, key in enumerate(rng.sample(keys, min(2, len(keys))))
        if key is not None
    )
    return replace(snap, keepalived=KeepalivedState(absent_real_servers=absent))


def _with_traffic(snap: Snapshot, rng: random.Random) -> Snapshot:
    """`snap` with inbound bytes counted on some services (a share by bytes/s)."""
    services = tuple(
        replace(s, stats=Counters(s.stats.conns, 0, 0, rng.choice([0, 5000]), 0))
        for s in snap.services
    )
    return replace(snap, services=services)


def _state(seed: int, with_diff: bool) -> ConsoleState:
    prev, cur = _pair(seed)
    rng = random.Random(seed)
    if seed % 2:
        cur = _with_traffic(cur, rng)
    prev, cur = _with_absent(prev, rng), _with_absent(cur, rng)
    state = ConsoleState(lambda: 0.0)
    d = diff(prev, cur) if with_diff else None
    state.apply(Update(cur, prev if with_diff else None, d, (), None, "timer"))
    return state


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("with_diff", [True, False])
def test_bulk_rates_equal_each_rows_rates(seed: int, with_diff: bool) -> None:
    state = _state(seed, with_diff)
    snap = state.snapshot
    assert snap is not None
    scopes = [None, *(s.key for s in snap.services[:3])]
    for service in scopes:  # all servers, and drilled into one service
        rows = R.real_server_rows(state, service)
        rng = random.Random(seed)
        shuffled = rng.sample(rows, len(rows))  # a bulk column takes any order
        for name in RATE_NAMES:
            bulk = R.rate_values(name)
            for subset in (rows, shuffled, shuffled[: len(rows) // 2]):
                assert bulk(subset) == [getattr(r.rates, name) for r in subset]
        assert R.share_values(shuffled) == [r.share for r in shuffled]


def test_the_fixture_has_every_kind_of_share() -> None:
    """By bytes/s, by active connections, none (absent, or an idle service)."""
    kinds = set()
    for seed in range(60):
        for r in R.real_server_rows(_state(seed, True)):
            share = r.share
            kinds.add("none" if share is None else "bytes" if r.ctx.inbps > 0 else "conns")
    assert kinds == {"bytes", "conns", "none"}


def test_rows_of_two_refreshes_mixed_fall_back_to_each_row() -> None:
    a, b = _state(1, True), _state(2, True)
    rows = R.real_server_rows(a) + R.real_server_rows(b)
    assert R.rate_values("cps")(rows) == [r.rates.cps for r in rows]


def test_a_table_sorts_by_the_bulk_values_as_by_each_row() -> None:
    """The same order (ties included: the sort is stable) with and without `bulk`."""
    state = _state(7, True)
    rows = R.real_server_rows(state)
    get = lambda r: r.rates.cps  # noqa: E731
    for reverse in (False, True):
        plain = LiveTable([Column("cps", "CPS", 6, get)], sort_key="cps", reverse=reverse)
        bulk = LiveTable(
            [Column("cps", "CPS", 6, get, bulk=R.rate_values("cps"))],
            sort_key="cps",
            reverse=reverse,
        )
        plain.set_rows(rows)
        bulk.set_rows(rows)
        assert [r.key for r in bulk.rows] == [r.key for r in plain.rows]


def test_an_absent_row_shows_keepalived_s_record() -> None:
    state = _state(3, True)
    rows = R.real_server_rows(state)
    absent = [r for r in rows if not r.in_ipvs]
    assert absent, "the fixture reports servers removed from IPVS"
    for r in absent:
        assert r.pos == -1 and r.rs is None
        assert r.key[1].startswith("172.31.0.") and r.key[2] == 8080
        assert r.health == "down" and r.status == RealServerStatus(1, 0, Health.DOWN)
        assert r.detail == "not in IPVS: failed"
        assert r.rates == Rates() and r.weight is None
    present = [r for r in rows if r.in_ipvs]
    assert [r.pos for r in present] == list(range(len(present)))


def test_shares_by_bytes_in_bulk_and_per_row() -> None:
    key = ServiceKey.inet(Protocol.TCP, "10.0.0.1", 80)

    def snap(t: float, k: int) -> Snapshot:
        servers = tuple(
            RealServer(
                f"172.16.0.{i}", 8080, Forward.ROUTE, 1, active_conns=i,
                stats=Counters(k * i, k * i, 0, k * 1000 * i, 0),
            )
            for i in range(1, 4)
        )  # fmt: skip
        total = Counters(6 * k, 6 * k, 0, 6000 * k, 0)
        return Snapshot(
            t,
            t,
            "h",
            SourceKind.SIMULATED,
            (Service(key, "rr", stats=total, real_servers=servers),),
        )

    prev, cur = snap(1.0, 1), snap(3.0, 5)
    state = ConsoleState(lambda: 0.0)
    state.apply(Update(cur, prev, diff(prev, cur), (), None, "timer"))
    rows = R.real_server_rows(state)
    assert R.share_values(rows) == [r.share for r in rows] == [1 / 6, 2 / 6, 3 / 6]
