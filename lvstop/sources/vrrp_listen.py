"""Passive VRRP listener: what is really on the wire, independent of keepalived.

keepalived reports what it *believes*; a split brain is exactly the case where both
directors believe they are MASTER. Only the wire shows it: in VRRP only the master
sends adverts, so two sources advertising one VRID at the same time are two masters.

Wire format (RFC 3768 VRRPv2, RFC 5798 VRRPv3), after the IP header::

    byte 0: version (high nibble) | type (low nibble, 1 = advertisement)
    byte 1: VRID   byte 2: priority (0 = master resigning)   byte 3: address count
    v2: byte 4 auth type, byte 5 advert interval in seconds
    v3: bytes 4-5: 4 reserved bits + 12-bit max advert interval in centiseconds
    bytes 6-7: checksum; then the addresses (4 or 16 bytes each);
    v2 only: 8 bytes of authentication data (the PASS password in clear text:
    never kept or shown here).

The v2 checksum covers the VRRP message only; the v3 checksum also covers a pseudo
header (source, destination, protocol 112, VRRP length) like TCP/UDP, for IPv4 too.
Senders must use IP TTL / hop limit 255, so anything else was routed: invalid.

Sockets and why:

* IPv4: a raw socket for protocol 112 delivers the whole IP packet, header included
  (TTL, source, destination); IP_PKTINFO adds the arrival interface.
* 224.0.0.18 is joined per interface by ifindex (ip_mreqn): joining with INADDR_ANY
  needs a multicast route and fails with ENODEV in a bare namespace. Unicast adverts
  (keepalived ``unicast_peer``) addressed to this host arrive without any join.
* IP_MULTICAST_ALL is switched off: by default a socket receives a group's traffic on
  *every* interface where anybody (keepalived) joined it, not just ours.
* IPv6 (VRRPv3 only): raw IPv6 sockets never deliver the IPv6 header, so the hop
  limit and destination come from ancillary data (IPV6_HOPLIMIT, IPV6_PKTINFO).
* SO_TIMESTAMPNS: the kernel's receive time is used for ``last_seen``, so a caller
  that drains late still gets true advert times (the alarms depend on them).
* This host's own adverts: a raw socket sees locally sent multicast only through
  multicast loopback, and keepalived switches IP_MULTICAST_LOOP off
  (vrrp_if.c if_setsockopt_mcast_loop). So by default the listener shows only the
  *other* speakers, and on a director that is MASTER for a VRID, analyse() would see
  no master for it. ``outgoing=True`` adds one AF_PACKET socket per interface
  (ETH_P_ALL, a classic BPF filter: PACKET_OUTGOING and IP protocol / next header
  112) that captures the host's own adverts, marked ``Advert.outgoing``. Verified
  in the lab (tests/lab/test_vrrp_wire.py). A sender that leaves loopback on would
  be seen twice (both sockets): same speaker, its advert count doubles.

Needs CAP_NET_RAW. Never blocks: `VrrpListener` exposes ``fileno()`` for a selector
or ``loop.add_reader`` and drains with `VrrpListener.read_ready`;
`VrrpListenerThread` runs one in a background thread.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import enum
import errno
import functools
import ipaddress
import json
import logging
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace

from lvstop.errors import SourceError
from lvstop.model.vrrp import WireSpeaker
from lvstop.sources.pollthread import PollThread

log = logging.getLogger(__name__)

IPPROTO_VRRP = 112
VRRP_GROUP_V4 = "224.0.0.18"
VRRP_GROUP_V6 = "ff02::12"
VRRP_TTL = 255
VRRP_TYPE_ADVERT = 1
V2_AUTH_DATA_LEN = 8

# Linux values; not every one is exported by Python's socket module.
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
_IPV6_MULTICAST_ALL = 29
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
_IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)

_SO_ATTACH_FILTER = 26
_ETH_P_ALL = 0x0003
_SKF_AD_PROTOCOL = 0xFFFFF000  # SKF_AD_OFF + 0, as u32
_SKF_AD_PKTTYPE = 0xFFFFF004  # SKF_AD_OFF + 4
_PACKET_OUTGOING = 4


def _bpf(*insns: tuple[int, int, int, int]) -> bytes:
    return b"".join(struct.pack("HBBI", *i) for i in insns)


# Classic BPF for a SOCK_DGRAM packet socket (offset 0 = network header): accept only
# outgoing IPv4/IPv6 packets whose protocol / next header is 112.
_OUTGOING_VRRP_BPF = _bpf(
    (0x20, 0, 0, _SKF_AD_PKTTYPE),  # 0: A = skb->pkt_type
    (0x15, 0, 8, _PACKET_OUTGOING),  # 1: != OUTGOING -> drop
    (0x20, 0, 0, _SKF_AD_PROTOCOL),  # 2: A = ethertype
    (0x15, 0, 2, 0x0800),  # 3: IPv4 ? 4 : 6
    (0x30, 0, 0, 9),  # 4: A = IPv4 protocol
    (0x15, 3, 4, IPPROTO_VRRP),  # 5: 112 ? accept : drop
    (0x15, 0, 3, 0x86DD),  # 6: IPv6 ? 7 : drop
    (0x30, 0, 0, 6),  # 7: A = IPv6 next header
    (0x15, 0, 1, IPPROTO_VRRP),  # 8: 112 ? accept : drop
    (0x06, 0, 0, 0x40000),  # 9: accept
    (0x06, 0, 0, 0),  # 10: drop
)

_BUFSIZE = 65535
_ANCBUFSIZE = socket.CMSG_SPACE(16) + socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4) + 64
_MAX_DRAIN = 4096  # datagrams per read_ready(), so one call stays short under a flood


# --------------------------------------------------------------------------- parsing


class InvalidAdvert(ValueError):
    """A packet on protocol 112 that is not a valid VRRP advert; `reason` is a short key.

    Reasons: ip_header, ip_length, protocol, ttl, length, version, type, vrid,
    interval, checksum, truncated.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Advert:
    """One valid VRRP advertisement. `advert_int` is in seconds for v2 and v3.

    `auth_type` is the v2 auth type (0 none, 1 PASS, 2 AH); 0 for v3, which has none.
    `received` is monotonic seconds; `raw` is the packet only when asked for (capture);
    `outgoing` marks this host's own adverts (captured with ``outgoing=True``).
    """

    version: int
    vrid: int
    priority: int
    advert_int: float
    vips: tuple[str, ...]
    auth_type: int
    source: str
    destination: str
    ttl: int
    interface: str = ""
    received: float = 0.0
    raw: bytes = b""
    outgoing: bool = False


