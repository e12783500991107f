"""Aggregated view of the IPVS connection table (/proc/net/ip_vs_conn).

A busy director holds millions of entries; the UI and CLI only ever need counts
per service, real server and state plus the heaviest clients, so that is all we keep.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class ConnKey:
    """Service, real server and state of a group of connection entries.

    `protocol` is the /proc name ("TCP", "UDP", "SCTP", ...; "IP" for entries of
    fwmark services, whose `vaddr` is then the mark). Persistence templates carry
    their service's protocol and client port 0.
    """

    protocol: str
    vaddr: str
    vport: int
    daddr: str
    dport: int
    state: str


@dataclass(frozen=True, slots=True)
class ConnTable:
    """Counts from one read of the connection table.

    `templates` counts persistence templates (client port 0, the entries that pin
    a client to a real server). `top_clients` is exact when `clients_exact` is
    True, otherwise an estimate from a bounded heavy-hitter counter (each count is
    an upper bound, off by at most `clients_error`).
    """

    entries: int
    templates: int
    groups: tuple[tuple[ConnKey, int], ...]
    top_clients: tuple[tuple[str, int], ...]
    clients_exact: bool
    clients_error: int = 0
    truncated: bool = False

    def count(
        self,
        *,
        vaddr: str | None = None,
        vport: int | None = None,
        daddr: str | None = None,
        dport: int | None = None,
        state: str | None = None,
    ) -> int:
        """Sum of the groups matching every given field."""
        total = 0
        for key, n in self.groups:
            if vaddr is not None and key.vaddr != vaddr:
                continue
            if vport is not None and key.vport != vport:
                continue
            if daddr is not None and key.daddr != daddr:
                continue
            if dport is not None and key.dport != dport:
                continue
            if state is not None and key.state != state:
                continue
            total += n
        return total
