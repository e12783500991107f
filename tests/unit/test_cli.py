"""The CLI's contract on a host without IPVS, and its argument errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

LVSTOP = [sys.executable, "-m", "lvstop"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LVSTOP, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(Path("/proc/net/ip_vs").exists(), reason="this host has IPVS loaded")
def test_not_a_director_is_one_line_and_exit_2() -> None:
    out = run("snapshot")
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "not an LVS director" in lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("bad", [["--interval", "abc"], ["--interval", "-1"], ["--bogus"]])
def test_bad_arguments_exit_2_with_message(bad: list[str]) -> None:
    out = run("snapshot", *bad)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "error:" in out.stderr


def test_bad_config_names_file_and_line(tmp_path: Path) -> None:
    from lvstop import config

    bad = tmp_path / "c.yaml"
    bad.write_text("interval: 1\ninterval: [\n")
    loaded = config.load(bad)
    assert loaded.interval == 1.0
    assert loaded.warnings and loaded.warnings[0].startswith(f"{bad}:")
    neg = tmp_path / "n.yaml"
    neg.write_text("# comment\ninterval: -3\n")
    got = config.load(neg)
    assert got.interval == 1.0 and got.warnings[0].startswith(f"{neg}:2: interval must be")
