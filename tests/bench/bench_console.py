"""Benchmark: one console refresh: the model's diff, then the console's own work.

    python tests/bench/bench_console.py [--services 1000] [--servers 10] [--runs 20]

Builds two synthetic snapshots of `services x servers` real servers whose counters
and connection counts all changed, then times what the console does per update on
the real App (headless, 200x60): `diff` (timed alone), then `ConsoleState.apply`,
the header, the visible view's `refresh_from` (rows + LiveTable.set_rows) and
rendering every visible line. Prints the median and worst of --runs for the Services
and the all-Real-servers views.
Prints numbers; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

from lvstop.config import Config
from lvstop.model import Counters, Forward, Protocol, RealServer, Service, ServiceKey, Snapshot
from lvstop.model.capabilities import Capabilities
from lvstop.model.diff import diff
from lvstop.model.snapshot import SourceKind
from lvstop.ui.launch import build_app


def table(services: int, servers: int, tick: int) -> Snapshot:
    out = []
    for s in range(services):
        vip = f"10.{s // 250}.{s % 250}.1"
        rss = tuple(
            RealServer(
                address=f"172.16.{s % 250}.{r + 1}",
                port=8080,
                forward=Forward.ROUTE,
                weight=1 if r else 0,
                active_conns=100 + tick * (r + 1),
                inactive_conns=50 + tick,
                stats=Counters(1000 * tick + r, 9000 * tick, 0, 900000 * tick, 0),
            )
            for r in range(servers)
        )
        out.append(
            Service(
                ServiceKey.inet(Protocol.TCP, vip, 80),
                "wlc",
                stats=Counters(1000 * tick * servers, 9000 * tick * servers, 0, 0, 0),
                real_servers=rss,
            )
        )
    return Snapshot(float(tick), float(tick), "bench", SourceKind.SIMULATED, tuple(out))


@dataclass
class Scripted:
    """A director that replays prepared snapshots (no simulation cost in the numbers)."""

    snaps: list[Snapshot]
    i: int = 0

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(False, "benchmark")

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        snap = self.snaps[self.i % len(self.snaps)]
        self.i += 1
        return snap

    def close(self) -> None:
        pass


async def measure(services: int, servers: int, runs: int) -> dict[str, list[float]]:
    snaps = [table(services, servers, t) for t in range(1, runs + 3)]
    app = build_app(Scripted(snaps), Config(), live=False)
    results: dict[str, list[float]] = {
        "diff": [],
        "services view": [],
        "servers view": [],
    }
    async with app.run_test(size=(200, 60)) as pilot:
        app.poll_now()
        for view, key in (("services", "1"), ("servers", "2")):
            await pilot.press(key)
            await pilot.pause()
            for _ in range(runs):
                prev = app.state.snapshot
                nxt = app.feed.director.snapshot()
                t0 = time.perf_counter()
                d = diff(prev, nxt)
                results["diff"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                update: Any = type("U", (), {})()
                update.snapshot, update.previous, update.diff = nxt, prev, d
                update.events, update.error, update.reason = (), None, "timer"
                app.apply_updates([update])
                table_widget = app.current_table()
                for y in range(table_widget.size.height):
                    table_widget.render_line(y)
                results[f"{view} view"].append(time.perf_counter() - t0)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--servers", type=int, default=10)
    p.add_argument("--runs", type=int, default=20)
    a = p.parse_args()
    res = asyncio.run(measure(a.services, a.servers, a.runs))
    print(f"{a.services} services x {a.servers} real servers, {a.runs} refreshes each")
    for view, times in res.items():
        ms = [t * 1000 for t in times]
        print(f"  {view:<14} median {statistics.median(ms):6.1f} ms   worst {max(ms):6.1f} ms")


if __name__ == "__main__":
    main()
