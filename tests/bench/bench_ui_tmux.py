"""The console in a real terminal for the benchmarks: a private tmux server per run.

Not a benchmark itself: bench_ui_cpu.py and bench_ui_launch.py start lvstop in a
detached tmux session of a fixed size (its own server socket, so nothing of the
user's tmux is touched), read the screen back with `capture-pane`, find lvstop's
process for psutil, and kill only that server at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LVSTOP = [sys.executable, "-m", "lvstop"]


def have_tmux() -> bool:
    return shutil.which("tmux") is not None


def machine() -> str:
    """How fast and how busy this machine is, to read the numbers against."""
    t0 = time.process_time()
    x = 0
    for i in range(1_000_000):
        x += i
    loop = (time.process_time() - t0) * 1000
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} CPUs, load average {load}; 1M Python loop steps {loop:.0f} ms"
    )


class Tmux:
    """One detached session running one command; `with Tmux(...) as t:` kills it."""

    _count = 0

    def __init__(self, argv: list[str], *, width: int = 200, height: int = 60) -> None:
        Tmux._count += 1
        self.socket = f"lvstop-bench-{os.getpid()}-{Tmux._count}"
        self._dir = tempfile.TemporaryDirectory(prefix="lvstop-tmux-")
        conf = Path(self._dir.name) / "tmux.conf"
        conf.write_text("set -g remain-on-exit on\nset -g status off\n")
        self.started = time.monotonic()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
        subprocess.run(
            ["tmux", "-L", self.socket, "-f", str(conf), "new-session", "-d", "-s", "lvstop",
             "-x", str(width), "-y", str(height), "--", *argv],
            check=True, env=env, cwd=ROOT,
        )  # fmt: skip

    def __enter__(self) -> Tmux:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        )
        return out.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "lvstop")

    def pid(self) -> int:
        """The pane's process: the command itself (tmux execs a multi-word command)."""
        return int(self._tmux("display-message", "-p", "-t", "lvstop", "#{pane_pid}").strip())

    def wait_for(self, text: str, timeout: float = 30.0, every: float = 0.01) -> float:
        """Seconds from the session's start until `text` is on the screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            now = time.monotonic()
            if text in screen:
                return now - self.started
            if now > deadline:
                raise TimeoutError(f"{text!r} not on the screen after {timeout} s:\n{screen}")
            time.sleep(every)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        self._dir.cleanup()
