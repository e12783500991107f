"""Parsers for the world-readable IPVS procfs files.

Netlink needs CAP_NET_ADMIN; /proc/net/ip_vs and /proc/net/ip_vs_stats do not, so
this is how an unprivileged lvstop still shows the table. Formats follow
net/netfilter/ipvs/ip_vs_ctl.c (see the reference, section A5):

* /proc/net/ip_vs prints addresses and ports in hex (IPv4 ``%08X:%04X`` of the
  host-order value, IPv6 ``[%pI6]:%04X`` with 8 full groups), weights and
  connection counts in decimal, and ``persistent <timeout> <netmask>`` where the
  timeout is in *jiffies* (the kernel keeps ``svc->timeout = seconds * HZ`` and
  prints it raw; netlink divides by HZ) and the netmask is ``%08X`` of
  ``ntohl(svc->netmask)``. For IPv6 services that field holds a prefix length
  stored in host order, so a little-endian kernel prints /128 as ``80000000``.
* /proc/net/ip_vs_stats (and _percpu) prints every counter and rate in hex.

What procfs does not show stays at the model defaults: per-service and per-server
counters and rates, upper/lower thresholds, persistent connection counts,
pe_name, the scheduler flags (sh-fallback, ...) and the tunnel settings. Where
a value is implied it is filled in like netlink would: flags carry HASHED (every
listed service is hashed), the netmask of a non-persistent service is /32 or
/128 by family. A fwmark service line carries no address family; it is inferred
(see `_fwmark_family`). Converting the timeout needs CONFIG_HZ, read from the
kernel config (`kernel_hz`), else DEFAULT_HZ.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import os
import re
from collections.abc import Iterable

from lvstop.errors import NotADirector, SourceError
from lvstop.model.ipvs import (
    SVC_F_HASHED,
    SVC_F_ONEPACKET,
    SVC_F_PERSISTENT,
    Counters,
    Family,
    Forward,
    Protocol,
    Rates,
    RealServer,
    Service,
    ServiceKey,
    Totals,
)

IP_VS_PATH = "/proc/net/ip_vs"
IP_VS_STATS_PATH = "/proc/net/ip_vs_stats"

#: Debian's CONFIG_HZ; used only when the running kernel's config cannot be read.
DEFAULT_HZ = 250

_HEADER_RE = re.compile(r"IP Virtual Server version (\d+)\.(\d+)\.(\d+)(?: \(size=(\d+)\))?")
_V4_ADDR_PORT_RE = re.compile(r"([0-9A-Fa-f]{8}):([0-9A-Fa-f]{4})")
_V6_ADDR_PORT_RE = re.compile(r"\[([0-9A-Fa-f:]+)\]:([0-9A-Fa-f]{4})")
_HEX_RE = re.compile(r"[0-9A-Fa-f]{1,16}")

_PROTOCOLS = {"TCP": Protocol.TCP, "UDP": Protocol.UDP, "SCTP": Protocol.SCTP}
_FORWARDS = {
    "Masq": Forward.MASQ,
    "Local": Forward.LOCAL,
    "Tunnel": Forward.TUNNEL,
    "Route": Forward.ROUTE,
}


class _LineError(ValueError):
    """A malformed line; turned into a SourceError naming file and line."""


def _not_loaded(path: str) -> NotADirector:
    return NotADirector(f"IPVS is not loaded here (no {path}): this host is not an LVS director")


def _read_text(path: str) -> str:
    """Read a whole procfs file, mapping OS errors to one-line operator errors."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        raise _not_loaded(path) from None
    except PermissionError:
        raise SourceError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from None


# --- helpers ------------------------------------------------------------------


def _v4(hex8: str) -> str:
    return str(ipaddress.IPv4Address(int(hex8, 16)))


def _v6(full: str) -> str:
    try:
        return str(ipaddress.IPv6Address(full))
    except ipaddress.AddressValueError as e:
        raise _LineError(f"bad IPv6 address {full!r}") from e


