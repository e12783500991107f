"""Benchmark, run inside a lab namespace: one full lvstop poll vs `ipvsadm -Ln --stats --exact`.

Prints one JSON object; every variant is run `--runs` times, interleaved so drift
affects all alike, and reported as median and minimum wall time plus median CPU time
(ours: this process's CPU time, both threads; ipvsadm: the child's user+system time).

  ipvsadm            the whole process, output to /dev/null
  netlink_cold       a fresh IpvsNetlink (new sockets, no decoder layouts, nothing to
                     reuse): the worst case, e.g. `lvstop snapshot`
  netlink_busy       a warm reader whose reuse cache is dropped first: every real
                     server object is rebuilt, as when every counter moved since the
                     last poll (a busy director, as the live console sees it)
  netlink_idle       a warm reader on this idle table: unchanged servers are reused
  syscalls_only      the same requests and receives with no decoding at all: the
                     floor any netlink reader pays (the kernel's work and the syscalls)
  snapshot_warm      LiveDirector.snapshot() as the console calls it (IPVS, totals,
                     addresses, keepalived join)

The ratios that answer "does a poll cost more than ipvsadm" are netlink_cold and
netlink_busy over ipvsadm (medians, same run).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()

    from lvstop.director import LiveDirector
    from lvstop.sources.genl import NLM_F_DUMP, walk
    from lvstop.sources.ipvs_netlink import (
        IPVS_CMD_GET_DEST,
        IPVS_CMD_GET_SERVICE,
        IpvsNetlink,
        _selector,
    )

    # Import and module-level warm-up outside the timed region (a live console pays it once).
    warm_director = LiveDirector()
    warm_director.snapshot()
    warm = IpvsNetlink()
    warm.read()

    def ipvsadm() -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            ["ipvsadm", "-Ln", "--stats", "--exact"], stdout=subprocess.DEVNULL, check=True
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    def cold() -> None:
        with IpvsNetlink() as nl:
            nl.read()

    floor = IpvsNetlink()
    selectors = [
        _selector(v) for v in floor._dump(IPVS_CMD_GET_SERVICE, b"", floor._svc)
    ]

    def syscalls_only() -> None:
        sock = floor._sock
        sock.send(sock.family_id, IPVS_CMD_GET_SERVICE, 1, b"", NLM_F_DUMP)
        while not walk(*sock.recv(), sock._seq)[1]:
            pass
        for selector in selectors:
            seq = sock.send(sock.family_id, IPVS_CMD_GET_DEST, 1, selector, NLM_F_DUMP)
            while not walk(*sock.recv(), seq)[1]:
                pass

    def busy(nl: IpvsNetlink) -> Callable[[], None]:
        def run() -> None:
            nl._dest_cache = {}
            nl.read()

        return run

    variants: dict[str, Callable[[], object]] = {
        "ipvsadm": ipvsadm,
        "netlink_cold": cold,
        "netlink_busy": busy(warm),
        "netlink_idle": warm.read,
        "snapshot_warm": warm_director.snapshot,
        "syscalls_only": syscalls_only,
    }
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.runs):
        for name, fn in variants.items():
            c0 = time.process_time()
            t0 = time.perf_counter()
            got = fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(got if isinstance(got, float) else time.process_time() - c0)
    snap = warm_director.snapshot()
    med = {k: statistics.median(v) for k, v in wall.items()}
    out = {
        "services": len(snap.services),
        "real_servers": sum(len(s.real_servers) for s in snap.services),
        "runs": args.runs,
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "min_s": {k: round(min(v), 4) for k, v in wall.items()},
        "median_cpu_s": {k: round(statistics.median(v), 4) for k, v in cpu.items()},
        "ratio_vs_ipvsadm": {
            k: round(v / med["ipvsadm"], 3) for k, v in med.items() if k != "ipvsadm"
        },
        "decoder_paths_two_polls": warm.decode_stats,
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
