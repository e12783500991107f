"""How soon the console has keepalived's roles after launch, on the real pair.

A fresh process on lvs1 does what the console does at launch (a LiveDirector, a Feed
running with events watched) and stamps every Update until one has both the roles and
the checkers' health. It runs alternately as lvstop is ("overlap": the configuration
parsed while the dumps are awaited) and with that one step made serial again
("serial": configuration, then dumps), three runs each, medians printed, plus a cold
breakdown of one keepalived read part by part. The assertions are only that the roles and the health
do arrive (lvs1: VI_1 MASTER, VI_2 BACKUP): the numbers are for the report (the lab
VM is emulated, ~10-20x slower than a real machine).
"""

from __future__ import annotations

import json
import statistics
import subprocess

from topology import Topology

LAUNCH = r"""
import json, sys, threading, time
start = time.monotonic()
from lvstop.director import LiveDirector
from lvstop.feed import Feed
if sys.argv[1] == "serial":
    import concurrent.futures as cf
    from lvstop.sources.keepalived import state
    real = state.ThreadPoolExecutor
    class Inline(cf.ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            done = cf.Future()
            done.set_result(fn(*args, **kwargs))
            return done
    def pool(max_workers=None, thread_name_prefix=""):
        if thread_name_prefix == "keepalived-conf":
            return Inline(1)
        return real(max_workers, thread_name_prefix=thread_name_prefix)
    state.ThreadPoolExecutor = pool
# A timeline of the slow steps, to see where the time to the first roles goes.
from lvstop.director import LiveDirector as _LD
from lvstop.sources.keepalived.state import KeepalivedReader
trace = []
def traced(cls, name):
    plain = getattr(cls, name)
    def wrapper(*args, **kwargs):
        trace.append((round(time.monotonic() - start, 3), f"{name} start"))
        try:
            return plain(*args, **kwargs)
        finally:
            trace.append((round(time.monotonic() - start, 3), f"{name} end"))
    setattr(cls, name, wrapper)
for cls, name in ((KeepalivedReader, "collect"), (KeepalivedReader, "_load_config"),
                  (KeepalivedReader, "_dumps"), (KeepalivedReader, "join_reading"),
                  (_LD, "snapshot"), (_LD, "watch")):
    traced(cls, name)
d = LiveDirector()
trace.append((round(time.monotonic() - start, 3), "director ready"))
feed = Feed(d, interval=1.0)
stop = threading.Event()
seen = []
def on_update(u):
    s = u.snapshot
    ka = s.keepalived if s is not None else None
    roles = {i.name: i.state.value for i in ka.instances} if ka is not None else None
    health = len(ka.real_servers) if ka is not None else 0
    seen.append({"t": time.monotonic() - start, "reason": u.reason, "roles": roles,
                 "health": health})
    if roles and health:
        stop.set()
threading.Timer(20, stop.set).start()
feed.run(on_update, stop)
d.close()
print(json.dumps({"updates": seen, "trace": trace}))
"""

BREAKDOWN = r"""
import json, time
t0 = time.monotonic()
from lvstop.sources.keepalived.runtime import dumps
from lvstop.sources.keepalived.runtime.processes import local_daemon
from lvstop.sources.keepalived.state import KeepalivedReader
out = {"import": time.monotonic() - t0}
t = time.monotonic(); daemon = local_daemon(); out["find daemon"] = time.monotonic() - t
for kind in ("JSON", "STATS", "DATA"):
    t = time.monotonic(); dumps.signal_number(kind); out[f"signum {kind}"] = time.monotonic() - t
r = KeepalivedReader()
t = time.monotonic(); r._load_config(daemon, [], []); out["config"] = time.monotonic() - t
req = dumps.DumpRequester(daemon)
for kind in ("json", "stats", "data"):
    t = time.monotonic(); getattr(req, kind)(0.0); out[f"dump {kind}"] = time.monotonic() - t
print(json.dumps(out))
"""


def _run(seed: Topology, script: str, *args: str) -> object:
    argv = ["ip", "netns", "exec", "lvs1", seed.python, "-I", "-c", script, *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_first_keepalived_read_brings_roles_and_health(seed: Topology) -> None:
    times: dict[str, dict[str, list[float]]] = {}
    for mode in ("serial", "overlap") * 3:
        result = _run(seed, LAUNCH, mode)
        assert isinstance(result, dict)
        updates, trace = result["updates"], result["trace"]
        last = updates[-1]
        assert last["roles"] == {"VI_1": "MASTER", "VI_2": "BACKUP"}, updates
        assert last["health"] > 0, updates
        roles_at = next(u["t"] for u in updates if u["roles"])
        health_at = next(u["t"] for u in updates if u["health"])
        got = times.setdefault(mode, {"first update": [], "roles": [], "health": []})
        got["first update"].append(updates[0]["t"])
        got["roles"].append(roles_at)
        got["health"].append(health_at)
    print("\nlvs1, from process start (median of 3):")
    for mode, got in times.items():
        cells = ", ".join(f"{k} {statistics.median(v) * 1000:.0f} ms" for k, v in got.items())
        print(f"  {mode:8} {cells}")
    print("the last run's timeline (s from process start):")
    for at, what in trace:
        print(f"  {at:7.3f} {what}")
    parts = _run(seed, BREAKDOWN)
    assert isinstance(parts, dict)
    print("one cold keepalived read, part by part:")
    for key, value in parts.items():
        print(f"  {key:12} {value * 1000:6.0f} ms")
