"""A minimal generic-netlink client over a raw socket.

pyroute2 decodes every attribute of every message into Python objects, which made a
poll of a large IPVS table ~18x slower than ipvsadm. This module only moves bytes:
it sends requests and yields each reply message as (buffer, offset, length) so the
caller can decode exactly the fields it needs, in place.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator

NETLINK_GENERIC = 16
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
NLA_F_NESTED = 0x8000
NLA_TYPE_MASK = 0x3FFF

NLMSG_HDR = struct.Struct("=IHHII")
GENL_HDR = struct.Struct("=BBH")
NLA_HDR = struct.Struct("=HH")
HEADERS_LEN = NLMSG_HDR.size + GENL_HDR.size

# Large enough for the biggest dump skb the kernel builds (32 KiB) several times over.
RECV_BUFFER = 256 * 1024


class NetlinkError(OSError):
    """An error reported by the kernel in an NLMSG_ERROR or NLMSG_DONE message."""


def nla(attr_type: int, payload: bytes) -> bytes:
    """Encode one attribute, padded to 4 bytes."""
    length = NLA_HDR.size + len(payload)
    return NLA_HDR.pack(length, attr_type) + payload + b"\0" * (-length % 4)


def nla_nested(attr_type: int, *children: bytes) -> bytes:
    return nla(attr_type | NLA_F_NESTED, b"".join(children))


def iter_attrs(
    buf: bytes | bytearray | memoryview, start: int, end: int
) -> Iterator[tuple[int, int, int]]:
    """Yield (type, payload offset, payload length) for each attribute in buf[start:end]."""
    unpack = NLA_HDR.unpack_from
    off = start
    while off + 4 <= end:
        length, attr_type = unpack(buf, off)
        if length < 4 or off + length > end:
            raise NetlinkError(errno.EBADMSG, "malformed netlink attribute")
        yield attr_type & NLA_TYPE_MASK, off + 4, length - 4
        off += (length + 3) & ~3


def walk(buf: memoryview, n: int, seq: int) -> tuple[list[tuple[int, int]], bool]:
    """Split a datagram into reply messages: ([(offset, length)], finished).

    `finished` is True once NLMSG_DONE, or an ACK, ended the reply; an error
    reply raises NetlinkError. Messages of other requests are skipped.
    """
    unpack = NLMSG_HDR.unpack_from
    out: list[tuple[int, int]] = []
    off = 0
    while off + 16 <= n:
        mlen, mtype, _mflags, mseq, _mpid = unpack(buf, off)
        if mlen < 16 or off + mlen > n:
            raise NetlinkError(errno.EBADMSG, "truncated netlink message")
        if mseq == seq:
            if mtype in (NLMSG_ERROR, NLMSG_DONE):
                code = struct.unpack_from("=i", buf, off + 16)[0] if mlen >= 20 else 0
                if code < 0:
                    raise NetlinkError(-code, os.strerror(-code))
                return out, True
            out.append((off, mlen))
        off += (mlen + 3) & ~3
    return out, False


class GenlSocket:
    """One generic-netlink socket talking to one family."""

    def __init__(self, family_name: str) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self.sock.bind((0, 0))
            self.pid = self.sock.getsockname()[0]
            self._buf = bytearray(RECV_BUFFER)
            self._view = memoryview(self._buf)
            self._seq = 0
            self.family_id = self._resolve(family_name)
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        self._view.release()
        self.sock.close()

    def __enter__(self) -> GenlSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _resolve(self, family_name: str) -> int:
        payload = nla(CTRL_ATTR_FAMILY_NAME, family_name.encode() + b"\0")
        for buf, off, length in self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, payload, 0):
            for attr_type, poff, plen in iter_attrs(buf, off + HEADERS_LEN, off + length):
                if attr_type == CTRL_ATTR_FAMILY_ID and plen >= 2:
                    family_id: int = struct.unpack_from("=H", buf, poff)[0]
                    return family_id
        raise NetlinkError(errno.ENOENT, f"generic netlink family {family_name} not found")

    def send(self, msg_type: int, cmd: int, version: int, payload: bytes, flags: int) -> int:
        """Send one request; return its sequence number."""
        self._seq += 1
        length = HEADERS_LEN + len(payload)
        header = NLMSG_HDR.pack(length, msg_type, NLM_F_REQUEST | flags, self._seq, 0)
        self.sock.send(header + GENL_HDR.pack(cmd, version, 0) + payload)
        return self._seq

    def recv(self) -> tuple[memoryview, int]:
        """Receive one datagram into the reused buffer: (buffer, number of bytes)."""
        return self._view, self.sock.recv_into(self._view)

    walk = staticmethod(walk)

    def request(
        self, msg_type: int, cmd: int, version: int, payload: bytes, flags: int
    ) -> Iterator[tuple[memoryview, int, int]]:
        """Send one request and yield every reply message until it is complete.

        Each item is (buffer, offset, length) of one netlink message; the buffer
        is reused by the next receive, so copy what must outlive the iteration.
        A dump ends at NLMSG_DONE; a plain request ends after its reply (or ACK).
        """
        seq = self.send(msg_type, cmd, version, payload, flags)
        dump = bool(flags & NLM_F_DUMP)
        while True:
            buf, n = self.recv()
            messages, finished = self.walk(buf, n, seq)
            for off, length in messages:
                yield buf, off, length
                if not dump and not flags & NLM_F_ACK:
                    return
            if finished:
                return