def inet_checksum(data: bytes) -> int:
    """RFC 1071 one's-complement sum, folded to 16 bits (0 for valid data incl. its sum)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(source: bytes, destination: bytes, length: int) -> bytes:
    """The IPv4 (RFC 768 style) or IPv6 (RFC 8200 8.1) pseudo header VRRPv3 sums over."""
    if len(source) == 4:
        return source + destination + struct.pack("!BBH", 0, IPPROTO_VRRP, length)
    return source + destination + struct.pack("!I3xB", length, IPPROTO_VRRP)


def vrrp_checksum(payload: bytes, source: bytes, destination: bytes) -> int:
    """The checksum a sender puts in bytes 6-7 (computed with those bytes zeroed)."""
    body = payload[:6] + b"\0\0" + payload[8:]
    if payload[0] >> 4 == 3:
        body = pseudo_header(source, destination, len(payload)) + body
    return inet_checksum(body)


def parse_vrrp(
    payload: bytes,
    *,
    source: bytes,
    destination: bytes,
    ttl: int,
    interface: str = "",
    received: float = 0.0,
    raw: bytes = b"",
) -> Advert:
    """Validate and decode a VRRP message; `source`/`destination` are packed addresses.

    Raises InvalidAdvert. Order of checks follows RFC 5798 7.1 (TTL, version and type,
    length, checksum, then field values), so the counted reason is the first failure.
    """
    v6 = len(source) == 16
    if ttl != VRRP_TTL:
        raise InvalidAdvert("ttl", f"{'hop limit' if v6 else 'TTL'} {ttl}, want 255")
    if len(payload) < 8:
        raise InvalidAdvert("length", f"{len(payload)} bytes, header needs 8")
    version, kind = payload[0] >> 4, payload[0] & 0x0F
    if version not in (2, 3) or (v6 and version != 3):
        raise InvalidAdvert("version", f"VRRPv{version} over IPv{6 if v6 else 4}")
    if kind != VRRP_TYPE_ADVERT:
        raise InvalidAdvert("type", f"type {kind}")
    count = payload[3]
    alen = 16 if v6 else 4
    need = 8 + count * alen + (V2_AUTH_DATA_LEN if version == 2 else 0)
    if len(payload) < need:
        raise InvalidAdvert("length", f"{len(payload)} bytes, {count} addresses need {need}")
    if version == 2:
        total = inet_checksum(payload)
    else:
        total = inet_checksum(pseudo_header(source, destination, len(payload)) + payload)
    if total != 0:
        want = vrrp_checksum(payload, source, destination)
        raise InvalidAdvert("checksum", f"0x{payload[6] << 8 | payload[7]:04x}, want 0x{want:04x}")
    vrid = payload[1]
    if vrid == 0:
        raise InvalidAdvert("vrid", "VRID 0")
    if version == 2:
        auth_type = payload[4]
        interval = float(payload[5])
    else:
        auth_type = 0
        interval = ((payload[4] & 0x0F) << 8 | payload[5]) / 100
    if interval <= 0:
        raise InvalidAdvert("interval", "advert interval 0")
    if v6:
        vips = tuple(
            socket.inet_ntop(socket.AF_INET6, payload[i : i + 16])
            for i in range(8, 8 + 16 * count, 16)
        )
    else:
        vips = tuple(socket.inet_ntoa(payload[i : i + 4]) for i in range(8, 8 + 4 * count, 4))
    family = socket.AF_INET6 if v6 else socket.AF_INET
    return Advert(
        version=version,
        vrid=vrid,
        priority=payload[2],
        advert_int=interval,
        vips=vips,
        auth_type=auth_type,
        source=socket.inet_ntop(family, source),
        destination=socket.inet_ntop(family, destination),
        ttl=ttl,
        interface=interface,
        received=received,
        raw=raw,
    )


def parse_ipv4_packet(
    packet: bytes, *, interface: str = "", received: float = 0.0, keep_raw: bool = False
) -> Advert:
    """Decode a whole IPv4 packet as a raw socket delivers it (header included)."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        raise InvalidAdvert("ip_header", f"{len(packet)} bytes, not an IPv4 header")
    ihl = (packet[0] & 0x0F) * 4
    total = packet[2] << 8 | packet[3]
    if ihl < 20 or total < ihl or total > len(packet):
        raise InvalidAdvert("ip_length", f"ihl {ihl}, total length {total}, got {len(packet)}")
    if packet[9] != IPPROTO_VRRP:
        raise InvalidAdvert("protocol", f"IP protocol {packet[9]}")
    return parse_vrrp(
        packet[ihl:total],
        source=packet[12:16],
        destination=packet[16:20],
        ttl=packet[8],
        interface=interface,
        received=received,
        raw=packet[:total] if keep_raw else b"",
    )


