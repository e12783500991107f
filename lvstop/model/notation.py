"""Service and real-server names in ipvsadm's notation, so output reads like ipvsadm."""

from __future__ import annotations

from lvstop.model.ipvs import RealServerKey, ServiceKey


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
