"""The console refresh's fast paths against the general ones, and its garbage.

`diff` pairs two tables that list the same services and servers in the same order
in a few whole-table passes (`_aligned`), and a rate column of such a diff is used
as computed; both must give what the service-by-service path gives. Real-server
keys are one object per server (`rs_key`), which is what lets events compare two
polls' key lists as identities. And a refresh's rows must be freed when dropped,
not left as cyclic garbage for the collector (they once were: rows held their
lookups, the lookups held the rows).
"""

from __future__ import annotations

import gc
import random
from dataclasses import fields, replace

import pytest
from test_model_diff_lazy import _moved, _pair
from test_rows_bulk import _state

from lvstop.model import diff as diff_module
from lvstop.model.diff import diff
from lvstop.model.ipvs import Forward, Rates, RealServer, RealServerKey, rs_key
from lvstop.model.snapshot import Snapshot
from lvstop.ui import rows as R

RATE_NAMES = [f.name for f in fields(Rates)]


def _same_shape(seed: int, whole: bool = False) -> tuple[Snapshot, Snapshot]:
    """Two polls of one table: the same services and servers in the same order, with
    counters, weights and connections moved (and some objects reused as they are).
    `whole`: every service has servers and a new list of them (a busy director: the
    rate column's own fast path)."""
    prev, _ = _pair(seed)
    rng = random.Random(seed)
    if whole:
        prev = replace(prev, services=tuple(s for s in prev.services if s.real_servers))
    services = tuple(
        replace(s, real_servers=tuple(_moved(rng, rs) for rs in s.real_servers))
        if whole or rng.random() < 0.85
        else s
        for s in prev.services
    )
    cur = replace(prev, monotonic=prev.monotonic + rng.choice([0.5, 1.0, 2.0]), services=services)
    return prev, cur


def _observed(d: diff_module.SnapshotDiff) -> tuple[object, ...]:
    cur = d.cur
    return (
        d.added_services,
        d.removed_services,
        d.added_real_servers,
        d.removed_real_servers,
        dict(d.changed_services),
        dict(d.changed_real_servers),
        list(d.weight_changes()),
        dict(d.service_rates),
        dict(d.real_server_rates),
        [d.rate_column(name) for name in RATE_NAMES],
        [d.rates_of(s.key, rs) for s in cur.services for rs in s.real_servers],
    )


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("whole", [False, True])
def test_aligned_tables_pair_as_service_by_service(
    seed: int, whole: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    prev, cur = _same_shape(seed, whole)
    taken = []
    aligned = diff_module._aligned

    def spy(before: tuple[object, ...], after: tuple[object, ...]) -> object:
        got = aligned(before, after)  # type: ignore[arg-type]
        taken.append(got is not None)
        return got

    monkeypatch.setattr(diff_module, "_aligned", spy)
    d = diff(prev, cur)
    fast = _observed(d)
    assert taken == [True]  # the fast path was the one measured
    if whole:  # and the rate column's: every service paired whole, in order
        assert [p.new for p in d._rs_pairs] == [s.real_servers for s in cur.services]
    for name in RATE_NAMES:  # each column is each server's own rate, in table order
        one_by_one = [
            getattr(d.rates_of(s.key, rs), name) for s in cur.services for rs in s.real_servers
        ]
        assert list(d.rate_column(name)) == one_by_one
    monkeypatch.setattr(diff_module, "_aligned", lambda before, after: None)
    assert fast == _observed(diff(prev, cur))


@pytest.mark.parametrize("seed", range(40))
def test_changed_shapes_never_take_the_aligned_path(seed: int) -> None:
    prev, cur = _pair(seed)
    before = [(s.key, [(rs.address, rs.port) for rs in s.real_servers]) for s in prev.services]
    after = [(s.key, [(rs.address, rs.port) for rs in s.real_servers]) for s in cur.services]
    got = diff_module._aligned(prev.services, cur.services)
    assert (got is not None) == (before == after)


def test_real_server_keys_are_one_object_per_server() -> None:
    a = rs_key("198.18.0.10", 8080)
    assert a is rs_key("198.18.0.10", 8080)
    assert a == RealServerKey("198.18.0.10", 8080)
    assert a is not rs_key("198.18.0.10", 8081)
    rs = RealServer("198.18.0.10", 8080, Forward.ROUTE, 1)
    assert rs.key is a and replace(rs, weight=0).key is a


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_a_refreshs_rows_are_not_cyclic_garbage(seed: int) -> None:
    state = _state(seed, True)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds stays in gc.garbage
    try:
        for _ in range(5):
            rows = R.real_server_rows(state)
            assert rows
            R.rate_values("cps")(rows)
            del rows
        gc.collect()
        ours = (R.RealServerRow, R._Lookups, R._ServiceContext)
        # Only ours: another thread's garbage (an earlier test's) is not this test's.
        found = [type(o).__name__ for o in gc.garbage if isinstance(o, ours)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert found == []