def parse_ipv6_packet(
    packet: bytes, *, interface: str = "", received: float = 0.0, keep_raw: bool = False
) -> Advert:
    """Decode a whole IPv6 packet (as captured by a packet socket; no extension headers)."""
    if len(packet) < 40 or packet[0] >> 4 != 6:
        raise InvalidAdvert("ip_header", f"{len(packet)} bytes, not an IPv6 header")
    end = 40 + (packet[4] << 8 | packet[5])
    if end > len(packet):
        raise InvalidAdvert("ip_length", f"payload ends at {end}, got {len(packet)}")
    if packet[6] != IPPROTO_VRRP:
        raise InvalidAdvert("protocol", f"next header {packet[6]}")
    return parse_vrrp(
        packet[40:end],
        source=packet[8:24],
        destination=packet[24:40],
        ttl=packet[7],
        interface=interface,
        received=received,
        raw=packet[:end] if keep_raw else b"",
    )


# --------------------------------------------------------------------------- analysis


class AlarmKind(enum.StrEnum):
    """What `analyse` can find on the wire."""

    SPLIT_BRAIN = "split_brain"
    NO_MASTER = "no_master"
    VIP_MISMATCH = "vip_mismatch"
    INTERVAL_MISMATCH = "interval_mismatch"
    LEAVING = "leaving"


_SEVERITY = {
    AlarmKind.SPLIT_BRAIN: "critical",
    AlarmKind.NO_MASTER: "critical",
    AlarmKind.VIP_MISMATCH: "warning",
    AlarmKind.INTERVAL_MISMATCH: "warning",
    AlarmKind.LEAVING: "info",
}
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class WireAlarm:
    """One finding about a VRID on the wire. `interface` is None when it spans all."""

    kind: AlarmKind
    vrid: int
    interface: str | None
    sources: tuple[str, ...]
    message: str

    @property
    def severity(self) -> str:
        return _SEVERITY[self.kind]


#: vrid -> (configured VIPs, advert interval in seconds), from the keepalived config.
Expected = Mapping[int, tuple[Iterable[str], float]]

DEFAULT_SKEW = 1.0  # RFC skew time is (256 - priority) / 256 x interval: at most ~1 s