def _addr_port(token: str) -> tuple[Family, str, int]:
    """Decode ``%08X:%04X`` or ``[%pI6]:%04X``."""
    m = _V4_ADDR_PORT_RE.fullmatch(token)
    if m:
        return Family.INET, _v4(m[1]), int(m[2], 16)
    m = _V6_ADDR_PORT_RE.fullmatch(token)
    if m:
        return Family.INET6, _v6(m[1]), int(m[2], 16)
    raise _LineError(f"bad address:port {token!r}")


def _hex(token: str) -> int:
    if not _HEX_RE.fullmatch(token):
        raise _LineError(f"bad hex number {token!r}")
    return int(token, 16)


def _dec(token: str) -> int:
    try:
        return int(token, 10)
    except ValueError:
        raise _LineError(f"bad number {token!r}") from None


def _v4_prefix(mask: int) -> int:
    """Prefix length of a host-order IPv4 netmask.

    The kernel accepts any mask; a non-contiguous one has no prefix length, so
    its leading one bits are reported (the model only holds a prefix length).
    """
    inverted = ~mask & 0xFFFFFFFF
    return 32 - inverted.bit_length()


def _v6_prefix(value: int) -> int | None:
    """Prefix length from the IPv6 netmask field, on either kernel byte order."""
    if 1 <= value <= 128:  # big-endian kernel: ntohl() was a no-op
        return value
    swapped = int.from_bytes(value.to_bytes(4, "big"), "little")
    if 1 <= swapped <= 128:  # little-endian kernel: ntohl() swapped the plen
        return swapped
    return None


def _is_contiguous_v4_mask(value: int) -> bool:
    inverted = ~value & 0xFFFFFFFF
    return inverted & (inverted + 1) == 0


def _fwmark_family(dests: list[RealServer], mask: int | None) -> Family:
    """Guess the family of a fwmark service, which /proc/net/ip_vs does not print.

    Only tunnel destinations may differ in family from their service, so any
    other destination decides. Next a persistence netmask that can only be an
    IPv6 prefix length decides. Next a consistent destination family. Otherwise
    IPv4, the common case.
    """
    for rs in dests:
        if rs.forward is not Forward.TUNNEL:
            return rs.family
    if mask is not None and not _is_contiguous_v4_mask(mask) and _v6_prefix(mask) is not None:
        return Family.INET6
    families = {rs.family for rs in dests}
    if len(families) == 1:
        return families.pop()
    return Family.INET


# --- /proc/net/ip_vs ------------------------------------------------------------


class _PendingService:
    """A service line seen, its destinations still being collected."""

    def __init__(
        self,
        family: Family | None,
        protocol: Protocol | None,
        address: str | None,
        port: int,
        fwmark: int,
        scheduler: str,
        flags: int,
        timeout: int,
        mask: int | None,
    ) -> None:
        self.family = family
        self.protocol = protocol
        self.address = address
        self.port = port
        self.fwmark = fwmark
        self.scheduler = scheduler
        self.flags = flags
        self.timeout = timeout
        self.mask = mask
        self.dests: list[RealServer] = []

    def build(self, taken: set[ServiceKey]) -> Service:
        family = self.family
        if family is None:  # fwmark service
            family = _fwmark_family(self.dests, self.mask)
            key = ServiceKey.mark(self.fwmark, family)
            if key in taken:  # the same mark exists for both families
                other = Family.INET6 if family is Family.INET else Family.INET
                key = ServiceKey.mark(self.fwmark, other)
                family = other
        else:
            key = ServiceKey(family, self.protocol, self.address, self.port, 0)
        if self.mask is None:
            netmask = 32 if family is Family.INET else 128
        elif family is Family.INET:
            netmask = _v4_prefix(self.mask)
        else:
            plen = _v6_prefix(self.mask)
            if plen is None:
                raise _LineError(f"bad IPv6 persistence prefix {self.mask:08X}")
            netmask = plen
        taken.add(key)
        return Service(
            key=key,
            scheduler=self.scheduler,
            flags=self.flags,
            timeout=self.timeout,
            netmask=netmask,
            real_servers=tuple(self.dests),
        )


