"""rtnetlink address and link events: a VIP arriving or leaving shows up at once.

keepalived adds the VIP when it becomes MASTER and deletes it when it leaves, so an
RTM_NEWADDR / RTM_DELADDR for a VIP *is* the failover, milliseconds after it happens,
instead of at the next poll.

Design choice: a plain ``AF_NETLINK`` / ``NETLINK_ROUTE`` socket bound to the
multicast groups, decoded here with ``struct`` (nlmsghdr, ifaddrmsg + IFA_LOCAL /
IFA_ADDRESS / IFA_LABEL / IFA_FLAGS, ifinfomsg + IFLA_IFNAME / IFLA_OPERSTATE).
pyroute2's sync classes run an asyncio loop per thread and fail inside a running loop,
and its async monitor must live on one loop (reference A2); a raw socket has neither
trap. It is non-blocking, works identically from a thread, a selector or
``loop.add_reader``, needs no privilege (rtnetlink groups are readable by anyone) and
decodes an event in microseconds.

Lost events: if the socket's receive buffer overflows, the kernel drops events and
reports ENOBUFS; that is surfaced as an ``OVERFLOW`` event so the caller re-reads the
full state (lvstop.sources.rtnl.read_addresses). The buffer is enlarged to make that
rare.

Entry points: `RtnlMonitor` (``fileno()`` + `RtnlMonitor.read_ready`),
`RtnlEventThread` (callback from a background thread whose socket is created and
closed in that thread) and `AsyncRtnlEvents` (async iterator for asyncio).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import select
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from lvstop.errors import SourceError
from lvstop.sources.pollthread import PollThread

log = logging.getLogger(__name__)

# linux/rtnetlink.h
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
DEFAULT_GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR

RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR = 16, 17, 20, 21
_EVENT_NAMES = {
    RTM_NEWLINK: "RTM_NEWLINK",
    RTM_DELLINK: "RTM_DELLINK",
    RTM_NEWADDR: "RTM_NEWADDR",
    RTM_DELADDR: "RTM_DELADDR",
}
OVERFLOW = "OVERFLOW"  # events were lost: re-read the full state

_NLMSG_HDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_RTA = struct.Struct("=HH")  # len, type
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_FLAGS = 1, 2, 3, 8
IFLA_IFNAME, IFLA_OPERSTATE = 3, 16
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
_RCVBUF = 4 << 20
_BUFSIZE = 1 << 16


@dataclass(frozen=True, slots=True)
class RtnlEvent:
    """One address or link change, timestamped with the monotonic clock on receipt.

    `event` is RTM_NEWADDR, RTM_DELADDR, RTM_NEWLINK, RTM_DELLINK or OVERFLOW.
    For address events `address` is canonical text (IFA_LOCAL, else IFA_ADDRESS) and
    `flags` the IFA_F_* bits; for link events `address` is None, `flags` the IFF_*
    bits and `operstate` e.g. "UP". RTM_NEWADDR also reports changes of an existing
    address (flags, lifetimes), not only additions.
    """

    event: str
    address: str | None
    interface: str
    time: float
    index: int = 0
    family: int = 0
    prefixlen: int = 0
    flags: int = 0
    operstate: str | None = None


def _attrs(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while offset + 4 <= end:
        length, kind = _RTA.unpack_from(data, offset)
        if length < 4 or offset + length > end:
            break
        out[kind & 0x3FFF] = data[offset + 4 : offset + length]  # strip NLA_F_* bits
        offset += (length + 3) & ~3
    return out


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace")


class InterfaceNames:
    """ifindex -> name, fed by link events; if_indextoname for indexes not seen yet."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        with contextlib.suppress(OSError):
            self.names = dict(socket.if_nameindex())

    def get(self, index: int) -> str:
        name = self.names.get(index)
        if name is None:
            try:
                name = self.names[index] = socket.if_indextoname(index)
            except OSError:
                name = str(index)
        return name


def decode(data: bytes, received: float, names: InterfaceNames | None = None) -> list[RtnlEvent]:
    """Decode one netlink datagram into events (unknown message types are skipped)."""
    names = names if names is not None else InterfaceNames()
    out: list[RtnlEvent] = []
    offset = 0
    while offset + _NLMSG_HDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSG_HDR.unpack_from(data, offset)
        if length < _NLMSG_HDR.size or offset + length > len(data):
            break
        body, end = offset + _NLMSG_HDR.size, offset + length
        offset += (length + 3) & ~3
        if kind in (RTM_NEWADDR, RTM_DELADDR) and body + _IFADDRMSG.size <= end:
            family, prefixlen, flags, _scope, index = _IFADDRMSG.unpack_from(data, body)
            attrs = _attrs(data, body + _IFADDRMSG.size, end)
            raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
            address = None
            if raw is not None and family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(ValueError, OSError):
                    address = socket.inet_ntop(family, raw)
            if IFA_FLAGS in attrs and len(attrs[IFA_FLAGS]) >= 4:
                flags = struct.unpack("=I", attrs[IFA_FLAGS][:4])[0]
            ifname = names.names.get(index)
            if ifname is None:  # IFA_LABEL (IPv4 only) is "eth0" or an alias "eth0:1"
                label = _cstr(attrs[IFA_LABEL]) if IFA_LABEL in attrs else ""
                ifname = label.split(":", 1)[0] or names.get(index)
            out.append(
                RtnlEvent(
                    _EVENT_NAMES[kind], address, ifname, received, index, family, prefixlen, flags
                )
            )
        elif kind in (RTM_NEWLINK, RTM_DELLINK) and body + _IFINFOMSG.size <= end:
            family, _type, index, flags, _change = _IFINFOMSG.unpack_from(data, body)
            attrs = _attrs(data, body + _IFINFOMSG.size, end)
            ifname = _cstr(attrs[IFLA_IFNAME]) if IFLA_IFNAME in attrs else names.get(index)
            oper = attrs.get(IFLA_OPERSTATE)
            operstate = None
            if oper:
                operstate = OPERSTATES[oper[0]] if oper[0] < len(OPERSTATES) else str(oper[0])
            if kind == RTM_NEWLINK:
                names.names[index] = ifname
            else:
                names.names.pop(index, None)
            out.append(
                RtnlEvent(
                    _EVENT_NAMES[kind], None, ifname, received, index, family, 0, flags, operstate
                )
            )
    return out


