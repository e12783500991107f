"""`lvstop --demo` end to end: the real CLI, poll thread and terminal, in a pty."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    out = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end and needle not in out:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


def test_demo_console_starts_refreshes_and_quits_with_q(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("interval: 0.5\nbogus: 1\n")
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lvstop", "--demo", "--config", str(cfg)],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    try:
        screen = _read_until(main, b"198.18.23.73:8765", 30)
        assert b"lvs1-demo" in screen and b"READ-ONLY" in screen
        # The config warning is shown inside the console (a toast), not fatal.
        assert b"bogus" in screen + _read_until(main, b"bogus", 10)
        os.write(main, b"q")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
