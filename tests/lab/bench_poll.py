"""Benchmark, run inside a lab namespace: one full lvstop poll vs `ipvsadm -Ln --stats --exact`.

Prints one JSON object. Each number is the median of `--runs` runs. "cold" polls use a
fresh LiveDirector (new socket, no decoder layouts, no reuse cache); "warm" polls reuse
one, as the live console does. ipvsadm is timed as a whole process writing to /dev/null.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    from lvstop.director import LiveDirector
    from lvstop.sources.ipvs_netlink import IpvsNetlink

    # Import and module-level warm-up outside the timed region (a live console pays it once).
    warm_director = LiveDirector()
    warm_director.snapshot()

    def timed(fn: object) -> float:
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        return time.perf_counter() - t0

    def ipvsadm() -> None:
        subprocess.run(
            ["ipvsadm", "-Ln", "--stats", "--exact"], stdout=subprocess.DEVNULL, check=True
        )

    def cold_snapshot() -> None:
        d = LiveDirector()
        d.snapshot()
        d.close()

    def cold_netlink() -> None:
        with IpvsNetlink() as nl:
            nl.read()

    results: dict[str, list[float]] = {
        k: [] for k in ("ipvsadm", "cold_snapshot", "cold_netlink", "warm_snapshot")
    }
    for _ in range(args.runs):  # interleaved so drift affects all alike
        results["ipvsadm"].append(timed(ipvsadm))
        results["cold_snapshot"].append(timed(cold_snapshot))
        results["cold_netlink"].append(timed(cold_netlink))
        results["warm_snapshot"].append(timed(warm_director.snapshot))
    snap = warm_director.snapshot()
    med = {k: statistics.median(v) for k, v in results.items()}
    with IpvsNetlink() as nl:
        nl.read()
        nl.read()
        decode = nl.decode_stats
    out = {
        "services": len(snap.services),
        "real_servers": sum(len(s.real_servers) for s in snap.services),
        "runs": args.runs,
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "ratio_cold_snapshot_vs_ipvsadm": round(med["cold_snapshot"] / med["ipvsadm"], 3),
        "ratio_cold_netlink_vs_ipvsadm": round(med["cold_netlink"] / med["ipvsadm"], 3),
        "ratio_warm_snapshot_vs_ipvsadm": round(med["warm_snapshot"] / med["ipvsadm"], 3),
        "decoder_paths_two_polls": decode,
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
