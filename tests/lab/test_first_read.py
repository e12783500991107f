"""How soon the console has keepalived's roles after launch, on the real pair.

Prints the time of each part of the first keepalived read (finding the daemon, the
configuration, each dump) and when the Feed's first update with roles arrived, so a
slow first read can be pinned to its part. The assertion is only that the roles do
arrive (lvs1: VI_1 MASTER, VI_2 BACKUP); the numbers are for the report.
"""

from __future__ import annotations

import json
import subprocess

from topology import Topology

PROBE = r"""
import json, threading, time
t0 = time.monotonic()
from lvstop.director import LiveDirector
from lvstop.feed import Feed
from lvstop.sources.keepalived.runtime import dumps
from lvstop.sources.keepalived.runtime.processes import local_daemon
from lvstop.sources.keepalived.state import KeepalivedReader
out = {"import_s": time.monotonic() - t0}

t = time.monotonic(); daemon = local_daemon(); out["daemon_s"] = time.monotonic() - t
for kind in ("JSON", "STATS", "DATA"):
    t = time.monotonic(); dumps.signal_number(kind); out[f"signum_{kind}_s"] = time.monotonic() - t
r = KeepalivedReader()
t = time.monotonic(); r._load_config(daemon, [], []); out["config_s"] = time.monotonic() - t
req = dumps.DumpRequester(daemon)
for kind in ("json", "stats", "data"):
    t = time.monotonic(); getattr(req, kind)(0.0); out[f"dump_{kind}_s"] = time.monotonic() - t
t = time.monotonic(); KeepalivedReader().collect(); out["collect_cold_s"] = time.monotonic() - t

# The console's path: a Feed on a watched LiveDirector, from start to the first
# update whose snapshot has the roles.
start = time.monotonic()
d = LiveDirector()
feed = Feed(d, interval=1.0)
stop = threading.Event()
seen = []
def on_update(u):
    s = u.snapshot
    ka = s.keepalived if s is not None else None
    roles = {i.name: i.state.value for i in ka.instances} if ka is not None else None
    seen.append({"t": time.monotonic() - start, "reason": u.reason, "roles": roles})
    if roles:
        stop.set()
threading.Timer(10, stop.set).start()
feed.run(on_update, stop)
d.close()
out["updates"] = seen
print(json.dumps(out))
"""


def test_first_keepalived_read_brings_the_roles(seed: Topology) -> None:
    argv = ["ip", "netns", "exec", "lvs1", seed.python, "-I", "-c", PROBE]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print("\nfirst keepalived read on lvs1:")
    for key, value in result.items():
        if key != "updates":
            print(f"  {key:18} {value * 1000:7.0f} ms")
    for u in result["updates"]:
        print(f"  update at {u['t'] * 1000:5.0f} ms ({u['reason']}): roles {u['roles']}")
    last = result["updates"][-1]
    assert last["roles"] == {"VI_1": "MASTER", "VI_2": "BACKUP"}, result["updates"]
