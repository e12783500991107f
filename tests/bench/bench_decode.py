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

from test_ipvs_netlink_decode import dest_msg, svc_msg

from lvstop.sources import ipvs_netlink as nl
from lvstop.sources.genl import NLMSG_HDR, GenlSocket

SEQ = 7  # what the test message builders put in every nlmsghdr
DONE = NLMSG_HDR.pack(20, 3, 2, SEQ, 0) + bytes(4)


class FakeSock:
    """Answers dumps from pre-built datagrams, one datagram per service's dests."""

    family_id = 0x20

    def __init__(self, services: int, dests: int, busy: bool) -> None:
        self.services = bytearray()
        self.dests: dict[bytes, bytearray] = {}
        self.busy = busy
        self.poll = 0
        for i in range(services):
            vip = f"198.19.{i // 250}.{i % 250 + 1}"
            msg = svc_msg(vip, 80, ("rr", "wrr", "wlc", "lc")[i % 4], timeout=120, flags=3)
            self.services += msg
            v = nl._Decoder(nl.SERVICE_KEYS).decode(msg, 0, len(msg), SEQ)
            datagram = bytearray()
            for j in range(dests):
                datagram += dest_msg(
                    f"198.18.{100 + i % 40}.{j + 1}",
                    80,
                    (i + j) % 50,
                    fwd=(0, 2, 3)[(i + j) % 3],
                    conns=(i * j) % 7,
                )
            self.dests[nl._selector(v)] = datagram

    def send(self, msg_type: int, cmd: int, version: int, payload: bytes, flags: int) -> int:
        buf = self.services if cmd == nl.IPVS_CMD_GET_SERVICE else self.dests[payload]
        if self.busy and cmd == nl.IPVS_CMD_GET_DEST:
            buf = bytearray(buf)  # counters move on every poll: nothing can be reused
            self.poll += 1
            off = 0
            while off < len(buf):  # bump each dest's last counter
                end = off + int.from_bytes(buf[off : off + 4], sys.byteorder)
                buf[end - 8 : end - 4] = self.poll.to_bytes(4, sys.byteorder)
                off = end
        self.queue = [buf, bytearray(DONE)]
        return SEQ

    def recv(self) -> tuple[memoryview, int]:
        data = self.queue.pop(0)
        return memoryview(data), len(data)

    walk = staticmethod(GenlSocket.walk)


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
        r._svc = nl._Decoder(nl.SERVICE_KEYS)
        r._dest = nl._Decoder(nl.DEST_KEYS)
        r._dest_cache = {}
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
        print(f"{name}: {med * 1e3:.1f} ms per poll, {med / n * 1e6:.2f} us per message")
    socket.gethostname()
    return 0


if __name__ == "__main__":
    sys.exit(main())
