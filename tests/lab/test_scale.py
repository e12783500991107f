"""1,000 services x 10 real servers: complete and correct, and the poll benchmark."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import truth
from topology import LAB_DIR, REPO, Topology

N_SERVICES = 1000
N_RS = 10
FORWARD = ("-g", "-m", "-i")


def rules() -> str:
    """ipvsadm -R input: services 198.19.x.y:80/443, real servers 198.18.100-139.z."""
    lines = []
    for i in range(N_SERVICES):
        vip = f"198.19.{i // 250}.{i % 250 + 1}"
        port = 80 if i % 2 == 0 else 443
        sched = ("rr", "wrr", "wlc", "lc")[i % 4]
        persist = " -p 120" if i % 3 == 0 else ""
        lines.append(f"-A -t {vip}:{port} -s {sched}{persist}")
        for j in range(N_RS):
            rip = f"198.18.{100 + i % 40}.{j + 1 + (i // 40) % 20 * 10}"
            fwd = FORWARD[(i + j) % 3]
            lines.append(f"-a -t {vip}:{port} -r {rip}:{port} {fwd} -w {(i + j) % 50}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def big(seed: Topology) -> Iterator[str]:
    ns = "scale"
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    # With no local routing table yet, the kernel calls every address "not unicast".
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    try:
        seed.run(ns, "ipvsadm", "-R", input=rules(), timeout=300)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_thousand_by_ten_is_complete_and_correct(seed: Topology, big: str) -> None:
    want, doc = truth.sandwich(
        lambda *a: seed.run(big, *a, timeout=120),
        lambda: truth.lvstop_json(seed.lvstop(big, "snapshot", "--json", check=False, timeout=300)),
        tries=3,
    )
    got = truth.from_lvstop(doc)
    assert len(got) == N_SERVICES
    assert sum(len(s.rs) for s in got.values()) == N_SERVICES * N_RS
    assert got == want


def test_benchmark_poll_vs_ipvsadm(seed: Topology, big: str, record: Any) -> None:
    """Prints lvstop's poll time, ipvsadm's and their ratio (no timed assertion)."""
    out = seed.run(big, str(REPO / ".venv/bin/python"), str(LAB_DIR / "bench_poll.py"), timeout=900)
    result: dict[str, Any] = json.loads(out.stdout)
    record("bench_poll_1000x10", result)
    assert result["services"] == N_SERVICES and result["real_servers"] == N_SERVICES * N_RS


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Any:
    """Print a benchmark result and keep it in the results directory for the host."""

    def write(name: str, data: dict[str, Any]) -> None:
        line = f"BENCH {name}: {json.dumps(data)}"
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("\n" + line)
        results = os.environ.get("LVSTOP_LAB_RESULTS")
        if results:
            with Path(results, "bench.txt").open("a") as fh:
                fh.write(line + "\n")

    return write
