"""Read the whole IPVS table over generic netlink, fast.

The kernel emits the attributes of a service or destination message in a fixed
order (ip_vs_genl_fill_service / _fill_dest). We decode the first message of each
length generically, remember its layout as a pair of precompiled structs (one that
reads every attribute header, one that reads only the values we use), and decode
later messages of that length with two struct calls after checking that every
header matches. A message whose headers differ (new kernel, padding) falls back to
the generic decoder, so correctness never depends on the guess. Unchanged
destinations (identical bytes since the previous poll) reuse the previous objects.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from lvstop.errors import NotADirector, SourceError
from lvstop.model.ipvs import (
    Counters,
    Family,
    Forward,
    Protocol,
    Rates,
    RealServer,
    Service,
    ServiceKey,
)
from lvstop.sources.genl import (
    HEADERS_LEN,
    NLA_HDR,
    NLM_F_DUMP,
    GenlSocket,
    NetlinkError,
    iter_attrs,
    nla,
    nla_nested,
)

IPVS_GENL_VERSION = 1
IPVS_CMD_GET_SERVICE = 4
IPVS_CMD_GET_DEST = 8
IPVS_CMD_ATTR_SERVICE = 1
IPVS_CMD_ATTR_DEST = 2

# Service attributes.
SVC_AF, SVC_PROTOCOL, SVC_ADDR, SVC_PORT, SVC_FWMARK = 1, 2, 3, 4, 5
SVC_SCHED, SVC_FLAGS, SVC_TIMEOUT, SVC_NETMASK, SVC_STATS, SVC_PE, SVC_STATS64 = (
    6,
    7,
    8,
    9,
    10,
    11,
    12,
)
# Destination attributes.
D_ADDR, D_PORT, D_FWD, D_WEIGHT, D_UTHR, D_LTHR = 1, 2, 3, 4, 5, 6
D_ACTIVE, D_INACT, D_PERSIST, D_STATS, D_AF, D_STATS64 = 7, 8, 9, 10, 11, 12
D_TUN_TYPE, D_TUN_PORT, D_TUN_FLAGS = 13, 14, 15
STATS64_ATTRS = range(1, 11)  # conns inpkts outpkts inbytes outbytes cps inpps outpps inbps outbps

# What to read from each attribute, by (level, type): a struct code for its payload.
# Level "svc"/"dest" is inside IPVS_CMD_ATTR_SERVICE/_DEST; "s64" inside STATS64.
_SCALAR = {
    ("svc", SVC_AF): "H",
    ("svc", SVC_PROTOCOL): "H",
    ("svc", SVC_PORT): "H",
    ("svc", SVC_FWMARK): "I",
    ("svc", SVC_FLAGS): "I",  # struct ip_vs_flags: flags, then mask (left unread)
    ("svc", SVC_TIMEOUT): "I",
    ("svc", SVC_NETMASK): "4s",
    ("dest", D_PORT): "H",
    ("dest", D_FWD): "I",
    ("dest", D_WEIGHT): "i",
    ("dest", D_UTHR): "I",
    ("dest", D_LTHR): "I",
    ("dest", D_ACTIVE): "I",
    ("dest", D_INACT): "I",
    ("dest", D_PERSIST): "I",
    ("dest", D_AF): "H",
    ("dest", D_TUN_TYPE): "B",
    ("dest", D_TUN_PORT): "H",
    ("dest", D_TUN_FLAGS): "H",
}
_BYTES = {("svc", SVC_ADDR), ("svc", SVC_SCHED), ("svc", SVC_PE), ("dest", D_ADDR)}
_NESTED = {
    ("cmd", IPVS_CMD_ATTR_SERVICE): "svc",
    ("cmd", IPVS_CMD_ATTR_DEST): "dest",
    ("svc", SVC_STATS64): "s64",
    ("dest", D_STATS64): "s64",
}


def _swap16(v: int) -> int:
    """Ports travel big-endian; the layout structs read native order."""
    return ((v & 0xFF) << 8) | (v >> 8)


@dataclass(slots=True)
class _Layout:
    """Precompiled decoder for one message shape."""

    headers: struct.Struct
    expected: tuple[int, ...]
    values: struct.Struct
    index: dict[tuple[str, int], int]


def _walk(
    buf: bytes | bytearray,
    start: int,
    end: int,
    level: str,
    out: dict[tuple[str, int], object],
    layout: list[tuple[int, str, tuple[str, int] | None]],
) -> None:
    """Generic decoder: fill `out` and record each attribute's position and code."""
    for attr_type, poff, plen in iter_attrs(buf, start, end):
        key = (level, attr_type)
        layout.append((poff - 4, "HH", None))
        nested = _NESTED.get(key)
        if nested is not None:
            _walk(buf, poff, poff + plen, nested, out, layout)
            continue
        if level == "s64" and attr_type in STATS64_ATTRS and plen == 8:
            code = "Q"
        elif key in _SCALAR and plen >= struct.calcsize("=" + _SCALAR[key]):
            code = _SCALAR[key]
        elif key in _BYTES:
            code = f"{plen}s"
        else:
            continue  # not used (e.g. the 32-bit STATS copy): skipped by both paths
        out[key] = struct.unpack_from("=" + code, buf, poff)[0]
        layout.append((poff, code, key))


