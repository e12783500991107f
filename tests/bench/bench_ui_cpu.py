"""Benchmark: the console's CPU use at a 1 s interval, 100 services x 10 real servers.

    python tests/bench/bench_ui_cpu.py [--seconds 60] [--services 100] [--servers 10]
                                       [--source both|replay|memory]

Runs the real console in a 200x60 tmux terminal on synthetic frames
(bench_ui_recording.py: every counter of every real server moves each second,
keepalived's health included, a few servers fail and recover every second). After
the first frame and a few seconds of warm-up, it reads the process's CPU time
(psutil: user + system, all threads) over --seconds and prints the average in % of
one core, and checks that the screen kept changing (so the console really was
refreshing). Two sources, one line each:

  replay   `lvstop --replay FILE --interval 1` on a recording: the number includes
           decoding one 1,000-server JSON document per second, which is the replay
           source's cost, not the console's. That decoding is timed on its own here
           and printed, with the difference (the console's share).
  memory   the same frames built in memory before the console starts
           (`run_console` on a ReplayDirector over them, frozen out of the garbage
           collector's way): no decoding, so this is the console itself, closest to
           the live netlink director, which reuses unchanged objects.

Prints numbers; asserts nothing about time. Target: <= 3 % of one core.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import psutil
from bench_ui_recording import synthetic_frames, write_recording
from bench_ui_tmux import LVSTOP, Tmux, have_tmux, machine

WARMUP = 5.0
HERE = Path(__file__).resolve().parent


def measure(argv: list[str], seconds: float) -> tuple[float, float, float, float, int, bool]:
    """(first frame s, wall s, user s, system s, RSS bytes, screen changed)."""
    with Tmux(argv) as term:
        first = term.wait_for("TCP  10.0.0.1:80", timeout=120)
        proc = psutil.Process(term.pid())
        time.sleep(WARMUP)
        before_screen = term.screen()
        c0, t0 = proc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = proc.cpu_times(), time.monotonic()
        after_screen = term.screen()
        rss = proc.memory_info().rss
    return (
        first,
        t1 - t0,
        c1.user - c0.user,
        c1.system - c0.system,
        rss,
        before_screen != after_screen,
    )


def decode_cost(path: Path) -> float:
    """CPU seconds to decode one frame of the recording, as --replay does."""
    from lvstop.sources.replay import recording_frames

    text = path.read_text(encoding="utf-8")
    t0 = time.process_time()
    n = sum(1 for _ in recording_frames(text))
    return (time.process_time() - t0) / max(1, n)


def report(name: str, result: tuple[float, float, float, float, int, bool]) -> float:
    first, wall, user, system, rss, changed = result
    busy = 100 * (user + system) / wall
    print(
        f"  {name:<7} CPU {busy:5.2f} % of one core (user {user:.2f} s, system {system:.2f} s "
        f"over {wall:.1f} s after {WARMUP:g} s warm-up; first frame after {first:.2f} s; "
        f"RSS {rss / 2**20:.0f} MiB)"
    )
    if not changed:
        print(f"  WARNING ({name}): the screen did not change while measured")
    return busy


def child(services: int, servers: int, frames: int) -> None:
    """The `memory` source: the real console on frames built beforehand."""
    from lvstop.config import Config
    from lvstop.sources.replay import ReplayDirector
    from lvstop.ui.launch import run_console

    snaps = list(synthetic_frames(services, servers, frames))
    gc.collect()
    gc.freeze()  # the prepared frames are the benchmark's, not the console's, garbage
    run_console(ReplayDirector(iter(snaps), name="in-memory frames"), Config(), interval=1.0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--services", type=int, default=100)
    p.add_argument("--servers", type=int, default=10)
    p.add_argument("--source", choices=("both", "replay", "memory"), default="both")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    frames = int(a.seconds + WARMUP) + 30  # never runs out while measured
    if a.child:
        child(a.services, a.servers, frames)
        return 0
    if not have_tmux():
        print("bench_ui_cpu: tmux is not installed; skipped")
        return 0
    print(
        f"console CPU, {a.services} services x {a.servers} real servers, interval 1 s, "
        f"{a.seconds:g} s in a 200x60 tmux terminal"
    )
    print(f"  {machine()}")
    ok = True
    if a.source in ("both", "replay"):
        with tempfile.TemporaryDirectory(prefix="lvstop-bench-") as tmp:
            rec = Path(tmp) / "recording.jsonl"
            write_recording(rec, a.services, a.servers, frames)
            config = Path(tmp) / "config.yaml"
            config.write_text("interval: 1\n")
            argv = [*LVSTOP, "--replay", str(rec), "--interval", "1", "--config", str(config)]
            result = measure(argv, a.seconds)
            busy = report("replay", result)
            decode = 100 * decode_cost(rec)
        print(
            f"          of which decoding the recording: {decode:.2f} % "
            f"(one frame per second); the console's share: {busy - decode:.2f} %"
        )
        ok = ok and result[5]
    if a.source in ("both", "memory"):
        argv = [
            sys.executable, str(HERE / "bench_ui_cpu.py"), "--child", "--seconds", str(a.seconds),
            "--services", str(a.services), "--servers", str(a.servers),
        ]  # fmt: skip
        result = measure(argv, a.seconds)
        report("memory", result)
        ok = ok and result[5]
    print("  target: <= 3 % of one core")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
