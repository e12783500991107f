"""The one kernel write lvstop makes: IPVS_CMD_SET_DEST with only the weight changed.

The kernel overwrites every field of a destination on SET_DEST (forwarding method,
thresholds, tunnel settings), and tools that fill in defaults silently turn a NAT
server into a DR one (ipvsadm -e without -m, a bare pyroute2 IPVSDest). So the
destination is re-read right before the write and sent back with every attribute
exactly as read, over the same raw generic-netlink socket code that reads the table.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Sequence
from typing import Protocol

from lvstop.errors import SourceError
from lvstop.model.ipvs import RealServer, Service, ServiceKey
from lvstop.sources.genl import NLM_F_ACK, GenlSocket, NetlinkError, nla, nla_nested
from lvstop.sources.ipvs_netlink import (
    D_ADDR,
    D_AF,
    D_FWD,
    D_LTHR,
    D_PORT,
    D_TUN_FLAGS,
    D_TUN_PORT,
    D_TUN_TYPE,
    D_UTHR,
    D_WEIGHT,
    IPVS_CMD_ATTR_DEST,
    IPVS_CMD_ATTR_SERVICE,
    IPVS_GENL_VERSION,
    SVC_ADDR,
    SVC_AF,
    SVC_FWMARK,
    SVC_PORT,
    SVC_PROTOCOL,
    IpvsNetlink,
)

IPVS_CMD_SET_DEST = 6
MAX_WEIGHT = 65535


class IpvsTable(Protocol):
    """Read the whole table; set one destination's weight. (Fakes for unit tests.)"""

    def services(self) -> Sequence[Service]: ...

    def set_weight(self, service: ServiceKey, rs: RealServer, weight: int) -> None: ...

    def close(self) -> None: ...


def _addr16(address: str, family: int) -> bytes:
    return socket.inet_pton(family, address).ljust(16, b"\0")


def service_attrs(key: ServiceKey) -> bytes:
    """The IPVS_CMD_ATTR_SERVICE nest naming a service (its key only, as SET_DEST needs)."""
    family = int(key.family)
    if key.address is None or key.protocol is None:
        return nla_nested(
            IPVS_CMD_ATTR_SERVICE,
            nla(SVC_AF, struct.pack("=H", family)),
            nla(SVC_FWMARK, struct.pack("=I", key.fwmark)),
        )
    return nla_nested(
        IPVS_CMD_ATTR_SERVICE,
        nla(SVC_AF, struct.pack("=H", family)),
        nla(SVC_PROTOCOL, struct.pack("=H", int(key.protocol))),
        nla(SVC_ADDR, _addr16(key.address, family)),
        nla(SVC_PORT, struct.pack("!H", key.port)),
    )


def dest_attrs(rs: RealServer, weight: int) -> bytes:
    """The IPVS_CMD_ATTR_DEST nest: every attribute of `rs` as read, `weight` replaced."""
    if not 0 <= weight <= MAX_WEIGHT:
        raise ValueError(f"weight {weight} outside 0..{MAX_WEIGHT}")
    family = int(rs.family)
    return nla_nested(
        IPVS_CMD_ATTR_DEST,
        nla(D_ADDR, _addr16(rs.address, family)),
        nla(D_PORT, struct.pack("!H", rs.port)),
        nla(D_FWD, struct.pack("=I", int(rs.forward))),
        nla(D_WEIGHT, struct.pack("=I", weight)),
        nla(D_UTHR, struct.pack("=I", rs.u_threshold)),
        nla(D_LTHR, struct.pack("=I", rs.l_threshold)),
        nla(D_AF, struct.pack("=H", family)),
        nla(D_TUN_TYPE, struct.pack("=B", rs.tun_type)),
        nla(D_TUN_PORT, struct.pack("!H", rs.tun_port)),
        nla(D_TUN_FLAGS, struct.pack("=H", rs.tun_flags)),
    )


class NetlinkIpvsTable:
    """This network namespace's IPVS table over generic netlink (needs CAP_NET_ADMIN)."""

    def __init__(self) -> None:
        self._reader = IpvsNetlink()
        try:
            self._sock = GenlSocket("IPVS")
        except BaseException:
            self._reader.close()
            raise

    def close(self) -> None:
        self._sock.close()
        self._reader.close()

    def services(self) -> Sequence[Service]:
        return self._reader.read()

    def set_weight(self, service: ServiceKey, rs: RealServer, weight: int) -> None:
        payload = service_attrs(service) + dest_attrs(rs, weight)
        try:
            for _ in self._sock.request(
                self._sock.family_id, IPVS_CMD_SET_DEST, IPVS_GENL_VERSION, payload, NLM_F_ACK
            ):
                pass
        except NetlinkError as exc:
            if exc.errno == errno.EPERM:
                raise PermissionError(exc.errno, "changing IPVS needs CAP_NET_ADMIN") from None
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                raise SourceError("the real server or service vanished before the write") from None
            raise SourceError(f"IPVS refused the change: {exc.strerror}") from None
