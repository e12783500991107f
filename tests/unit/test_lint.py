"""Static checks are part of the suite: mypy strict on lvstop/, ruff on everything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True)


def test_mypy_strict() -> None:
    out = _run("mypy", "--no-error-summary", "lvstop")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_check() -> None:
    out = _run("ruff", "check", "lvstop", "tests")
    assert out.returncode == 0, out.stdout + out.stderr
