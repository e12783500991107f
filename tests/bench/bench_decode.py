"""Native micro-benchmark of the IPVS netlink decoder, no kernel needed.

Feeds IpvsNetlink.read() pre-built messages laid out like the kernel's (1,000
services x 10 real servers, as in the lab benchmark) through a fake socket, so the
Python side of a poll can be measured and tuned on any machine. The real comparison
with ipvsadm happens in the lab (tests/lab/test_scale.py).

    python tests/bench/bench_decode.py [--services 1000] [--dests 10] [--busy]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from test_ipvs_netlink_decode import FakeSock

from lvstop.sources import ipvs_netlink as nl


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--dests", type=int, default=10)
    ap.add_argument("--busy", action="store_true", help="counters change between polls")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    fake = FakeSock(args.services, args.dests, args.busy)

    def reader() -> nl.IpvsNetlink:
        r = object.__new__(nl.IpvsNetlink)
        r._sock = fake  # type: ignore[assignment]
        r._start_decoding()
        return r

    cold, warm = [], []
    warm_reader = reader()
    warm_reader.read()
    for _ in range(args.runs):
        t = time.perf_counter()
        reader().read()
        cold.append(time.perf_counter() - t)
        t = time.perf_counter()
        warm_reader.read()
        warm.append(time.perf_counter() - t)
    n = args.services * (args.dests + 1)
    for name, vals in (("cold", cold), ("warm", warm)):
        med = statistics.median(vals)
        print(
            f"{name}: {med * 1e3:.1f} ms per poll (min {min(vals) * 1e3:.1f}), "
            f"{med / n * 1e6:.2f} us per message"
        )
    socket.gethostname()
    return 0


if __name__ == "__main__":
    sys.exit(main())