def _compile(
    msg_start: int,
    layout: list[tuple[int, str, tuple[str, int] | None]],
    buf: bytes | bytearray,
    msg_len: int,
) -> _Layout:
    hfmt, vfmt = ["="], ["="]
    hpos, vpos = 0, 0
    expected: list[int] = []
    index: dict[tuple[str, int], int] = {}
    for off, code, key in layout:
        rel = off - msg_start
        if key is None:
            hfmt.append(f"{rel - hpos}x" if rel > hpos else "")
            hfmt.append("HH")
            hpos = rel + 4
            expected.extend(NLA_HDR.unpack_from(buf, off))
        else:
            vfmt.append(f"{rel - vpos}x" if rel > vpos else "")
            vfmt.append(code)
            index[key] = len(index)
            vpos = rel + struct.calcsize("=" + code)
    hfmt.append(f"{msg_len - hpos}x" if msg_len > hpos else "")
    return _Layout(
        struct.Struct("".join(hfmt)), tuple(expected), struct.Struct("".join(vfmt)), index
    )


class _Decoder:
    """Decodes messages of one kind, caching a layout per message length."""

    def __init__(self) -> None:
        self.layouts: dict[int, _Layout | None] = {}
        self.fast = 0
        self.slow = 0

    def decode(self, buf: bytearray, off: int, length: int) -> dict[tuple[str, int], object]:
        layout = self.layouts.get(length)
        if layout is not None and layout.headers.unpack_from(buf, off) == layout.expected:
            self.fast += 1
            vals = layout.values.unpack_from(buf, off)
            return {key: vals[i] for key, i in layout.index.items()}
        self.slow += 1
        out: dict[tuple[str, int], object] = {}
        positions: list[tuple[int, str, tuple[str, int] | None]] = []
        _walk(buf, off + HEADERS_LEN, off + length, "cmd", out, positions)
        if length not in self.layouts:
            self.layouts[length] = _compile(off, positions, buf, length)
        return out


def _addr(raw: object, family: int) -> str:
    data = bytes(raw) if isinstance(raw, (bytes, bytearray)) else b""
    if family == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, data[:16].ljust(16, b"\0"))
    return socket.inet_ntop(socket.AF_INET, data[:4].ljust(4, b"\0"))


def _cstr(raw: object) -> str:
    data = bytes(raw) if isinstance(raw, (bytes, bytearray)) else b""
    return data.split(b"\0", 1)[0].decode("ascii", "replace")


def _int(v: object) -> int:
    return v if isinstance(v, int) else 0


def _stats(d: dict[tuple[str, int], object]) -> tuple[Counters, Rates]:
    g = d.get
    return (
        Counters(
            _int(g(("s64", 1))),
            _int(g(("s64", 2))),
            _int(g(("s64", 3))),
            _int(g(("s64", 4))),
            _int(g(("s64", 5))),
        ),
        Rates(
            float(_int(g(("s64", 6)))),
            float(_int(g(("s64", 7)))),
            float(_int(g(("s64", 8)))),
            float(_int(g(("s64", 9)))),
            float(_int(g(("s64", 10)))),
        ),
    )


def _netmask_prefix(raw: object, family: int) -> int:
    data = bytes(raw) if isinstance(raw, (bytes, bytearray)) else b""
    if len(data) != 4:
        return 128 if family == socket.AF_INET6 else 32
    if family == socket.AF_INET6:
        # The kernel keeps the v6 prefix length as a native integer in this field.
        return int.from_bytes(data, "little" if struct.pack("=H", 1)[0] else "big")
    return int.from_bytes(data, "big").bit_count()


@dataclass(frozen=True, slots=True)
class _RawService:
    """A service from the dump plus the request attribute that names it."""

    service: Service
    selector: bytes


