"""Lab tier: tests that need a real IPVS kernel. They only run inside the lab VM.

Run them with ``.venv/bin/python tests/lab/vm.py`` (as root); see tests/lab/README.md.
Outside the VM (no ``LVSTOP_LAB=1``) nothing here is collected, so a plain ``pytest`` on
the host neither runs nor reports them.

Fixtures:
    seed        session: the seed topology (topology.Topology), built once, torn down at
                the end; keepalived and http.server logs are copied to the results dir.
    lab         function: the same Topology, restored to its steady state after the test
                (use it in tests that stop servers, keepalived, or change IPVS).
    scratch_ns  function: the name of a fresh, empty network namespace (own IPVS table),
                deleted after the test.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from topology import Topology

LAB_DIR = Path(__file__).resolve().parent
IN_LAB = os.environ.get("LVSTOP_LAB") == "1"

if not IN_LAB:
    # The host kernel has no IPVS; these tests run only inside the VM (tests/lab/vm.py).
    collect_ignore_glob = ["*"]


def _results_dir() -> Path | None:
    env = os.environ.get("LVSTOP_LAB_RESULTS")
    return Path(env) if env else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if LAB_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def seed(request: pytest.FixtureRequest) -> Iterator[Topology]:
    if not IN_LAB:
        pytest.fail("the seed topology only exists inside the lab VM (tests/lab/vm.py)")
    topo = Topology()
    t0 = time.monotonic()
    try:
        topo.setup()
        elapsed = time.monotonic() - t0
        results = _results_dir()
        if results is not None:
            (results / "timings.json").write_text(
                json.dumps({"topology_setup_s": round(elapsed, 2), **topo.setup_timings}) + "\n"
            )
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            phases = ", ".join(f"{k}={v}" for k, v in topo.setup_timings.items())
            reporter.write_line(f"\nlab: seed topology ready in {elapsed:.1f} s ({phases})")
        yield topo
    finally:
        topo.teardown()
        results = _results_dir()
        if results is not None:
            topo.collect_logs(results / "logs")


@pytest.fixture
def lab(seed: Topology) -> Iterator[Topology]:
    yield seed
    if seed.seed_problems():
        seed.restore()


_scratch_ids = itertools.count(1)


@pytest.fixture
def scratch_ns() -> Iterator[str]:
    name = f"scratch{next(_scratch_ids)}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    try:
        yield name
    finally:
        pids = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", name], check=False)