class RtnlMonitor:
    """A non-blocking rtnetlink socket subscribed to address (and link) groups.

    Register ``fileno()`` with a selector or ``loop.add_reader`` and call `read_ready`
    when readable; it never blocks. Opened by the constructor, in the calling thread
    and network namespace.
    """

    def __init__(self, groups: int = DEFAULT_GROUPS) -> None:
        kind = socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
        try:
            self._sock = socket.socket(socket.AF_NETLINK, kind, socket.NETLINK_ROUTE)
        except OSError as exc:
            raise SourceError(f"rtnetlink events: cannot open a netlink socket: {exc}") from None
        try:
            for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
                try:
                    self._sock.setsockopt(socket.SOL_SOCKET, opt, _RCVBUF)
                    break
                except OSError:  # SO_RCVBUFFORCE needs CAP_NET_ADMIN
                    continue
            self._sock.bind((0, groups))
        except OSError as exc:
            self._sock.close()
            raise SourceError(f"rtnetlink events: cannot subscribe: {exc}") from None
        self._names = InterfaceNames()
        self._buf = bytearray(_BUFSIZE)
        self.overflows = 0

    def fileno(self) -> int:
        return self._sock.fileno()

    def read_ready(self) -> list[RtnlEvent]:
        """Drain every queued datagram without blocking; events in kernel order."""
        out: list[RtnlEvent] = []
        while True:
            try:
                n = self._sock.recv_into(self._buf)
            except (BlockingIOError, InterruptedError):
                return out
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self.overflows += 1
                    out.append(RtnlEvent(OVERFLOW, None, "", time.monotonic()))
                    continue
                raise SourceError(f"rtnetlink events: {exc}") from None
            out += decode(bytes(self._buf[:n]), time.monotonic(), self._names)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RtnlMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RtnlEventThread:
    """Calls `callback(event)` from a daemon thread for every event.

    The socket is created and closed inside that thread (so it belongs to the thread
    and to the network namespace the process is in); ``start()`` returns once it is
    subscribed, so no event after ``start()`` is missed, and raises if that failed.
    Keep the callback short and thread-safe (e.g. ``App.call_from_thread``).
    """

    def __init__(self, callback: Callable[[RtnlEvent], None], groups: int = DEFAULT_GROUPS) -> None:
        self._thread: PollThread[RtnlEvent] = PollThread(
            lambda: RtnlMonitor(groups), callback, name="rtnl-events"
        )

    def start(self, timeout: float = 5.0) -> None:
        self._thread.start(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self._thread.stop(timeout)

    def __enter__(self) -> RtnlEventThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AsyncRtnlEvents:
    """Events on the running asyncio loop, via ``loop.add_reader`` (no thread).

    ``async with AsyncRtnlEvents() as events: async for event in events: ...``; the
    socket is subscribed on entering the block (no event after that is missed) and
    closed on leaving it. Use it from one loop only.
    """

    def __init__(self, groups: int = DEFAULT_GROUPS) -> None:
        self._groups = groups
        self._monitor: RtnlMonitor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._readable = asyncio.Event()
        self._pending: deque[RtnlEvent] = deque()

    async def __aenter__(self) -> AsyncRtnlEvents:
        self._loop = asyncio.get_running_loop()
        self._monitor = RtnlMonitor(self._groups)
        self._loop.add_reader(self._monitor.fileno(), self._readable.set)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._monitor is not None and self._loop is not None:
            self._loop.remove_reader(self._monitor.fileno())
            self._monitor.close()
            self._monitor = None

    def __aiter__(self) -> AsyncRtnlEvents:
        return self

    async def __anext__(self) -> RtnlEvent:
        while not self._pending:
            if self._monitor is None:
                raise StopAsyncIteration
            await self._readable.wait()
            self._readable.clear()
            if self._monitor is not None:
                self._pending.extend(self._monitor.read_ready())
        return self._pending.popleft()


def main(argv: Sequence[str] | None = None) -> int:
    """Print events as JSON lines (lab aid): ``python -m lvstop.sources.rtnl_events``."""
    ap = argparse.ArgumentParser(prog="python -m lvstop.sources.rtnl_events")
    ap.add_argument("--duration", type=float, default=0.0, help="stop after S seconds")
    args = ap.parse_args(argv)
    deadline = time.monotonic() + args.duration if args.duration > 0 else float("inf")
    with RtnlMonitor() as monitor:
        print(json.dumps({"kind": "ready", "t": time.monotonic()}), flush=True)
        while (left := deadline - time.monotonic()) > 0:
            select.select([monitor], [], [], min(left, 1.0))
            for event in monitor.read_ready():
                print(json.dumps({"kind": "event", **asdict(event)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