def _parse_service_line(tokens: list[str], hz: int) -> _PendingService:
    if len(tokens) < 3:
        raise _LineError("service line too short")
    head = tokens[0]
    if head == "FWM":
        fwmark = _hex(tokens[1])
        family: Family | None = None
        protocol: Protocol | None = None
        address: str | None = None
        port = 0
    else:
        protocol = _PROTOCOLS.get(head)
        if protocol is None:
            raise _LineError(f"unknown service protocol {head!r}")
        family, address, port = _addr_port(tokens[1])
        fwmark = 0
    scheduler = tokens[2]
    rest = tokens[3:]
    # Every service the kernel lists is in its hash table, and netlink reports
    # the HASHED bit too, so both sources produce the same flags.
    flags = SVC_F_HASHED
    if rest and rest[0] == "ops":
        flags |= SVC_F_ONEPACKET
        rest = rest[1:]
    timeout = 0
    mask: int | None = None
    if rest:
        if rest[0] != "persistent" or len(rest) != 3:
            raise _LineError(f"unexpected service flags {' '.join(rest)!r}")
        flags |= SVC_F_PERSISTENT
        jiffies = _dec(rest[1])
        timeout = (jiffies + hz // 2) // hz
        mask = _hex(rest[2])
    return _PendingService(family, protocol, address, port, fwmark, scheduler, flags, timeout, mask)


def _parse_dest_line(tokens: list[str]) -> RealServer:
    if len(tokens) != 6:
        raise _LineError("real server line needs 6 fields")
    family, address, port = _addr_port(tokens[1])
    forward = _FORWARDS.get(tokens[2])
    if forward is None:
        raise _LineError(f"unknown forwarding method {tokens[2]!r}")
    return RealServer(
        address=address,
        port=port,
        forward=forward,
        weight=_dec(tokens[3]),
        active_conns=_dec(tokens[4]),
        inactive_conns=_dec(tokens[5]),
        family=family,
    )


def parse_ip_vs(
    text: str, *, hz: int = DEFAULT_HZ, source: str = IP_VS_PATH
) -> tuple[int, list[Service]]:
    """Parse /proc/net/ip_vs into (connection table size, services).

    `hz` is the kernel's CONFIG_HZ, needed to turn the persistence timeout from
    jiffies into seconds; `source` only names the file in error messages.
    Services come in the kernel's (hash) order.
    """
    lines = text.splitlines()
    if not lines:
        raise SourceError(f"{source}: empty file")
    m = _HEADER_RE.fullmatch(lines[0].strip())
    if m is None:
        raise SourceError(f"{source}:1: not an IPVS table header: {lines[0][:80]!r}")
    size = int(m[4]) if m[4] is not None else 0

    services: list[Service] = []
    taken: set[ServiceKey] = set()
    pending: _PendingService | None = None
    pending_no = 0

    def fail(lineno: int, e: _LineError) -> SourceError:
        return SourceError(f"{source}:{lineno}: {e}: {lines[lineno - 1][:100]!r}")

    def flush() -> None:
        if pending is not None:
            try:
                services.append(pending.build(taken))
            except _LineError as e:
                raise fail(pending_no, e) from None

    for lineno, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if not stripped:
            continue
        if lineno <= 3 and stripped.startswith(("Prot ", "-> RemoteAddress")):
            continue
        tokens = stripped.split()
        try:
            if tokens[0] == "->":
                if pending is None:
                    raise _LineError("real server before any service")
                pending.dests.append(_parse_dest_line(tokens))
            elif line[:1].isspace():
                raise _LineError("unexpected indented line")
            else:
                flush()
                pending, pending_no = _parse_service_line(tokens, hz), lineno
        except _LineError as e:
            raise fail(lineno, e) from None
    flush()
    return size, services


def kernel_hz(release: str | None = None) -> int | None:
    """CONFIG_HZ of the running kernel from its config, or None when unreadable.

    Userspace has no call for the kernel's HZ (sysconf's CLK_TCK is USER_HZ), so
    look in /boot/config-<release> (Debian and most distributions ship it) and
    /proc/config.gz. Cached: it cannot change while we run.
    """
    return _kernel_hz(release or os.uname().release)


@functools.lru_cache(maxsize=4)
def _kernel_hz(release: str) -> int | None:
    candidates: Iterable[tuple[str, bool]] = (
        (f"/boot/config-{release}", False),
        ("/proc/config.gz", True),
    )
    for path, compressed in candidates:
        try:
            if compressed:
                with gzip.open(path, "rt", encoding="ascii", errors="replace") as gz:
                    text = gz.read()
            else:
                with open(path, encoding="ascii", errors="replace") as f:
                    text = f.read()
        except (OSError, EOFError):
            continue
        m = re.search(r"^CONFIG_HZ=(\d+)$", text, re.MULTILINE)
        if m:
            return int(m[1])
    return None


def read_ip_vs(path: str = IP_VS_PATH, *, hz: int | None = None) -> tuple[int, list[Service]]:
    """Read and parse /proc/net/ip_vs; `hz` defaults to the running kernel's."""
    text = _read_text(path)
    if hz is None:
        hz = kernel_hz() or DEFAULT_HZ
    return parse_ip_vs(text, hz=hz, source=path)


# --- /proc/net/ip_vs_stats -----------------------------------------------------------


def _five_hex(line: str, lineno: int, source: str) -> tuple[int, int, int, int, int]:
    tokens = line.split()
    if len(tokens) != 5 or not all(_HEX_RE.fullmatch(t) for t in tokens):
        raise SourceError(f"{source}:{lineno}: expected 5 hex numbers: {line[:100]!r}")
    a, b, c, d, e = (int(t, 16) for t in tokens)
    return a, b, c, d, e


def parse_ip_vs_stats(text: str, *, source: str = IP_VS_STATS_PATH) -> Totals:
    """Parse /proc/net/ip_vs_stats (or ip_vs_stats_percpu) into director totals.

    ip_vs_stats: counters on line 3, estimator rates on line 6, all hex.
    ip_vs_stats_percpu: one row per CPU, the total row marked ``~``, then rates.
    """
    lines = text.splitlines()
    if len(lines) >= 2 and lines[1].startswith("CPU"):
        total_idx = next((i for i, ln in enumerate(lines) if ln.split()[:1] == ["~"]), None)
        if total_idx is None or len(lines) < total_idx + 4:
            raise SourceError(f"{source}: no total row in per-CPU statistics")
        counters_line = lines[total_idx].split("~", 1)[1]
        counters_no, rates_no = total_idx + 1, total_idx + 4
    else:
        if len(lines) < 6:
            raise SourceError(f"{source}: expected 6 lines, got {len(lines)}")
        counters_line, counters_no, rates_no = lines[2], 3, 6
    conns, inpkts, outpkts, inbytes, outbytes = _five_hex(counters_line, counters_no, source)
    cps, inpps, outpps, inbps, outbps = _five_hex(lines[rates_no - 1], rates_no, source)
    return Totals(
        stats=Counters(conns, inpkts, outpkts, inbytes, outbytes),
        rates=Rates(float(cps), float(inpps), float(outpps), float(inbps), float(outbps)),
    )


def read_totals(path: str = IP_VS_STATS_PATH) -> Totals:
    """Read and parse /proc/net/ip_vs_stats."""
    return parse_ip_vs_stats(_read_text(path), source=path)
