"""rtnetlink events: the decoder on byte-exact messages, and (as root) real events from
a network namespace of our own, with their latency."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lvstop.sources.rtnl_events import (
    IFA_ADDRESS,
    IFA_FLAGS,
    IFA_LABEL,
    IFA_LOCAL,
    IFLA_IFNAME,
    IFLA_OPERSTATE,
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_NEWADDR,
    RTM_NEWLINK,
    InterfaceNames,
    decode,
)

REPO = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------- builders
# linux/netlink.h, linux/if_addr.h, linux/rtnetlink.h, native byte order.


def rta(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def nlmsg(kind: int, body: bytes) -> bytes:
    length = 16 + len(body)
    return struct.pack("=IHHII", length, kind, 0, 0, 0) + body + b"\0" * (-length % 4)


def addr_msg(
    kind: int, family: int, index: int, prefixlen: int, *attrs: bytes, flags: int = 0
) -> bytes:
    return nlmsg(kind, struct.pack("=BBBBI", family, prefixlen, flags, 0, index) + b"".join(attrs))


def link_msg(kind: int, index: int, name: str, oper: int, flags: int = 0x1043) -> bytes:
    body = struct.pack("=BxHiII", 0, 1, index, flags, 0)
    body += rta(IFLA_IFNAME, name.encode() + b"\0") + rta(IFLA_OPERSTATE, bytes([oper]))
    return nlmsg(kind, body)


def names(mapping: dict[int, str]) -> InterfaceNames:
    n = InterfaceNames()
    n.names = dict(mapping)
    return n


V4 = socket.AF_INET
V6 = socket.AF_INET6


def test_ipv4_new_and_del_address() -> None:
    vip = socket.inet_aton("198.18.23.73")
    data = addr_msg(
        RTM_NEWADDR,
        V4,
        2,
        32,
        rta(IFA_ADDRESS, vip),
        rta(IFA_LOCAL, vip),
        rta(IFA_LABEL, b"eth0\0"),
        rta(IFA_FLAGS, struct.pack("=I", 0x80)),
    ) + addr_msg(RTM_DELADDR, V4, 2, 32, rta(IFA_LOCAL, vip), rta(IFA_LABEL, b"eth0\0"))
    new, gone = decode(data, 5.0, names({2: "eth0"}))
    assert (new.event, new.address, new.interface, new.time) == (
        "RTM_NEWADDR",
        "198.18.23.73",
        "eth0",
        5.0,
    )
    assert (new.index, new.family, new.prefixlen, new.flags) == (2, V4, 32, 0x80)
    assert (gone.event, gone.address, gone.interface) == ("RTM_DELADDR", "198.18.23.73", "eth0")


def test_ipv4_local_wins_over_peer_address() -> None:
    data = addr_msg(
        RTM_NEWADDR,
        V4,
        3,
        32,
        rta(IFA_ADDRESS, socket.inet_aton("198.18.0.2")),  # the peer, on a ptp link
        rta(IFA_LOCAL, socket.inet_aton("198.18.0.1")),
    )
    assert decode(data, 0.0, names({3: "tun0"}))[0].address == "198.18.0.1"


def test_label_names_an_unknown_interface() -> None:
    data = addr_msg(
        RTM_NEWADDR,
        V4,
        999_999,
        32,
        rta(IFA_LOCAL, socket.inet_aton("198.18.0.9")),
        rta(IFA_LABEL, b"eth9:vip\0"),
    )
    assert decode(data, 0.0, names({}))[0].interface == "eth9"
    no_label = addr_msg(
        RTM_NEWADDR, V4, 999_999, 32, rta(IFA_LOCAL, socket.inet_aton("198.18.0.9"))
    )
    assert decode(no_label, 0.0, names({}))[0].interface == "999999"  # gone: index as name


def test_ipv6_address() -> None:
    data = addr_msg(
        RTM_NEWADDR,
        V6,
        4,
        128,
        rta(IFA_ADDRESS, socket.inet_pton(V6, "2001:2:0:23::56")),
        flags=0x80,
    )
    [ev] = decode(data, 1.0, names({4: "eth0"}))
    assert (ev.address, ev.interface, ev.prefixlen, ev.family) == (
        "2001:2:0:23::56",
        "eth0",
        128,
        V6,
    )


def test_link_events_update_the_name_cache() -> None:
    cache = names({})
    vip = socket.inet_aton("198.18.23.73")
    data = (
        link_msg(RTM_NEWLINK, 7, "vrrp.51", 6)
        + addr_msg(RTM_NEWADDR, V4, 7, 32, rta(IFA_LOCAL, vip))
        + link_msg(RTM_DELLINK, 7, "vrrp.51", 2, flags=0)
    )
    up, addr, gone = decode(data, 2.0, cache)
    assert (up.event, up.address, up.interface, up.operstate, up.flags) == (
        "RTM_NEWLINK",
        None,
        "vrrp.51",
        "UP",
        0x1043,
    )
    assert addr.interface == "vrrp.51"
    assert (gone.event, gone.operstate) == ("RTM_DELLINK", "DOWN")
    assert 7 not in cache.names


def test_garbage_is_skipped_not_raised() -> None:
    vip = socket.inet_aton("198.18.23.73")
    good = addr_msg(RTM_NEWADDR, V4, 2, 32, rta(IFA_LOCAL, vip))
    assert decode(b"", 0.0, names({})) == []
    assert decode(good[:20], 0.0, names({})) == []  # truncated message
    assert decode(nlmsg(3, b"") + good, 0.0, names({2: "e"}))[0].address == "198.18.23.73"  # DONE
    bad_attr = addr_msg(RTM_NEWADDR, V4, 2, 32, struct.pack("=HH", 200, IFA_LOCAL) + vip)
    [ev] = decode(bad_attr, 0.0, names({2: "e"}))
    assert ev.address is None
    nested_flag = addr_msg(RTM_NEWADDR, V4, 2, 32, rta(IFA_LOCAL | 0x8000, vip))
    assert decode(nested_flag, 0.0, names({2: "e"}))[0].address == "198.18.23.73"


# --------------------------------------------------------------------------- real kernel

ROOT = os.geteuid() == 0 and shutil.which("ip") is not None
needs_root = pytest.mark.skipif(not ROOT, reason="needs root and iproute2 (own netns)")


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"lvstop-rtnl-{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(
            ["ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
            check=True,
        )
        subprocess.run(["ip", "-n", name, "link", "set", "eth0", "up"], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "eth1", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


# Runs inside the namespace: one of the three ways to consume events, JSON lines out.
WATCH = textwrap.dedent(
    """
    import asyncio, json, select, sys
    from dataclasses import asdict
    from lvstop.sources.rtnl_events import AsyncRtnlEvents, RtnlEventThread, RtnlMonitor

    def emit(ev):
        print(json.dumps(asdict(ev)), flush=True)

    mode = sys.argv[1]
    if mode == "thread":
        with RtnlEventThread(emit):
            print("ready", flush=True)
            sys.stdin.readline()
    elif mode == "monitor":
        with RtnlMonitor() as mon:
            print("ready", flush=True)
            while True:
                r, _, _ = select.select([mon, sys.stdin], [], [])
                if sys.stdin in r:
                    break
                for ev in mon.read_ready():
                    emit(ev)
    else:
        async def main():
            async with AsyncRtnlEvents() as events:
                print("ready", flush=True)
                async for ev in events:
                    emit(ev)
        asyncio.run(main())
    """
)


class Watcher:
    """The WATCH script running in a namespace; events arrive on a queue."""

    def __init__(self, ns: str, mode: str) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", WATCH, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        assert first == "ready", first + (self.proc.stderr.read() if self.proc.stderr else "")
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait(
        self, event: str, address: str | None, interface: str, timeout: float = 5.0
    ) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while True:
            ev = json.loads(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            if (ev["event"], ev["address"], ev["interface"]) == (event, address, interface):
                return ev

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def _ip(ns: str, *args: str) -> float:
    """Run ``ip -n ns args`` and return the monotonic time just before it started."""
    t0 = time.monotonic()
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)
    return t0


@needs_root
@pytest.mark.parametrize("mode", ["thread", "monitor", "async"])
def test_address_and_link_events_arrive_within_milliseconds(netns: str, mode: str) -> None:
    w = Watcher(netns, mode)
    try:
        latencies = []
        for i in range(1, 6):
            vip = f"198.18.23.{70 + i}"
            t0 = _ip(netns, "addr", "add", f"{vip}/32", "dev", "eth0")
            ev = w.wait("RTM_NEWADDR", vip, "eth0")
            latencies.append(float(ev["time"]) - t0)
            assert ev["prefixlen"] == 32 and ev["family"] == socket.AF_INET
            t0 = _ip(netns, "addr", "del", f"{vip}/32", "dev", "eth0")
            ev = w.wait("RTM_DELADDR", vip, "eth0")
            latencies.append(float(ev["time"]) - t0)
        t0 = _ip(netns, "addr", "add", "2001:2:0:23::73/128", "dev", "eth0", "nodad")
        ev = w.wait("RTM_NEWADDR", "2001:2:0:23::73", "eth0")
        latencies.append(float(ev["time"]) - t0)
        _ip(netns, "link", "set", "eth1", "down")
        ev = w.wait("RTM_NEWLINK", None, "eth1")
        assert ev["operstate"] == "DOWN"
        _ip(netns, "link", "add", "dummy7", "type", "veth", "peer", "name", "dummy8")
        w.wait("RTM_NEWLINK", None, "dummy7")
        _ip(netns, "link", "del", "dummy7")
        w.wait("RTM_DELLINK", None, "dummy7")
        # Includes starting the ip(8) process; the kernel-to-reader part is far smaller.
        print(
            f"\n{mode}: add/del latency incl. ip(8) start: max {max(latencies) * 1000:.1f} ms,"
            f" median {sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms"
        )
        # The product promise is "a VIP move shows within 1 s"; the latency is printed,
        # and only that promise is asserted, so a loaded CI host cannot flake it.
        assert max(latencies) < 1.0, latencies
        assert min(latencies) >= 0
    finally:
        w.close()


@needs_root
def test_overflow_is_reported(netns: str) -> None:
    """A reader that falls behind gets one OVERFLOW event (then re-reads full state)."""
    code = textwrap.dedent(
        """
        import socket, subprocess, sys
        from lvstop.sources import rtnl_events as r
        r._RCVBUF = 4096  # tiny on purpose (SO_RCVBUFFORCE honours it)
        mon = r.RtnlMonitor()
        subprocess.run(["ip", "-batch", "-"], check=True, text=True, input="".join(
            f"addr add 198.18.40.{i}/32 dev eth0\\n" for i in range(1, 201)))
        events = mon.read_ready()
        print(sum(e.event == r.OVERFLOW for e in events), mon.overflows, len(events))
        """
    )
    out = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=True,
    )
    overflow_events, counter, total = map(int, out.stdout.split())
    assert overflow_events == counter >= 1
    assert total < 201  # events were lost, and the caller was told


def test_monitor_needs_no_privilege() -> None:
    """rtnetlink groups are readable by anyone: no root, no capability needed."""
    code = "from lvstop.sources.rtnl_events import RtnlMonitor\nRtnlMonitor().close()\nprint('ok')"
    argv = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root")
        argv = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            *argv,
        ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.stdout.strip() == "ok", out.stderr
