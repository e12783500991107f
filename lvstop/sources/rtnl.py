"""Which addresses are configured on which interface (rtnetlink, via pyroute2).

A VIP being present on an interface of this node is how we know this director is the
VRRP master for it: keepalived adds and removes the VIP as the role changes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from lvstop.errors import SourceError


def _canonical(address: str) -> str:
    return str(ipaddress.ip_address(address))


def read_addresses() -> dict[str, str]:
    """Map every local address (canonical text) to the name of its interface."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        with IPRoute() as ipr:
            names = {link["index"]: link.get("ifname") for link in ipr.link("dump")}
            out: dict[str, str] = {}
            for msg in ipr.addr("dump"):
                addr = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
                if addr:
                    out[_canonical(addr)] = str(names.get(msg["index"], msg["index"]))
            return out
    except (NetlinkError, OSError) as exc:
        raise SourceError(f"rtnetlink address dump failed: {exc}") from None


def vip_interface(addresses: Mapping[str, str], vip: str | None) -> str | None:
    """Interface holding `vip` (canonical text, as every source produces), or None."""
    if vip is None:
        return None
    return addresses.get(vip)