class IpvsNetlink:
    """Reads services and real servers with one dump per service, like ipvsadm."""

    def __init__(self) -> None:
        try:
            self._sock = GenlSocket("IPVS")
        except NetlinkError as exc:
            if exc.errno == errno.ENOENT:
                raise NotADirector(
                    "IPVS is not loaded here (no IPVS generic netlink family): "
                    "this host is not an LVS director"
                ) from None
            raise SourceError(f"IPVS netlink: {exc.strerror}") from None
        self._svc = _Decoder()
        self._dest = _Decoder()
        self._dest_cache: dict[bytes, RealServer] = {}

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> IpvsNetlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def decode_stats(self) -> dict[str, int]:
        """How many messages took the fast path vs the generic one (for benchmarks)."""
        return {
            "svc_fast": self._svc.fast,
            "svc_slow": self._svc.slow,
            "dest_fast": self._dest.fast,
            "dest_slow": self._dest.slow,
        }

    def read(self) -> list[Service]:
        """Every service with its real servers. Raises SourceError (EPERM etc.)."""
        try:
            raw = self._services()
            out: list[Service] = []
            for rs in raw:
                dests = self._dests(rs.selector, rs.service.key.family)
                out.append(_with_dests(rs.service, dests))
            return out
        except NetlinkError as exc:
            if exc.errno == errno.EPERM:
                raise PermissionError(exc.errno, "IPVS netlink needs CAP_NET_ADMIN") from None
            raise SourceError(f"IPVS netlink dump failed: {exc.strerror}") from None

    def _services(self) -> list[_RawService]:
        out: list[_RawService] = []
        decode = self._svc.decode
        for buf, off, length in self._sock.request(
            self._sock.family_id, IPVS_CMD_GET_SERVICE, IPVS_GENL_VERSION, b"", NLM_F_DUMP
        ):
            d = decode(buf, off, length)
            out.append(_service_from(d))
        return out

    def _dests(self, selector: bytes, svc_family: int) -> tuple[RealServer, ...]:
        decode = self._dest.decode
        old = self._dest_cache
        new: dict[bytes, RealServer] = {}
        dests: list[RealServer] = []
        for buf, off, length in self._sock.request(
            self._sock.family_id, IPVS_CMD_GET_DEST, IPVS_GENL_VERSION, selector, NLM_F_DUMP
        ):
            raw = bytes(buf[off + 16 : off + length])  # skip nlmsghdr: seq differs per poll
            rs = old.get(raw)
            if rs is None:
                rs = _dest_from(decode(buf, off, length), svc_family)
            new[raw] = rs
            dests.append(rs)
        # Keep the cache as large as the table, no larger.
        old.update(new)
        if len(old) > 2 * len(new) + 1024:
            self._dest_cache = new
        return tuple(dests)


def _service_from(d: dict[tuple[str, int], object]) -> _RawService:
    family = _int(d.get(("svc", SVC_AF))) or socket.AF_INET
    fwmark = _int(d.get(("svc", SVC_FWMARK)))
    af = nla(SVC_AF, struct.pack("=H", family))
    if fwmark:
        key = ServiceKey(Family(family), None, None, 0, fwmark)
        selector = nla_nested(IPVS_CMD_ATTR_SERVICE, af, nla(SVC_FWMARK, struct.pack("=I", fwmark)))
    else:
        proto = _int(d.get(("svc", SVC_PROTOCOL)))
        raw_addr = d.get(("svc", SVC_ADDR))
        port = _swap16(_int(d.get(("svc", SVC_PORT))))
        key = ServiceKey(Family(family), Protocol(proto), _addr(raw_addr, family), port, 0)
        addr_bytes = bytes(raw_addr) if isinstance(raw_addr, (bytes, bytearray)) else b""
        selector = nla_nested(
            IPVS_CMD_ATTR_SERVICE,
            af,
            nla(SVC_PROTOCOL, struct.pack("=H", proto)),
            nla(SVC_ADDR, addr_bytes),
            nla(SVC_PORT, struct.pack("!H", port)),
        )
    stats, rates = _stats(d)
    pe = d.get(("svc", SVC_PE))
    svc = Service(
        key=key,
        scheduler=_cstr(d.get(("svc", SVC_SCHED))),
        flags=_int(d.get(("svc", SVC_FLAGS))),
        timeout=_int(d.get(("svc", SVC_TIMEOUT))),
        netmask=_netmask_prefix(d.get(("svc", SVC_NETMASK)), family),
        pe_name=_cstr(pe) or None if pe is not None else None,
        stats=stats,
        rates=rates,
    )
    return _RawService(svc, selector)


def _dest_from(d: dict[tuple[str, int], object], svc_family: int) -> RealServer:
    family = _int(d.get(("dest", D_AF))) or svc_family
    stats, rates = _stats(d)
    g = d.get
    return RealServer(
        address=_addr(g(("dest", D_ADDR)), family),
        port=_swap16(_int(g(("dest", D_PORT)))),
        forward=Forward(_int(g(("dest", D_FWD))) & 0x7),
        weight=_int(g(("dest", D_WEIGHT))),
        u_threshold=_int(g(("dest", D_UTHR))),
        l_threshold=_int(g(("dest", D_LTHR))),
        active_conns=_int(g(("dest", D_ACTIVE))),
        inactive_conns=_int(g(("dest", D_INACT))),
        persistent_conns=_int(g(("dest", D_PERSIST))),
        stats=stats,
        rates=rates,
        family=Family(family),
        tun_type=_int(g(("dest", D_TUN_TYPE))),
        tun_port=_swap16(_int(g(("dest", D_TUN_PORT)))),
        tun_flags=_int(g(("dest", D_TUN_FLAGS))),
    )


def _with_dests(svc: Service, dests: tuple[RealServer, ...]) -> Service:
    return Service(
        key=svc.key,
        scheduler=svc.scheduler,
        flags=svc.flags,
        timeout=svc.timeout,
        netmask=svc.netmask,
        pe_name=svc.pe_name,
        stats=svc.stats,
        rates=svc.rates,
        real_servers=dests,
    )


DecodeFn = Callable[[bytearray, int, int], dict[tuple[str, int], object]]
