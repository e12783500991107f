"""Read the whole IPVS table over generic netlink, fast.

The kernel emits the attributes of a service or destination message in a fixed
order (ip_vs_genl_fill_service / _fill_dest). We decode the first message of each
length generically, remember its layout as a pair of precompiled structs (one that
reads every attribute header, one that reads only the values we use), and decode
later messages of that length with two struct calls after checking that every
header matches. A message whose headers differ (new kernel, padding) falls back to
the generic decoder, so correctness never depends on the guess. Unchanged
destinations (identical values since the previous poll) reuse the previous objects.
"""

from __future__ import annotations

import errno
import gc
import operator
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lvstop.errors import NotADirector, SourceError
from lvstop.model.fastinit import positional_constructor, shadow_class
from lvstop.model.ipvs import (
    ZERO_COUNTERS,
    ZERO_RATES,
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
    NLA_F_NESTED,
    NLM_F_DUMP,
    GenlSocket,
    NetlinkError,
    iter_attrs,
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


Key = tuple[str, int]
"""(level, attribute type), e.g. ("dest", D_WEIGHT) or ("s64", 1)."""

_S64 = tuple(("s64", i) for i in STATS64_ATTRS)
# The canonical order in which both decoding paths hand values to the builders.
SERVICE_KEYS: tuple[Key, ...] = (
    ("svc", SVC_AF), ("svc", SVC_PROTOCOL), ("svc", SVC_ADDR), ("svc", SVC_PORT),
    ("svc", SVC_FWMARK), ("svc", SVC_SCHED), ("svc", SVC_FLAGS), ("svc", SVC_TIMEOUT),
    ("svc", SVC_NETMASK), ("svc", SVC_PE), *_S64,
)  # fmt: skip
DEST_KEYS: tuple[Key, ...] = (
    ("dest", D_ADDR), ("dest", D_PORT), ("dest", D_FWD), ("dest", D_WEIGHT),
    ("dest", D_UTHR), ("dest", D_LTHR), ("dest", D_ACTIVE), ("dest", D_INACT),
    ("dest", D_PERSIST), ("dest", D_AF), *_S64,
    ("dest", D_TUN_TYPE), ("dest", D_TUN_PORT), ("dest", D_TUN_FLAGS),
)  # fmt: skip


_BuilderFactory = Callable[[list[int | None]], Callable[[tuple[Any, ...], int], Any]]
"""Makes a layout's builder from the row index of each key (None: absent)."""

SEQ: Key = ("nlmsg", 8)
"""Pseudo-key of the nlmsghdr sequence number: checked per request, not per layout."""


@dataclass(slots=True)
class _Layout:
    """Precompiled decoder for one message shape.

    `full` reads the whole message (padded to 4 bytes): the netlink and genetlink
    headers, every attribute header and the payloads we use. `headers` picks the
    header fields out of that tuple; they must equal `expected` (with the request's
    sequence number at `seq_pos`) for the layout to apply. `values` then picks the
    used payloads in canonical key order (a key the message lacks points at a 0
    appended to the tuple, see `complete`).
    """

    full: struct.Struct
    headers: Callable[[tuple[Any, ...]], tuple[int, ...]]
    expected: tuple[int, ...]
    seq_pos: int
    values: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    complete: bool  # every key present: no 0 needs appending
    # For whole datagrams: the header bytes (all but seq) as a bit mask and their
    # expected value over one message, a struct reading only the used payloads
    # (in byte order) and the permutation into canonical order.
    header_mask: int
    header_bits: int
    payloads: struct.Struct
    order: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    _masks: dict[int, tuple[int, int]]
    _expect: tuple[int, tuple[int, ...]] = (-1, ())  # the last seq's expected headers
    # Builds the model object straight from a `payloads` row (no canonical tuple in
    # between); set by decoders that have a builder template (destinations).
    build: Callable[[tuple[Any, ...], int], Any] | None = None

    def expect(self, seq: int) -> tuple[int, ...]:
        if self._expect[0] != seq:  # once per dump: its messages share the seq
            want = (*self.expected[: self.seq_pos], seq, *self.expected[self.seq_pos + 1 :])
            self._expect = (seq, want)
        return self._expect[1]

    def masks(self, rows: int) -> tuple[int, int]:
        """(mask, expected bits) over `rows` consecutive messages, cached."""
        got = self._masks.get(rows)
        if got is None:
            shift = self.full.size * 8
            mask = bits = 0
            for i in range(rows):
                mask |= self.header_mask << (i * shift)
                bits |= self.header_bits << (i * shift)
            got = self._masks[rows] = (mask, bits)
        return got


def _walk(
    buf: bytes | bytearray | memoryview,
    start: int,
    end: int,
    level: str,
    out: dict[Key, object],
    layout: list[tuple[int, str, Key | None]],
) -> None:
    """Generic decoder: fill `out` and record each attribute's position and code."""
    for attr_type, poff, plen in iter_attrs(buf, start, end):
        key = (level, attr_type)
        layout.append((poff - 4, "H", None))
        layout.append((poff - 2, "H", None))
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


# nlmsghdr (len, type, flags, seq, pid) and genlmsghdr (cmd, version, reserved).
_MESSAGE_HEADERS: tuple[tuple[int, str, Key | None], ...] = (
    (0, "I", None), (4, "H", None), (6, "H", None), (8, "I", SEQ), (12, "I", None),
    (16, "B", None), (17, "B", None), (18, "H", None),
)  # fmt: skip


def _compile(
    msg_start: int,
    positions: list[tuple[int, str, Key | None]],
    buf: bytes | bytearray | memoryview,
    msg_len: int,
    keys: tuple[Key, ...],
    builder: _BuilderFactory | None = None,
) -> _Layout:
    fmt = ["="]
    pfmt = ["="]
    pos = ppos = 0
    header_idx: list[int] = []
    expected: list[int] = []
    value_idx: dict[Key, int] = {}
    payload_keys: list[Key] = []
    header_mask = 0
    seq_pos = 0
    entries = [(msg_start + o, c, k) for o, c, k in _MESSAGE_HEADERS] + positions
    for n, (off, code, key) in enumerate(entries):
        rel = off - msg_start
        size = struct.calcsize("=" + code)
        if rel > pos:
            fmt.append(f"{rel - pos}x")
        fmt.append(code)
        pos = rel + size
        if key is None or key == SEQ:
            if key == SEQ:
                seq_pos = len(header_idx)
            else:
                header_mask |= ((1 << (8 * size)) - 1) << (8 * rel)
            header_idx.append(n)
            expected.append(struct.unpack_from("=" + code, buf, off)[0])
        else:
            value_idx[key] = n
            if rel > ppos:
                pfmt.append(f"{rel - ppos}x")
            pfmt.append(code)
            ppos = rel + size
            payload_keys.append(key)
    stride = (msg_len + 3) & ~3
    if stride > pos:
        fmt.append(f"{stride - pos}x")
    if stride > ppos:
        pfmt.append(f"{stride - ppos}x")
    pad = len(entries)  # index of the 0 appended for keys this layout lacks
    message = int.from_bytes(bytes(buf[msg_start : msg_start + stride]), sys.byteorder)
    payload_pad = len(payload_keys)
    layout = _Layout(
        struct.Struct("".join(fmt)),
        operator.itemgetter(*header_idx),
        tuple(expected),
        seq_pos,
        operator.itemgetter(*(value_idx.get(k, pad) for k in keys)),
        all(k in value_idx for k in keys),
        header_mask,
        message & header_mask,
        struct.Struct("".join(pfmt)),
        operator.itemgetter(
            *(payload_keys.index(k) if k in value_idx else payload_pad for k in keys)
        ),
        {},
    )
    if builder is not None:
        layout.build = builder([payload_keys.index(k) if k in value_idx else None for k in keys])
    return layout


def canonical(layout: _Layout, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """`payloads` rows of `layout` as values in the decoder's key order."""
    if not layout.complete:
        rows = [(*t, 0) for t in rows]
    return list(map(layout.order, rows))


_LENGTH_SEQ = struct.Struct("=I4xI")
"""nlmsghdr's length and sequence number."""
_LENGTH_TYPE_SEQ = struct.Struct("=IH2xI")
NLMSG_MIN_TYPE = 0x10
"""Message types below are netlink's own (NOOP, ERROR, DONE, OVERRUN)."""


class _Decoder:
    """Decodes messages of one kind into value tuples in the canonical key order."""

    def __init__(
        self,
        keys: tuple[Key, ...],
        builder: _BuilderFactory | None = None,
    ) -> None:
        self.keys = keys
        self.builder = builder
        self.layouts: dict[int, list[_Layout]] = {}
        self.fast = 0
        self.slow = 0

    def decode_raw(
        self, buf: memoryview, n: int, seq: int
    ) -> tuple[_Layout, list[tuple[Any, ...]]] | None:
        """All messages of a datagram at C speed, if they all share one known layout:
        (layout, its `payloads` rows; `canonical` puts them in key order).

        The common case for a destination dump: one datagram holds every real
        server of a service, all encoded alike. None means "use the per-message
        path" (mixed shapes, a new shape, or the end-of-dump message)."""
        if n < 16:
            return None
        length, msg_seq = _LENGTH_SEQ.unpack_from(buf)
        if msg_seq != seq:
            return None
        for layout in self.layouts.get(length, ()):
            size = layout.full.size
            if n % size:
                continue
            # Every header of every message checked at once, as one masked compare
            # of the datagram read as a big integer; then the payloads in C.
            mask, bits = layout.masks(n // size)
            data = buf[:n]
            if int.from_bytes(data, sys.byteorder) & mask != bits:
                continue
            rows = list(layout.payloads.iter_unpack(data))
            self.fast += len(rows)
            return layout, rows
        return None

    def learn(self, buf: memoryview, n: int, seq: int) -> bool:
        """Compile the layout of the datagram's first message if it is of this
        request and of a shape not known yet; True if a layout was added."""
        length, msg_type, msg_seq = _LENGTH_TYPE_SEQ.unpack_from(buf)
        known = len(self.layouts.get(length, ()))
        if msg_type < NLMSG_MIN_TYPE or msg_seq != seq or known >= 8:
            return False  # an error or DONE message, another request's, or enough shapes
        if length < HEADERS_LEN or length > n:
            return False
        self.decode(buf, 0, length, seq)
        return len(self.layouts.get(length, ())) > known

    def decode(
        self, buf: memoryview | bytearray, off: int, length: int, seq: int
    ) -> tuple[Any, ...]:
        """One message: a known layout's fast path, else the generic walk."""
        for layout in self.layouts.get(length, ()):
            if off + layout.full.size > len(buf):
                continue
            t = layout.full.unpack_from(buf, off)
            if layout.headers(t) == layout.expect(seq):
                self.fast += 1
                return layout.values(t if layout.complete else (*t, 0))
        self.slow += 1
        out: dict[Key, object] = {}
        positions: list[tuple[int, str, Key | None]] = []
        _walk(buf, off + HEADERS_LEN, off + length, "cmd", out, positions)
        known = self.layouts.setdefault(length, [])
        if len(known) < 8:  # a few shapes per length (e.g. "rr" vs "wrr"), never unbounded
            known.append(_compile(off, positions, buf, length, self.keys, self.builder))
        return tuple(out.get(k, 0) for k in self.keys)


_ADDRS: dict[tuple[bytes, int], str] = {}


def _addr(raw: object, family: int) -> str:
    """Text form of a 16-byte kernel address, cached: a table repeats few addresses."""
    text = _ADDRS.get((raw, family))  # type: ignore[arg-type]
    if text is None:
        data = raw if isinstance(raw, bytes) else b""
        if family == socket.AF_INET6:
            text = socket.inet_ntop(socket.AF_INET6, data[:16].ljust(16, b"\0"))
        else:
            text = socket.inet_ntop(socket.AF_INET, data[:4].ljust(4, b"\0"))
        if len(_ADDRS) > 65536:
            _ADDRS.clear()
        _ADDRS[(data, family)] = text
    return text


def _cstr(raw: object) -> str:
    data = bytes(raw) if isinstance(raw, (bytes, bytearray)) else b""
    return data.split(b"\0", 1)[0].decode("ascii", "replace")


_ZERO5 = (0, 0, 0, 0, 0)
_FAMILIES = {int(f): f for f in Family}


_new_counters = positional_constructor(Counters)
_new_rates = positional_constructor(Rates)
_new_service = positional_constructor(Service)
_new = object.__new__
_RealServerShadow = shadow_class(RealServer)
_CountersShadow = shadow_class(Counters)
_RatesShadow = shadow_class(Rates)


def _counters(v: tuple[Any, ...]) -> Counters:
    return ZERO_COUNTERS if v == _ZERO5 else _new_counters(*v)


def _rates(v: tuple[Any, ...]) -> Rates:
    return ZERO_RATES if v == _ZERO5 else _new_rates(*v)


def _netmask_prefix(raw: object, family: int) -> int:
    data = bytes(raw) if isinstance(raw, (bytes, bytearray)) else b""
    if len(data) != 4:
        return 128 if family == socket.AF_INET6 else 32
    if family == socket.AF_INET6:
        # The kernel keeps the v6 prefix length as a native integer in this field.
        return int.from_bytes(data, sys.byteorder)
    return int.from_bytes(data, "big").bit_count()


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
        self._start_decoding()

    def _start_decoding(self) -> None:
        """Fresh decoders and nothing to reuse (also for readers on a fake socket)."""
        self._svc = _Decoder(SERVICE_KEYS)
        self._dest = _Decoder(DEST_KEYS, _dest_builder)
        self._dest_cache: dict[bytes, _DestEntry] = {}

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
        fresh: dict[bytes, _DestEntry] = {}
        # A poll allocates tens of thousands of objects that all stay alive: the
        # cyclic collector would only re-scan them (a fifth of a cold poll's time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            out = [
                _service_from(values, self._dests(_selector(values), values[0], fresh))
                for values in self._dump(IPVS_CMD_GET_SERVICE, b"", self._svc)
            ]
        except NetlinkError as exc:
            if exc.errno == errno.EPERM:
                raise PermissionError(exc.errno, "IPVS netlink needs CAP_NET_ADMIN") from None
            raise SourceError(f"IPVS netlink dump failed: {exc.strerror}") from None
        finally:
            if collecting:
                gc.enable()
        # Only what this poll saw is worth remembering for the next one.
        self._dest_cache = fresh
        return out

    def _dump(self, cmd: int, payload: bytes, decoder: _Decoder) -> list[tuple[Any, ...]]:
        """One dump request; every reply message as values in the decoder's key order,
        message by message (the service dump: its messages differ in shape)."""
        sock = self._sock
        seq = sock.send(sock.family_id, cmd, IPVS_GENL_VERSION, payload, NLM_F_DUMP)
        out: list[tuple[Any, ...]] = []
        while True:
            buf, n = sock.recv()
            messages, finished = sock.walk(buf, n, seq)
            out += [decoder.decode(buf, off, length, seq) for off, length in messages]
            if finished:
                return out

    def _dests(
        self, selector: bytes, svc_family: int, fresh: dict[bytes, _DestEntry]
    ) -> tuple[RealServer, ...]:
        build, rows = self._dest_rows(selector)
        # Destinations that read exactly as in the last poll (idle servers: same
        # counters) reuse last poll's objects, the whole tuple when none moved; the
        # compares run in C.
        last = self._dest_cache.get(selector)
        family = svc_family or socket.AF_INET
        if last is None or last[0] is not build:
            dests = tuple([build(v, family) for v in rows])
        elif last[1] == rows:
            dests = last[2]
        elif len(last[1]) == len(rows):
            dests = tuple(
                [
                    old if v == was else build(v, family)
                    for v, was, old in zip(rows, last[1], last[2], strict=True)
                ]
            )
        else:
            dests = tuple([build(v, family) for v in rows])
        fresh[selector] = (build, rows, dests)
        return dests

    def _dest_rows(self, selector: bytes) -> tuple[_Builder, list[tuple[Any, ...]]]:
        """One service's destination dump: (builder, its rows). The usual reply, one
        datagram of like messages then NLMSG_DONE, gives its layout's builder and
        the raw struct rows; anything else (several datagrams, mixed shapes) falls
        back to canonical rows and `_dest_from`."""
        sock = self._sock
        decoder = self._dest
        seq = sock.send(sock.family_id, IPVS_CMD_GET_DEST, IPVS_GENL_VERSION, selector, NLM_F_DUMP)
        whole: tuple[_Layout, list[tuple[Any, ...]]] | None = None
        out: list[tuple[Any, ...]] = []
        while True:
            buf, n = sock.recv()
            # A lone 20-byte datagram is the NLMSG_DONE that ends every dump.
            got = decoder.decode_raw(buf, n, seq) if n > 20 else None
            if got is None and n > 20 and whole is None and not out and decoder.learn(buf, n, seq):
                got = decoder.decode_raw(buf, n, seq)  # a new shape, now known
            if got is not None:
                if whole is None and not out:
                    whole = got
                else:
                    if whole is not None:
                        out, whole = canonical(*whole), None
                    out += canonical(*got)
                continue
            messages, finished = sock.walk(buf, n, seq)
            if whole is not None:
                if finished and not messages and whole[0].build is not None:
                    return whole[0].build, whole[1]
                out, whole = canonical(*whole), None
            out += [decoder.decode(buf, off, length, seq) for off, length in messages]
            if finished:
                return _dest_from, out


_Builder = Callable[[tuple[Any, ...], int], RealServer]
_DestEntry = tuple[_Builder, list[tuple[Any, ...]], tuple[RealServer, ...]]
"""A service's destinations in the last poll: (builder, rows, the objects built)."""


_V4_SELECTOR = struct.Struct("=HH HHH2x HHH2x HH16s HH2s2x")
_V4_SELECTOR_LEN = _V4_SELECTOR.size
_FWM_SELECTOR = struct.Struct("=HH HHH2x HHI")


def _selector(v: tuple[Any, ...]) -> bytes:
    """The IPVS_CMD_ATTR_SERVICE nest naming a service in a dest-dump request."""
    family = v[0] or socket.AF_INET
    if v[4]:  # fwmark
        return _FWM_SELECTOR.pack(
            _FWM_SELECTOR.size, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED,
            6, SVC_AF, family, 8, SVC_FWMARK, v[4],
        )  # fmt: skip
    addr = v[2] if isinstance(v[2], bytes) else b""
    return _V4_SELECTOR.pack(
        _V4_SELECTOR_LEN, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED,
        6, SVC_AF, family, 6, SVC_PROTOCOL, v[1], 20, SVC_ADDR, addr.ljust(16, b"\0"),
        6, SVC_PORT, struct.pack("=H", v[3]),
    )  # fmt: skip


_PROTOCOLS = {int(p): p for p in Protocol}


_KEYS: dict[tuple[Any, ...], ServiceKey] = {}
_STRINGS: dict[tuple[Any, ...], tuple[str, str | None, int]] = {}


def _service_key(family: int, v: tuple[Any, ...]) -> ServiceKey:
    """The ServiceKey for raw (family, protocol, address, port, fwmark), cached: the
    same services come back every poll and building a key hashes its fields."""
    raw = (family, v[1], v[2], v[3], v[4])
    key = _KEYS.get(raw)
    if key is None:
        if v[4]:
            key = ServiceKey(_FAMILIES[family], None, None, 0, v[4])
        else:
            key = ServiceKey(
                _FAMILIES[family], _PROTOCOLS[v[1]], _addr(v[2], family), _swap16(v[3]), 0
            )
        if len(_KEYS) > 65536:
            _KEYS.clear()
        _KEYS[raw] = key
    return key


def _service_from(v: tuple[Any, ...], dests: tuple[RealServer, ...]) -> Service:
    """Build a service from values in SERVICE_KEYS order and its real servers."""
    family = v[0] or socket.AF_INET
    # Scheduler, persistence engine and netmask: few distinct values, decoded once.
    raw = (v[5], v[9], v[8], family)
    strings = _STRINGS.get(raw)
    if strings is None:
        pe = (_cstr(v[9]) or None) if v[9] else None
        strings = (_cstr(v[5]), pe, _netmask_prefix(v[8], family))
        if len(_STRINGS) > 4096:
            _STRINGS.clear()
        _STRINGS[raw] = strings
    return _new_service(
        _service_key(family, v),
        strings[0],
        v[6],
        v[7],
        strings[2],
        strings[1],
        _counters(v[10:15]),
        _rates(v[15:20]),
        dests,
        None,
        None,
    )


_FORWARDS = tuple(Forward)


# The hot path of a poll (10,000 real servers per poll of a big table): one
# function per message layout, generated from this template, builds a RealServer
# and its Counters/Rates inline (fastinit.shadow_class: no call, slice or tuple per
# object) straight from the struct's row. `{k}` is the value of DEST_KEYS[k]: an
# index into the row, or 0 for an attribute the layout lacks. The result equals
# RealServer(...) with Counters/Rates (the decode tests compare).
_DEST_TEMPLATE = """
def build(p, svc_family):
    family = {9} or svc_family
    address = _ADDRS.get(({0}, family))
    if address is None:
        address = _addr({0}, family)
    if {10} or {11} or {12} or {13} or {14}:
        stats = _new(_CountersShadow)
        stats.conns = {10}
        stats.inpkts = {11}
        stats.outpkts = {12}
        stats.inbytes = {13}
        stats.outbytes = {14}
        stats.__class__ = Counters
    else:
        stats = ZERO_COUNTERS
    if {15} or {16} or {17} or {18} or {19}:
        rates = _new(_RatesShadow)
        rates.cps = {15}
        rates.inpps = {16}
        rates.outpps = {17}
        rates.inbps = {18}
        rates.outbps = {19}
        rates.__class__ = Rates
    else:
        rates = ZERO_RATES
    o = _new(_RealServerShadow)
    o.address = address
    o.port = (({1} & 0xFF) << 8) | ({1} >> 8)
    o.forward = _FORWARDS[{2} & 0x7]
    o.weight = {3}
    o.u_threshold = {4}
    o.l_threshold = {5}
    o.active_conns = {6}
    o.inactive_conns = {7}
    o.persistent_conns = {8}
    o.stats = stats
    o.rates = rates
    o.family = _FAMILIES[family]
    o.tun_type = {20}
    o.tun_port = (({21} & 0xFF) << 8) | ({21} >> 8)
    o.tun_flags = {22}
    o.__class__ = RealServer
    return o
"""


def _dest_builder(index: list[int | None]) -> Callable[[tuple[Any, ...], int], RealServer]:
    """The template instantiated for rows whose DEST_KEYS[k] is at `index[k]`."""
    if len(index) != len(DEST_KEYS):
        raise ValueError("one index per DEST_KEYS entry")
    exprs = ["0" if i is None else f"p[{i}]" for i in index]
    ns: dict[str, Any] = dict(globals())
    exec(_DEST_TEMPLATE.format(*exprs), ns)  # as dataclasses builds its __init__
    build: Callable[[tuple[Any, ...], int], RealServer] = ns["build"]
    return build


_dest_from = _dest_builder(list(range(len(DEST_KEYS))))
"""Build a real server from values in DEST_KEYS order (the per-message path)."""