def _canon(address: str) -> str:
    return str(ipaddress.ip_address(address.split("/")[0]))


def _family(address: str) -> int:
    return 6 if ":" in address else 4


def analyse(
    speakers: Iterable[WireSpeaker],
    now: float,
    *,
    expected: Expected | None = None,
    skew: float = DEFAULT_SKEW,
    recent_factor: float = 1.5,
    listening_since: float | None = None,
) -> list[WireAlarm]:
    """Alarms for a set of wire speakers at monotonic time `now` (pure, no I/O).

    * split brain: two or more sources with priority > 0 advertising one VRID on one
      interface (and address family), each within `recent_factor` x its advert interval.
      A preemption or takeover can overlap for up to that long, so a caller should
      report it only if it persists for about two intervals (see `AlarmHold`).
    * no master: no advert for 3 x advert interval + `skew` (the RFC master-down
      interval) for an expected VRID; without `expected`, for every VRID seen so far.
      Not before `listening_since` + that interval, if given (a fresh listener has
      heard nothing yet).
    * VIP / interval mismatch: a recent speaker of an expected VRID advertises other
      VIPs (order ignored) or another interval than configured.
    * leaving: a speaker whose latest advert has priority 0 (master shutting down),
      within the master-down interval.
    """
    speakers = list(speakers)
    alarms: list[WireAlarm] = []

    def down_interval(advert_int: float) -> float:
        return 3 * advert_int + skew

    groups: dict[tuple[str, int, int], list[WireSpeaker]] = {}
    for sp in speakers:
        age = now - sp.last_seen
        if sp.priority > 0 and age <= recent_factor * sp.advert_int:
            groups.setdefault((sp.interface, sp.vrid, _family(sp.source)), []).append(sp)
        if sp.priority == 0 and age <= down_interval(sp.advert_int):
            alarms.append(
                WireAlarm(
                    AlarmKind.LEAVING,
                    sp.vrid,
                    sp.interface,
                    (sp.source,),
                    f"VRID {sp.vrid} on {sp.interface}: {sp.source} sent priority 0 "
                    f"(master leaving) {age:.1f} s ago",
                )
            )
    for (ifname, vrid, _fam), masters in groups.items():
        if len(masters) > 1:
            masters.sort(key=lambda s: (-s.priority, s.source))
            who = ", ".join(f"{s.source} prio {s.priority}" for s in masters)
            alarms.append(
                WireAlarm(
                    AlarmKind.SPLIT_BRAIN,
                    vrid,
                    ifname,
                    tuple(s.source for s in masters),
                    f"VRID {vrid} on {ifname}: {len(masters)} masters advertising ({who})",
                )
            )

    if expected is not None:
        watched = {vrid: float(cfg[1]) for vrid, cfg in expected.items()}
    else:
        watched = {}
        for sp in speakers:
            watched[sp.vrid] = min(watched.get(sp.vrid, sp.advert_int), sp.advert_int)
    for vrid, advert_int in sorted(watched.items()):
        limit = down_interval(advert_int)
        if listening_since is not None and now - listening_since <= limit:
            continue
        # A priority-0 advert counts as the last sign of a master: the backup is due to
        # take over within its skew time, so the same limit applies from then on.
        heard = [sp.last_seen for sp in speakers if sp.vrid == vrid]
        if heard and now - max(heard) <= limit:
            continue
        since = f"for {now - max(heard):.1f} s" if heard else "ever"
        alarms.append(
            WireAlarm(
                AlarmKind.NO_MASTER,
                vrid,
                None,
                (),
                f"VRID {vrid}: no master, no advert {since} (limit {limit:.1f} s)",
            )
        )

    if expected is not None:
        for sp in speakers:
            if sp.vrid not in expected or now - sp.last_seen > down_interval(sp.advert_int):
                continue
            vips_cfg, int_cfg = expected[sp.vrid]
            want = {_canon(v) for v in vips_cfg}
            have = {_canon(v) for v in sp.vips}
            if have != want:
                extra = ", ".join(sorted(have - want)) or "-"
                missing = ", ".join(sorted(want - have)) or "-"
                alarms.append(
                    WireAlarm(
                        AlarmKind.VIP_MISMATCH,
                        sp.vrid,
                        sp.interface,
                        (sp.source,),
                        f"VRID {sp.vrid} on {sp.interface}: {sp.source} advertises other VIPs "
                        f"than configured (extra {extra}; missing {missing})",
                    )
                )
            if abs(sp.advert_int - float(int_cfg)) > 0.005:
                alarms.append(
                    WireAlarm(
                        AlarmKind.INTERVAL_MISMATCH,
                        sp.vrid,
                        sp.interface,
                        (sp.source,),
                        f"VRID {sp.vrid} on {sp.interface}: {sp.source} advertises every "
                        f"{sp.advert_int:g} s, configured {float(int_cfg):g} s",
                    )
                )

    alarms.sort(key=lambda a: (_SEVERITY_ORDER[a.severity], a.vrid, a.interface or "", a.kind))
    return alarms


