"""Benchmark: the console's CPU use at a 1 s interval, 100 services x 10 real servers.

    python tests/bench/bench_ui_cpu.py [--seconds 60] [--services 100] [--servers 10]

Writes a synthetic recording (bench_ui_recording.py: every counter moves each
second) and runs the real `lvstop --replay FILE --interval 1` in a 200x60 tmux
terminal. After the first frame and a few seconds of warm-up, it reads the process's
CPU time (psutil: user + system, all threads) over --seconds and prints the average
in % of one core, and checks that the screen kept changing (so the console really
was refreshing). The replay hands over decoded JSON, so the number includes decoding
one 1,000-server document per second, roughly what reading netlink costs live.
Prints numbers; asserts nothing about time. Target: <= 3 % of one core.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psutil
from bench_ui_recording import write_recording
from bench_ui_tmux import LVSTOP, Tmux, have_tmux, machine

WARMUP = 5.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--services", type=int, default=100)
    p.add_argument("--servers", type=int, default=10)
    a = p.parse_args()
    if not have_tmux():
        print("bench_ui_cpu: tmux is not installed; skipped")
        return 0
    print(
        f"console CPU, {a.services} services x {a.servers} real servers, interval 1 s, "
        f"{a.seconds:g} s in a 200x60 tmux terminal"
    )
    print(f"  {machine()}")
    with tempfile.TemporaryDirectory(prefix="lvstop-bench-") as tmp:
        rec = Path(tmp) / "recording.jsonl"
        frames = int(a.seconds + WARMUP) + 30  # never runs out while measured
        write_recording(rec, a.services, a.servers, frames)
        config = Path(tmp) / "config.yaml"
        config.write_text("interval: 1\n")
        argv = [*LVSTOP, "--replay", str(rec), "--interval", "1", "--config", str(config)]
        with Tmux(argv) as term:
            first = term.wait_for("TCP  10.0.0.1:80")
            proc = psutil.Process(term.pid())
            time.sleep(WARMUP)
            before_screen = term.screen()
            c0, t0 = proc.cpu_times(), time.monotonic()
            time.sleep(a.seconds)
            c1, t1 = proc.cpu_times(), time.monotonic()
            after_screen = term.screen()
            rss = proc.memory_info().rss
    busy = (c1.user - c0.user) + (c1.system - c0.system)
    wall = t1 - t0
    print(f"  first frame after {first:.2f} s; measured {wall:.1f} s after {WARMUP:g} s warm-up")
    print(
        f"  CPU: {100 * busy / wall:.2f} % of one core on average "
        f"(user {c1.user - c0.user:.2f} s, system {c1.system - c0.system:.2f} s); "
        f"RSS {rss / 2**20:.0f} MiB"
    )
    if before_screen == after_screen:
        print("  WARNING: the screen did not change while measured (console not refreshing?)")
        return 1
    print("  target: <= 3 % of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
