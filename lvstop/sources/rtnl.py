"""Which addresses are configured on which interface (an rtnetlink address dump).

A VIP being present on an interface of this node is how we know this director is the
VRRP master for it: keepalived adds and removes the VIP as the role changes. This
runs on every poll, so it uses a plain NETLINK_ROUTE socket and the decoder shared
with the address-event monitor (rtnl_events) instead of building a pyroute2 IPRoute
(and its event loop) each time.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Mapping

from lvstop.errors import SourceError
from lvstop.sources.genl import NLM_F_DUMP, NLM_F_REQUEST, NLMSG_HDR, NetlinkError, walk
from lvstop.sources.rtnl_events import InterfaceNames, decode

RTM_GETADDR = 22
_IFADDRMSG = struct.Struct("=BBBBI")


def read_addresses() -> dict[str, str]:
    """Map every local address (canonical text) to the name of its interface."""
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
            sock.bind((0, 0))
            body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
            header = NLMSG_HDR.pack(
                NLMSG_HDR.size + len(body), RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0
            )
            sock.send(header + body)
            names = InterfaceNames()
            out: dict[str, str] = {}
            buf = bytearray(64 * 1024)
            while True:
                n = sock.recv_into(buf)
                data = bytes(buf[:n])
                _messages, finished = walk(memoryview(data), n, 1)  # raises on error
                # A dump answers with RTM_NEWADDR messages, decoded like live events.
                for event in decode(data, 0.0, names):
                    if event.event == "RTM_NEWADDR" and event.address is not None:
                        out.setdefault(event.address, event.interface)
                if finished:
                    return out
    except (NetlinkError, OSError) as exc:
        raise SourceError(f"rtnetlink address dump failed: {exc}") from None


def vip_interface(addresses: Mapping[str, str], vip: str | None) -> str | None:
    """Interface holding `vip` (canonical text, as every source produces), or None."""
    if vip is None:
        return None
    return addresses.get(vip)
