"""Benchmark: how long a view switch takes, key press to settled frame.

    python tests/bench/bench_ui_switch.py [--rounds 4] [--size 80x24 --size 200x60]

The real console on the simulated director (the demo), headless, no poll thread.
Pilot presses the number keys 1-5 round after round and waits for the screen to
settle after each; the same wait after a key bound to nothing ("x") is the harness's
own cost, printed alongside so the difference is what the switch costs.
Prints median / p90 / worst in ms; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from lvstop.config import Config
from lvstop.sources.simulated import DEMO_START, SimulatedDirector
from lvstop.ui.launch import build_app


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def measure(size: tuple[int, int], rounds: int) -> tuple[list[float], list[float]]:
    clock = Clock()
    app = build_app(
        SimulatedDirector(clock=clock),
        Config(),
        live=False,
        clock=clock,
        wall_clock=lambda: DEMO_START + clock.now,
        use_syslog=False,
    )
    switches: list[float] = []
    idle: list[float] = []
    async with app.run_test(size=size) as pilot:
        app.poll_now()
        clock.now += 1
        app.poll_now()
        await pilot.pause()
        for _ in range(rounds):
            for key in "2345123451":
                t = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                switches.append(time.perf_counter() - t)
                t = time.perf_counter()
                await pilot.press("x")
                await pilot.pause()
                idle.append(time.perf_counter() - t)
    return switches, idle


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(len(ordered) * 0.9)]
    return (
        f"median {statistics.median(values) * 1000:6.1f} ms  p90 {p90 * 1000:6.1f} ms  "
        f"worst {ordered[-1] * 1000:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--size", action="append", default=None, help="WxH (repeatable)")
    args = parser.parse_args()
    for text in args.size or ["80x24", "200x60"]:
        w, h = (int(v) for v in text.split("x"))
        switches, idle = asyncio.run(measure((w, h), args.rounds))
        print(f"{text:>7} view switch ({len(switches)}): {_ms(switches)}")
        print(f"{text:>7} no-op key   ({len(idle)}): {_ms(idle)}")


if __name__ == "__main__":
    main()
