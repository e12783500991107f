"""Benchmark: from launching lvstop to its first full frame, in a real terminal.

    python tests/bench/bench_ui_launch.py [--runs 5]

Starts `lvstop --demo` (the simulated director) and `lvstop --replay` of a 100 x 10
synthetic recording, each --runs times, in a fresh 200x60 tmux session, and polls
`tmux capture-pane` every 10 ms until a data row of the Services table is on the
screen. The time counts from just before tmux is asked to start the session (so it
includes tmux starting the process, Python's start, the imports, the first poll and
the first frame). Prints the median and every run; asserts nothing about time.
Target: <= 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench_ui_recording import write_recording
from bench_ui_tmux import LVSTOP, Tmux, have_tmux, machine


def launch(argv: list[str], row: str) -> float:
    with Tmux(argv) as term:
        return term.wait_for(row)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    if not have_tmux():
        print("bench_ui_launch: tmux is not installed; skipped")
        return 0
    print(f"launch to first full frame (a data row on screen), 200x60 tmux, {a.runs} runs each")
    print(f"  {machine()}")
    with tempfile.TemporaryDirectory(prefix="lvstop-bench-") as tmp:
        rec = Path(tmp) / "recording.jsonl"
        write_recording(rec, 100, 10, 5)
        config = Path(tmp) / "config.yaml"
        config.write_text("interval: 1\n")
        cases = (
            ("lvstop --demo", [*LVSTOP, "--demo", "--config", str(config)], "TCP  198.18.23.73:"),
            (
                "lvstop --replay (100 x 10)",
                [*LVSTOP, "--replay", str(rec), "--config", str(config)],
                "TCP  10.0.0.1:80",
            ),
        )
        for name, argv, row in cases:
            launch(argv, row)  # warm the page cache: measure starts, not the disk
            times = [launch(argv, row) for _ in range(a.runs)]
            each = " ".join(f"{t:.2f}" for t in times)
            print(f"  {name:<28} median {statistics.median(times):.2f} s   (runs: {each})")
    print("  target: <= 1 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