class AlarmHold:
    """Report an alarm only once it has persisted `hold` seconds (debounces takeovers).

    A normal preemption or takeover can look like a split brain for up to 1.5 advert
    intervals; a real one persists. `analyse` is pure and stateless, this keeps the
    first-seen time of each (kind, vrid, interface) between calls.
    """

    def __init__(self, hold: float = 2.0) -> None:
        self.hold = hold
        self._first: dict[tuple[str, int, str | None], float] = {}

    def filter(self, alarms: Iterable[WireAlarm], now: float) -> list[WireAlarm]:
        current: dict[tuple[str, int, str | None], float] = {}
        out: list[WireAlarm] = []
        for alarm in alarms:
            key = (alarm.kind.value, alarm.vrid, alarm.interface)
            first = current[key] = self._first.get(key, now)
            if now - first >= self.hold:
                out.append(alarm)
        self._first = current
        return out


# --------------------------------------------------------------------------- socket


class SpeakerTable:
    """A `WireSpeaker` per (interface, VRID, source), updated advert by advert. No I/O.

    Speakers silent for longer than `forget_after` seconds are dropped by `snapshot`.
    Not thread-safe by itself (VrrpListener wraps it in a lock).
    """

    def __init__(self, forget_after: float = 600.0) -> None:
        self.forget_after = forget_after
        self._speakers: dict[tuple[str, int, str], WireSpeaker] = {}

    def ingest(self, advert: Advert) -> WireSpeaker:
        key = (advert.interface, advert.vrid, advert.source)
        prev = self._speakers.get(key)
        if prev is not None and advert.received < prev.last_seen:  # late: count only
            speaker = replace(prev, adverts=prev.adverts + 1)
        else:
            speaker = WireSpeaker(
                vrid=advert.vrid,
                interface=advert.interface,
                source=advert.source,
                priority=advert.priority,
                advert_int=advert.advert_int,
                vips=advert.vips,
                auth_type=advert.auth_type,
                version=advert.version,
                last_seen=advert.received,
                adverts=prev.adverts + 1 if prev else 1,
            )
        self._speakers[key] = speaker
        return speaker

    def snapshot(self, now: float) -> tuple[WireSpeaker, ...]:
        stale = [k for k, s in self._speakers.items() if now - s.last_seen > self.forget_after]
        for key in stale:
            del self._speakers[key]
        return tuple(self._speakers[k] for k in sorted(self._speakers))


@dataclass(frozen=True, slots=True)
class InvalidPacket:
    """Why one received packet was rejected (kept in a short ring for display)."""

    reason: str
    detail: str
    source: str
    interface: str
    received: float


