"""IPVS table as immutable values: services, real servers, counters and rates.

Everything here is plain data so any source (netlink, procfs, simulation, replay)
can produce it and the UI, CLI and diffing can consume it without knowing where it
came from.
"""

from __future__ import annotations

import enum
import socket
from dataclasses import dataclass, field

from lvstop.model.fastinit import positional_constructor


class Family(enum.IntEnum):
    """Address family, numbered as in the kernel (AF_INET, AF_INET6)."""

    INET = 2
    INET6 = 10

    @property
    def label(self) -> str:
        return "inet" if self is Family.INET else "inet6"


class Protocol(enum.IntEnum):
    """Transport protocol of an address/port service (IPPROTO_* numbers)."""

    TCP = 6
    UDP = 17
    SCTP = 132

    @property
    def label(self) -> str:
        return self.name.lower()


class Forward(enum.IntEnum):
    """Forwarding method of a real server (IP_VS_CONN_F_* numbers)."""

    MASQ = 0
    LOCAL = 1
    TUNNEL = 2
    ROUTE = 3
    BYPASS = 4

    @property
    def label(self) -> str:
        """The name used in lvstop's JSON ("masq", "route", ...)."""
        return self.name.lower()

    @property
    def ipvsadm(self) -> str:
        """The name ipvsadm prints in its Forward column."""
        return _IPVSADM_FORWARD[self]


_IPVSADM_FORWARD = {
    Forward.MASQ: "Masq",
    Forward.LOCAL: "Local",
    Forward.TUNNEL: "Tunnel",
    Forward.ROUTE: "Route",
    Forward.BYPASS: "Bypass",
}

# Service flags from include/uapi/linux/ip_vs.h.
SVC_F_PERSISTENT = 0x1
SVC_F_HASHED = 0x2
SVC_F_ONEPACKET = 0x4
SVC_F_SCHED1 = 0x8
SVC_F_SCHED2 = 0x10
SVC_F_SCHED3 = 0x20


def flag_names(flags: int, scheduler: str) -> tuple[str, ...]:
    """Name the user-visible service flags the way ipvsadm does.

    HASHED is internal bookkeeping and left out; the scheduler flags mean
    "fallback"/"port" for sh and mh and are generic otherwise.
    """
    names: list[str] = []
    if flags & SVC_F_PERSISTENT:
        names.append("persistent")
    if flags & SVC_F_ONEPACKET:
        names.append("one-packet")
    sched_names = (
        (f"{scheduler}-fallback", f"{scheduler}-port", "flag-3")
        if scheduler in ("sh", "mh")
        else ("flag-1", "flag-2", "flag-3")
    )
    for bit, name in zip((SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3), sched_names, strict=True):
        if flags & bit:
            names.append(name)
    return tuple(names)


@dataclass(frozen=True, slots=True)
class Counters:
    """Cumulative 64-bit counters as the kernel keeps them."""

    conns: int = 0
    inpkts: int = 0
    outpkts: int = 0
    inbytes: int = 0
    outbytes: int = 0

    def went_backwards(self, newer: Counters) -> bool:
        """True when any counter of `newer` is below ours: a reset or a re-created entry."""
        return (
            newer.conns < self.conns
            or newer.inpkts < self.inpkts
            or newer.outpkts < self.outpkts
            or newer.inbytes < self.inbytes
            or newer.outbytes < self.outbytes
        )


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-second rates: the kernel's estimator, or lvstop's own from counter deltas.

    "bps" is bytes per second, as in the kernel.
    """

    cps: float = 0.0
    inpps: float = 0.0
    outpps: float = 0.0
    inbps: float = 0.0
    outbps: float = 0.0

    @staticmethod
    def between(old: Counters, new: Counters, seconds: float) -> Rates:
        """Rates from two samples; zero when time did not advance or counters reset."""
        if seconds <= 0 or old.went_backwards(new):
            return ZERO_RATES
        return Rates(
            cps=(new.conns - old.conns) / seconds,
            inpps=(new.inpkts - old.inpkts) / seconds,
            outpps=(new.outpkts - old.outpkts) / seconds,
            inbps=(new.inbytes - old.inbytes) / seconds,
            outbps=(new.outbytes - old.outbytes) / seconds,
        )


ZERO_COUNTERS = Counters()
ZERO_RATES = Rates()


@dataclass(frozen=True, slots=True, order=True)
class ServiceKey:
    """Identity of a virtual service: family + protocol + address + port, or fwmark.

    For fwmark services `protocol` and `address` are None and `port` is 0.
    """

    family: Family
    protocol: Protocol | None
    address: str | None
    port: int
    fwmark: int = 0
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Keys are hashed for every real server of every poll (diff, events, the
        # console's lookups); the generated hash would re-hash five fields, two of
        # them enums (hashed in Python), each time.
        fields = (int(self.family), self.protocol, self.address, self.port, self.fwmark)
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash

    @staticmethod
    def inet(protocol: Protocol, address: str, port: int) -> ServiceKey:
        family = Family.INET6 if ":" in address else Family.INET
        return ServiceKey(family, protocol, address, port, 0)

    @staticmethod
    def mark(fwmark: int, family: Family = Family.INET) -> ServiceKey:
        return ServiceKey(family, None, None, 0, fwmark)

    @property
    def is_fwmark(self) -> bool:
        return self.fwmark != 0

    def sort_key(self) -> tuple[int, int, int, bytes, int]:
        """Order like ipvsadm's listing would group them: fwmark last, by address bytes."""
        if self.address is None:
            return (1, int(self.family), self.fwmark, b"", 0)
        packed = socket.inet_pton(int(self.family), self.address)
        return (0, int(self.family), int(self.protocol or 0), packed, self.port)


