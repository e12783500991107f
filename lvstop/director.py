"""One Director: the sources of a node composed into whole snapshots.

The UI and the CLI only ever talk to a Director. A live one reads IPVS over netlink
(falling back to the world-readable procfs files without CAP_NET_ADMIN), the totals
from procfs, local addresses over rtnetlink (to tell which VIPs this node holds) and,
on request, the aggregated connection table.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Protocol

from lvstop.errors import NotADirector, SourceError
from lvstop.model import Service, Snapshot, SourceKind
from lvstop.model.capabilities import Capabilities
from lvstop.model.ipvs import Totals


class Director(Protocol):
    """Anything that yields snapshots of one LVS director."""

    @property
    def capabilities(self) -> Capabilities: ...

    def snapshot(self, *, connections: bool = False) -> Snapshot: ...

    def close(self) -> None: ...


PROCFS_LIMITS = (
    "IPVS netlink refused (needs CAP_NET_ADMIN, e.g. run as root): showing "
    "/proc/net/ip_vs instead, without counters, rates, thresholds or persistent "
    "connection counts; read-only"
)


class LiveDirector:
    """The director this process runs on (in its network namespace)."""

    def __init__(self, proc_net: Path = Path("/proc/net"), *, netlink: bool = True) -> None:
        self.proc_net = proc_net
        self._netlink = None
        self._netlink_error: str | None = None
        if netlink:
            from lvstop.sources.ipvs_netlink import IpvsNetlink

            try:
                self._netlink = IpvsNetlink()
            except NotADirector:
                if not (proc_net / "ip_vs").exists():
                    raise
                self._netlink_error = "IPVS netlink family missing; using procfs"
            except SourceError as exc:
                self._netlink_error = str(exc)
        elif not (proc_net / "ip_vs").exists():
            raise NotADirector(
                f"IPVS is not loaded here (no {proc_net / 'ip_vs'}): "
                "this host is not an LVS director"
            )
        self._host = socket.gethostname()
        self._write = self._netlink is not None

    @property
    def capabilities(self) -> Capabilities:
        if self._write:
            return Capabilities(True)
        return Capabilities(False, self._netlink_error or "IPVS netlink unavailable")

    def close(self) -> None:
        if self._netlink is not None:
            self._netlink.close()

    def _services(self, errors: list[str]) -> tuple[list[Service], SourceKind]:
        from lvstop.sources import procfs

        if self._netlink is not None:
            try:
                return self._netlink.read(), SourceKind.NETLINK
            except PermissionError:
                self._netlink.close()
                self._netlink = None
                self._write = False
                self._netlink_error = PROCFS_LIMITS
            except SourceError as exc:
                errors.append(f"{exc}; falling back to procfs")
        if self._netlink_error:
            errors.append(self._netlink_error)
        _size, services = procfs.read_ip_vs(str(self.proc_net / "ip_vs"))
        return services, SourceKind.PROCFS

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        from lvstop.sources import conntable, procfs, rtnl

        errors: list[str] = []
        wall, mono = time.time(), time.monotonic()
        services, source = self._services(errors)
        totals: Totals | None = None
        try:
            totals = procfs.read_totals(str(self.proc_net / "ip_vs_stats"))
        except SourceError as exc:
            errors.append(str(exc))
        try:
            addresses = rtnl.read_addresses()
        except SourceError as exc:
            errors.append(str(exc))
            addresses = None
        if addresses is not None:
            services = [
                _with_vip(s, rtnl.vip_interface(addresses, s.key.address)) for s in services
            ]
        conns = None
        if connections:
            try:
                conns = conntable.read_conn_table(str(self.proc_net / "ip_vs_conn"))
            except SourceError as exc:
                errors.append(str(exc))
        services.sort(key=lambda s: s.key.sort_key())
        return Snapshot(
            wall_time=wall,
            monotonic=mono,
            host=self._host,
            source=source,
            services=tuple(services),
            totals=totals,
            errors=tuple(errors),
            connections=conns,
        )


def _with_vip(svc: Service, interface: str | None) -> Service:
    if svc.key.is_fwmark:
        return svc
    return svc.with_vip(interface is not None, interface)