class VrrpListener:
    """Raw sockets on protocol 112 joined to the VRRP group on the given interfaces.

    Never blocks: register ``fileno()`` with a selector (or ``loop.add_reader``) and
    call `read_ready` when readable, or call ``poll(timeout)``. Thread-safe: one
    thread may drain while others call `snapshot`. With more than one socket (IPv6,
    ``outgoing``), ``fileno()`` is an epoll descriptor covering them all.
    ``outgoing=True`` also captures this host's own adverts (see the module docstring:
    without it a director never sees itself as a speaker).
    """

    def __init__(
        self,
        interfaces: Iterable[str],
        *,
        ipv4: bool = True,
        ipv6: bool = False,
        forget_after: float = 600.0,
        outgoing: bool = False,
        keep_raw: bool = False,
        invalid_ring: int = 32,
    ) -> None:
        names = list(dict.fromkeys(interfaces))
        if not names:
            raise SourceError("VRRP listener: no interface given")
        if not (ipv4 or ipv6):
            raise SourceError("VRRP listener: neither IPv4 nor IPv6 selected")
        self.keep_raw = keep_raw
        self.started = time.monotonic()
        self._ifnames: dict[int, str] = {}
        for name in names:
            try:
                self._ifnames[socket.if_nametoindex(name)] = name
            except OSError:
                raise SourceError(f"VRRP listener: no interface {name!r}") from None
        self._lock = threading.Lock()
        self._table = SpeakerTable(forget_after)
        self._invalid: dict[str, int] = {}
        self._recent_invalid: deque[InvalidPacket] = deque(maxlen=invalid_ring)
        self._packets = 0
        self._adverts = 0
        self._ignored = 0
        self._socks: list[socket.socket] = []
        self._epoll: select.epoll | None = None
        self._buf = bytearray(_BUFSIZE)
        try:
            if ipv4:
                self._socks.append(self._open(socket.AF_INET))
            if ipv6:
                self._socks.append(self._open(socket.AF_INET6))
            if outgoing:
                self._socks += [self._open_outgoing(name) for name in self._ifnames.values()]
            if len(self._socks) > 1:
                self._epoll = select.epoll()
                for s in self._socks:
                    self._epoll.register(s.fileno(), select.EPOLLIN)
        except BaseException:
            self.close()
            raise

    def _open(self, family: int) -> socket.socket:
        kind = socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
        try:
            sock = socket.socket(family, kind, IPPROTO_VRRP)
        except PermissionError:
            raise SourceError(
                "passive VRRP listening needs CAP_NET_RAW: run lvstop as root "
                "or grant it the capability (setcap cap_net_raw+ep)"
            ) from None
        except OSError as exc:
            raise SourceError(f"VRRP listener: cannot open raw socket: {exc}") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
            if family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
                sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
                group = socket.inet_aton(VRRP_GROUP_V4)
                for index, name in self._ifnames.items():
                    mreqn = group + socket.inet_aton("0.0.0.0") + struct.pack("@i", index)
                    self._join(sock, socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn, name)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVPKTINFO, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVHOPLIMIT, 1)
                with contextlib.suppress(OSError):  # before Linux 4.20: ifindex filter only
                    sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_MULTICAST_ALL, 0)
                group6 = socket.inet_pton(socket.AF_INET6, VRRP_GROUP_V6)
                for index, name in self._ifnames.items():
                    mreq6 = group6 + struct.pack("@I", index)
                    self._join(sock, socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq6, name)
        except BaseException:
            sock.close()
            raise
        return sock

    def _open_outgoing(self, ifname: str) -> socket.socket:
        """A packet socket that sees only this host's own outgoing VRRP packets on ifname.

        Bound to ETH_P_ALL (only those taps see outgoing frames), with a classic BPF
        filter attached *before* bind so no other packet is ever queued.
        """
        kind = socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
        try:
            sock = socket.socket(socket.AF_PACKET, kind, 0)
        except PermissionError:
            raise SourceError("capturing this host's own VRRP adverts needs CAP_NET_RAW") from None
        try:
            prog = ctypes.create_string_buffer(_OUTGOING_VRRP_BPF)
            fprog = struct.pack("HP", len(_OUTGOING_VRRP_BPF) // 8, ctypes.addressof(prog))
            sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            sock.bind((ifname, _ETH_P_ALL))
        except OSError as exc:
            sock.close()
            raise SourceError(
                f"VRRP listener: cannot capture outgoing on {ifname}: {exc}"
            ) from None
        return sock

    @staticmethod
    def _join(sock: socket.socket, level: int, opt: int, req: bytes, name: str) -> None:
        try:
            sock.setsockopt(level, opt, req)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise SourceError(
                    f"VRRP listener: cannot join the VRRP group on {name}: {exc}"
                ) from None

    # ------------------------------------------------------------------ reading

    def fileno(self) -> int:
        if self._epoll is not None:
            return self._epoll.fileno()
        if not self._socks:
            raise ValueError("VRRP listener is closed")
        return self._socks[0].fileno()

    def poll(self, timeout: float = 0.0) -> list[Advert]:
        """Wait up to `timeout` seconds for adverts, then drain (0: never blocks)."""
        if timeout > 0:
            select.select([self], [], [], timeout)
        return self.read_ready()

    def read_ready(self) -> list[Advert]:
        """Drain every queued packet without blocking; return the valid new adverts."""
        out: list[Advert] = []
        mono_now = time.monotonic()
        wall_now = time.time()
        for sock in self._socks:
            for _ in range(_MAX_DRAIN):
                try:
                    nbytes, anc, flags, addr = sock.recvmsg_into([self._buf], _ANCBUFSIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # e.g. ENOBUFS never happens on raw; be safe
                    log.debug("VRRP listener recvmsg: %s", exc)
                    break
                advert = self._decode(
                    sock.family, bytes(self._buf[:nbytes]), anc, flags, addr, mono_now, wall_now
                )
                if advert is not None:
                    out.append(advert)
        return out

    def _decode(
        self,
        family: int,
        data: bytes,
        anc: list[tuple[int, int, bytes]],
        flags: int,
        addr: tuple[object, ...],
        mono_now: float,
        wall_now: float,
    ) -> Advert | None:
        received = mono_now
        index = 0
        hoplimit = -1
        destination = b""
        for level, ctype, cdata in anc:
            if level == socket.SOL_SOCKET and ctype == _SO_TIMESTAMPNS and len(cdata) >= 16:
                sec, nsec = struct.unpack_from("@qq", cdata)
                received = mono_now - max(0.0, wall_now - (sec + nsec / 1e9))
            elif level == socket.IPPROTO_IP and ctype == _IP_PKTINFO and len(cdata) >= 12:
                index = struct.unpack_from("@i", cdata)[0]
            elif level == socket.IPPROTO_IPV6 and ctype == _IPV6_PKTINFO and len(cdata) >= 20:
                destination = cdata[:16]
                index = struct.unpack_from("@I", cdata, 16)[0]
            elif level == socket.IPPROTO_IPV6 and ctype == _IPV6_HOPLIMIT and len(cdata) >= 4:
                hoplimit = struct.unpack_from("@i", cdata)[0]
        with self._lock:
            self._packets += 1
            if family == socket.AF_PACKET:  # addr: (ifname, proto, pkttype, hatype, mac)
                ifname: str | None = str(addr[0])
                source = "local"
            else:
                ifname = self._ifnames.get(index)
                source = str(addr[0]) if addr else "?"
            if ifname is None:  # unicast to us via another interface, or pre-4.20 v6
                self._ignored += 1
                return None
            try:
                if flags & socket.MSG_TRUNC:
                    raise InvalidAdvert("truncated", f"{len(data)} bytes kept")
                if family == socket.AF_PACKET:
                    v6 = bool(data) and data[0] >> 4 == 6
                    parse = parse_ipv6_packet if v6 else parse_ipv4_packet
                    advert = replace(
                        parse(data, interface=ifname, received=received, keep_raw=self.keep_raw),
                        outgoing=True,
                    )
                elif family == socket.AF_INET:
                    advert = parse_ipv4_packet(
                        data, interface=ifname, received=received, keep_raw=self.keep_raw
                    )
                else:
                    source = source.split("%")[0]
                    advert = parse_vrrp(
                        data,
                        source=socket.inet_pton(socket.AF_INET6, source),
                        destination=destination or bytes(16),
                        ttl=hoplimit,
                        interface=ifname,
                        received=received,
                        raw=data if self.keep_raw else b"",
                    )
            except InvalidAdvert as exc:
                self._invalid[exc.reason] = self._invalid.get(exc.reason, 0) + 1
                self._recent_invalid.append(
                    InvalidPacket(exc.reason, exc.detail, source, ifname, received)
                )
                return None
            self._adverts += 1
            self._table.ingest(advert)
            return advert

    def snapshot(self, now: float | None = None) -> tuple[WireSpeaker, ...]:
        """Every speaker heard within `forget_after`, sorted by interface, VRID, source."""
        with self._lock:
            return self._table.snapshot(time.monotonic() if now is None else now)

    @property
    def invalid(self) -> dict[str, int]:
        """Rejected packets by reason (see InvalidAdvert)."""
        with self._lock:
            return dict(self._invalid)

    @property
    def recent_invalid(self) -> tuple[InvalidPacket, ...]:
        with self._lock:
            return tuple(self._recent_invalid)

    @property
    def stats(self) -> dict[str, int]:
        """packets read, valid adverts, packets ignored (not from a listened interface)."""
        with self._lock:
            invalid = sum(self._invalid.values())
            return {
                "packets": self._packets,
                "adverts": self._adverts,
                "invalid": invalid,
                "ignored": self._ignored,
            }

    @property
    def interfaces(self) -> tuple[str, ...]:
        return tuple(self._ifnames.values())

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
        for sock in self._socks:
            sock.close()
        self._socks = []

    def __enter__(self) -> VrrpListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VrrpListenerThread:
    """A `VrrpListener` drained by a daemon thread; `snapshot()` from any thread.

    The sockets are opened by ``start()`` (so a missing CAP_NET_RAW or interface is
    raised there, in the caller) and closed by the thread when it ends. `on_advert` runs
    in the listener thread: keep it short and thread-safe (e.g. post a message).
    """

    def __init__(
        self,
        interfaces: Sequence[str],
        *,
        on_advert: Callable[[Advert], None] | None = None,
        ipv4: bool = True,
        ipv6: bool = False,
        outgoing: bool = False,
        forget_after: float = 600.0,
        keep_raw: bool = False,
    ) -> None:
        self._open = functools.partial(
            VrrpListener,
            tuple(interfaces),
            ipv4=ipv4,
            ipv6=ipv6,
            outgoing=outgoing,
            forget_after=forget_after,
            keep_raw=keep_raw,
        )
        self._on_advert = on_advert
        self._listener: VrrpListener | None = None
        self._thread: PollThread[Advert] = PollThread(
            self._open_listener, self._advert, name="vrrp-listen"
        )

    @property
    def listener(self) -> VrrpListener:
        if self._listener is None:
            raise RuntimeError("VrrpListenerThread not started")
        return self._listener

    def start(self) -> None:
        self._thread.start()

    def _open_listener(self) -> VrrpListener:
        self._listener = self._open()
        return self._listener

    def _advert(self, advert: Advert) -> None:
        if self._on_advert is not None:
            self._on_advert(advert)

    def snapshot(self, now: float | None = None) -> tuple[WireSpeaker, ...]:
        return self.listener.snapshot(now)

    def stop(self, timeout: float = 5.0) -> None:
        self._thread.stop(timeout)

    def __enter__(self) -> VrrpListenerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- CLI


def _parse_expect(text: str) -> tuple[int, tuple[list[str], float]]:
    """``VRID=VIP[,VIP...][@INTERVAL]``, e.g. ``51=198.18.23.73@1``."""
    vrid, _, rest = text.partition("=")
    vips, _, interval = rest.partition("@")
    return int(vrid), ([v for v in vips.split(",") if v], float(interval or 1))


def _emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Print adverts (and optionally speakers + alarms) as JSON lines; lab and capture aid."""
    ap = argparse.ArgumentParser(prog="python -m lvstop.sources.vrrp_listen")
    ap.add_argument("-i", "--interface", action="append", required=True)
    ap.add_argument("-6", "--ipv6", action="store_true", help="also listen for VRRPv3 on IPv6")
    ap.add_argument("--outgoing", action="store_true", help="also capture this host's own adverts")
    ap.add_argument("--hex", action="store_true", help="include each packet as hex")
    ap.add_argument("--duration", type=float, default=0.0, help="stop after S seconds")
    ap.add_argument("--snapshot-every", type=float, default=0.0, metavar="S")
    ap.add_argument("--expect", action="append", default=[], metavar="VRID=VIP,..@INT")
    args = ap.parse_args(argv)
    expected = dict(_parse_expect(e) for e in args.expect) or None
    try:
        listener = VrrpListener(
            args.interface, ipv6=args.ipv6, outgoing=args.outgoing, keep_raw=args.hex
        )
    except SourceError as exc:
        print(f"lvstop: {exc}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.duration if args.duration > 0 else float("inf")
    next_snap = time.monotonic() + args.snapshot_every
    seen_invalid = 0
    _emit({"kind": "ready", "t": time.monotonic(), "interfaces": list(listener.interfaces)})
    with listener:
        while (now := time.monotonic()) < deadline:
            wait = min(deadline, next_snap if args.snapshot_every > 0 else deadline) - now
            for a in listener.poll(max(0.0, min(wait, 1.0))):
                rec = asdict(a)
                raw = rec.pop("raw")
                rec.update(kind="advert", vips=list(a.vips))
                if args.hex:
                    rec["hex"] = raw.hex()
                _emit(rec)
            bad = listener.recent_invalid
            total_bad = listener.stats["invalid"]
            for item in bad[max(0, len(bad) - (total_bad - seen_invalid)) :]:
                _emit({"kind": "invalid", **asdict(item)})
            seen_invalid = total_bad
            now = time.monotonic()
            if args.snapshot_every > 0 and now >= next_snap:
                next_snap = now + args.snapshot_every
                speakers = listener.snapshot(now)
                alarms = analyse(speakers, now, expected=expected, listening_since=listener.started)
                _emit(
                    {
                        "kind": "snapshot",
                        "t": now,
                        "speakers": [{**asdict(s), "vips": list(s.vips)} for s in speakers],
                        "alarms": [
                            {**asdict(al), "severity": al.severity, "sources": list(al.sources)}
                            for al in alarms
                        ],
                        "invalid": listener.invalid,
                    }
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