@dataclass(frozen=True, slots=True, order=True)
class RealServerKey:
    """Identity of a real server within one service."""

    address: str
    port: int


_RS_KEYS: dict[tuple[str, int], RealServerKey] = {}
_RS_KEYS_KEPT = 1 << 17


def rs_key(address: str, port: int) -> RealServerKey:
    """The RealServerKey of (address, port), one object per server across polls.

    Consecutive snapshots then carry the same key objects, so comparing their key
    lists (events, 10,000 servers per poll) is an identity check at C speed instead
    of a generated `__eq__` per key; a lookup is also cheaper than building a
    frozen dataclass. Equal keys stay equal whatever their origin: this is speed,
    not identity semantics. The table is cleared if it ever outgrows any director.
    """
    got = _RS_KEYS.get((address, port))
    if got is None:
        if len(_RS_KEYS) >= _RS_KEYS_KEPT:
            _RS_KEYS.clear()
        got = _RS_KEYS[(address, port)] = RealServerKey(address, port)
    return got


@dataclass(frozen=True, slots=True)
class RealServer:
    """One destination of a virtual service, with its counters."""

    address: str
    port: int
    forward: Forward
    weight: int
    u_threshold: int = 0
    l_threshold: int = 0
    active_conns: int = 0
    inactive_conns: int = 0
    persistent_conns: int = 0
    stats: Counters = ZERO_COUNTERS
    rates: Rates = ZERO_RATES
    family: Family = Family.INET
    tun_type: int = 0
    tun_port: int = 0
    tun_flags: int = 0

    @property
    def key(self) -> RealServerKey:
        return rs_key(self.address, self.port)


@dataclass(frozen=True, slots=True)
class Service:
    """A virtual service with its real servers.

    `timeout` is the persistence timeout in seconds (0: not persistent) and
    `netmask` the persistence granularity as a prefix length.
    `vip_present` says whether the service address is configured on an interface
    of this node (None when unknown, and for fwmark services, which have no VIP).
    """

    key: ServiceKey
    scheduler: str
    flags: int = 0
    timeout: int = 0
    netmask: int = 32
    pe_name: str | None = None
    stats: Counters = ZERO_COUNTERS
    rates: Rates = ZERO_RATES
    real_servers: tuple[RealServer, ...] = ()
    vip_present: bool | None = None
    vip_interface: str | None = None

    @property
    def persistent(self) -> bool:
        return bool(self.flags & SVC_F_PERSISTENT)

    @property
    def flag_names(self) -> tuple[str, ...]:
        return flag_names(self.flags, self.scheduler)

    def with_vip(self, present: bool | None, interface: str | None) -> Service:
        """This service with its VIP presence set (a hot path: no dataclasses.replace)."""
        return _new_service(
            self.key, self.scheduler, self.flags, self.timeout, self.netmask, self.pe_name,
            self.stats, self.rates, self.real_servers, present, interface,
        )  # fmt: skip

    def real_server(self, key: RealServerKey) -> RealServer | None:
        for rs in self.real_servers:
            if rs.key == key:
                return rs
        return None


_new_service = positional_constructor(Service)


@dataclass(frozen=True, slots=True)
class Totals:
    """Director-wide counters and estimator rates (/proc/net/ip_vs_stats)."""

    stats: Counters = ZERO_COUNTERS
    rates: Rates = field(default=ZERO_RATES)
