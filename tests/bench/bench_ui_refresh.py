"""Benchmark: one console refresh with 10,000 real servers, on the real App.

    python tests/bench/bench_ui_refresh.py [--services 1000] [--servers 10] [--runs 20]

The App runs headless (`App.run_test`, 200x60) on a replay of synthetic snapshots
(bench_ui_recording.py: every real server's counters and connections move each
second, keepalived health included). Each refresh is what the live console does per
poll, on its own thread: `Feed.poll_once` (the replay hands over a ready snapshot, so
this is diff() and the events) then `apply_updates` (console state, header, the
visible view's rows, the table's sort and filter). Printed per view, median and p95:

  diff+events   Feed.poll_once
  refresh       poll_once + apply_updates (the issue's "diff + table update")
  +frame        refresh, then Textual composing and writing the frame
  refresh wall  the refresh in wall-clock time (inflated when the machine is busy)

The first three are CPU time of the thread running the App and the poll (the test
harness' idle sleeps and other processes on a busy machine do not count).

Views: Services (1,000 rows), all Real servers (10,000 rows) in their default order
and sorted by CPS (every row's rate is looked up each refresh). The next snapshot is
built before each timed refresh, outside the numbers. Prints numbers; asserts nothing
about time. Target: refresh <= 50 ms median. The garbage collector is tuned as
`lvstop` tunes it (`tune_gc`), so its pauses count as they do in the console.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Iterator

from bench_ui_recording import synthetic_frames
from bench_ui_tmux import machine

from lvstop.config import Config
from lvstop.model.snapshot import Snapshot
from lvstop.sources.replay import ReplayDirector
from lvstop.ui.launch import build_app, tune_gc

VIEWS = (
    ("Services", "1", None),
    ("Real servers", "2", None),
    ("Real servers by CPS", "2", "cps"),
)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def measure(services: int, servers: int, runs: int) -> dict[str, dict[str, list[float]]]:
    frames = synthetic_frames(services, servers, 3 + len(VIEWS) * (runs + 1))
    slot: list[Snapshot] = [next(frames)]

    def handed_over() -> Iterator[Snapshot]:
        while slot:  # one ready snapshot at a time: memory for two tables, not 60
            yield slot.pop()

    app = build_app(ReplayDirector(handed_over(), name="synthetic"), Config(), live=False)
    out: dict[str, dict[str, list[float]]] = {}
    async with app.run_test(size=(200, 60)) as pilot:
        slot.append(next(frames))
        app.poll_now()
        await pilot.pause()
        for name, key, sort in VIEWS:
            await pilot.press(key)
            if sort is not None:
                app.current_table().sort_by(sort, reverse=True)
            slot.append(next(frames))
            app.poll_now()  # warm-up: the view's first rows
            await pilot.pause()
            got: dict[str, list[float]] = {
                "diff+events": [],
                "refresh": [],
                "+frame": [],
                "refresh wall": [],
            }
            for _ in range(runs):
                slot.append(next(frames))
                cpu0, wall0 = time.thread_time(), time.perf_counter()
                update = app.feed.poll_once("timer")
                cpu1 = time.thread_time()
                app.apply_updates([update])
                cpu2, wall2 = time.thread_time(), time.perf_counter()
                await pilot.pause()
                cpu3 = time.thread_time()
                assert update.error is None and app.state.snapshot is update.snapshot
                got["diff+events"].append(cpu1 - cpu0)
                got["refresh"].append(cpu2 - cpu0)
                got["+frame"].append(cpu3 - cpu0)
                got["refresh wall"].append(wall2 - wall0)
            out[name] = got
            rows = len(app.current_table().rows)
            print(f"  ({name}: {rows} rows, sorted by {app.current_table().sort_key})")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--servers", type=int, default=10)
    p.add_argument("--runs", type=int, default=20)
    a = p.parse_args()
    print(
        f"console refresh, {a.services} services x {a.servers} real servers "
        f"({a.services * a.servers} rows), {a.runs} refreshes per view, real App headless 200x60"
    )
    print(f"  {machine()}")
    tune_gc()
    res = asyncio.run(measure(a.services, a.servers, a.runs))
    for view, parts in res.items():
        line = "  ".join(
            f"{part} {statistics.median(ts) * 1000:6.1f} / {p95(ts) * 1000:6.1f}"
            for part, ts in parts.items()
        )
        print(f"  {view:<20} {line}   (ms, median / p95)")
    print("  target: refresh <= 50 ms median")


if __name__ == "__main__":
    main()
