"""Native micro-benchmark of events_between (the Feed runs it on every poll).

Two snapshots of S services x D real servers, each with keepalived's status per real
server, where the counters moved and nothing else changed (the common poll): prints
the median time of `events_between` next to that of `diff` on the same pair.

    python tests/bench/bench_events.py [--services 1000] [--dests 10] [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from types import MappingProxyType

from lvstop.model import (
    Counters,
    Forward,
    Protocol,
    RealServer,
    Service,
    ServiceKey,
    Snapshot,
    SourceKind,
)
from lvstop.model.diff import diff
from lvstop.model.events import events_between
from lvstop.model.keepalived import KeepalivedState, RealServerStatus, RsId
from lvstop.model.vrrp import Health


def snapshot(services: int, dests: int, t: int) -> Snapshot:
    svcs = []
    statuses: dict[RsId, RealServerStatus] = {}
    for i in range(services):
        key = ServiceKey.inet(Protocol.TCP, f"10.{i // 250}.{i % 250}.1", 80)
        rss = tuple(
            RealServer(
                f"10.9.{i % 250}.{j}", 80, Forward.ROUTE, 1, stats=Counters(t * j, 0, 0, 0, 0)
            )
            for j in range(dests)
        )
        svcs.append(
            Service(key, "rr", stats=Counters(t, 0, 0, 0, 0), real_servers=rss, vip_present=True)
        )
        for rs in rss:
            statuses[(key, rs.key)] = RealServerStatus(1, 1, Health.UP, 0, 1)
    ka = KeepalivedState(real_servers=MappingProxyType(statuses))
    return Snapshot(1e9 + t, t, "bench", SourceKind.SIMULATED, tuple(svcs), keepalived=ka)


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--dests", type=int, default=10)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    a, b = snapshot(args.services, args.dests, 1), snapshot(args.services, args.dests, 2)
    d = diff(a, b)
    assert events_between(a, b, d) == ()
    n = args.services * args.dests
    print(f"{args.services} services x {args.dests} real servers ({n} with keepalived status):")
    print(f"  diff            median {median_ms(lambda: diff(a, b), args.runs):8.1f} ms")
    print(
        f"  events_between  median {median_ms(lambda: events_between(a, b, d), args.runs):8.1f} ms"
    )


if __name__ == "__main__":
    main()
