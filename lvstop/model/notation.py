"""Service and real-server names in ipvsadm's notation, so output reads like ipvsadm."""

from __future__ import annotations

import ipaddress

from lvstop.model.ipvs import Family, Protocol, RealServerKey, ServiceKey


def hostport(address: str, port: int) -> str:
    """ "198.18.23.4:80" or "[2001:db8::1]:80"."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def service_label(key: ServiceKey) -> str:
    """ipvsadm's "Prot LocalAddress:Port" cell: "TCP  198.18.23.73:8765", "FWM  100"."""
    if key.address is None or key.protocol is None:
        return f"FWM  {key.fwmark}"
    return f"{key.protocol.name:<4} {hostport(key.address, key.port)}"


def service_spec(key: ServiceKey) -> str:
    """The ipvsadm option form: "-t 198.18.23.73:8765", "-u ...", "--sctp-service ...", "-f 1"."""
    if key.address is None or key.protocol is None:
        return f"-f {key.fwmark}"
    flag = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service"}[key.protocol.name]
    return f"{flag} {hostport(key.address, key.port)}"


def real_server_label(key: RealServerKey) -> str:
    return hostport(key.address, key.port)


class NotationError(ValueError):
    """Text that is not a service or real server in ipvsadm's notation."""


def parse_address(text: str) -> str:
    """Canonical text of an IPv4/IPv6 address (as the kernel readers produce it)."""
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        raise NotationError(f"not an IP address: {text!r}") from None


def parse_port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise NotationError(f"not a port number (0-65535): {text!r}")
    return int(text)


def parse_hostport(text: str) -> tuple[str, int]:
    """ "198.18.23.4:8765" or "[2001:db8::1]:80" -> (canonical address, port).

    The port is required: an IPVS destination is an address *and* a port, and a
    guess would pick the wrong one of two destinations on the same host.
    """
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise NotationError(f"expected [IPv6]:PORT, got {text!r}")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            raise NotationError(f"expected ADDRESS:PORT (IPv6 as [ADDRESS]:PORT), got {text!r}")
    return parse_address(host), parse_port(port)


_PROTOCOL_FLAGS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}


def parse_service(kind: str, text: str, *, ipv6: bool = False) -> ServiceKey:
    """A service key from ipvsadm's option and value: ("tcp", "VIP:PORT"), ("fwmark", "7").

    `ipv6` only matters for fwmark services (ipvsadm's -6).
    """
    if kind == "fwmark":
        if not text.isascii() or not text.isdigit() or not 0 < int(text) <= 0xFFFFFFFF:
            raise NotationError(f"not a firewall mark (1-4294967295): {text!r}")
        return ServiceKey.mark(int(text), Family.INET6 if ipv6 else Family.INET)
    if kind not in _PROTOCOL_FLAGS:
        raise NotationError(f"unknown service kind {kind!r}")
    address, port = parse_hostport(text)
    return ServiceKey.inet(Protocol[_PROTOCOL_FLAGS[kind]], address, port)


def parse_real_server(text: str) -> RealServerKey:
    address, port = parse_hostport(text)
    return RealServerKey(address, port)


def parse_weight(text: str) -> int:
    """An IPVS weight: a whole number 0..65535 written in plain digits."""
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise NotationError(f"weight must be a whole number from 0 to 65535, got {text!r}")
    return int(text)
