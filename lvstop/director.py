"""One Director: the sources of a node composed into whole snapshots.

The UI and the CLI only ever talk to a Director. A live one reads IPVS over netlink
(falling back to the world-readable procfs files without CAP_NET_ADMIN), the totals
from procfs, local addresses over rtnetlink (to tell which VIPs this node holds),
keepalived's state joined with that table (sources/keepalived/state.py) and, on
request, the aggregated connection table.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from lvstop.errors import NotADirector, SourceError
from lvstop.model import Service, Snapshot, SourceKind
from lvstop.model.capabilities import Capabilities
from lvstop.model.ipvs import Totals
from lvstop.model.keepalived import KeepalivedState

if TYPE_CHECKING:
    from lvstop.sources.keepalived.refresh import KeepalivedRefresher
    from lvstop.sources.keepalived.state import KeepalivedReader
    from lvstop.sources.rtnl_events import RtnlEvent

log = logging.getLogger(__name__)


class Director(Protocol):
    """Anything that yields snapshots of one LVS director."""

    @property
    def capabilities(self) -> Capabilities: ...

    def snapshot(self, *, connections: bool = False) -> Snapshot: ...

    def close(self) -> None: ...


@runtime_checkable
class Watchable(Protocol):
    """A director that can say when something changed, so a poller need not wait for
    its timer (lvstop.feed.Feed uses it).

    `watch(wake)` starts watching and returns the function that stops it; `wake`
    is called from any thread with the reason ("address-event", "notify",
    "keepalived") and must be short and thread-safe. While watched, a director may
    also move slow reads off the caller's thread (the live director reads keepalived
    in the background then, and joins its latest state into each snapshot).
    """

    def watch(self, wake: Callable[[str], None]) -> Callable[[], None]: ...


PROCFS_LIMITS = (
    "IPVS netlink refused (needs CAP_NET_ADMIN, e.g. run as root): showing "
    "/proc/net/ip_vs instead, without counters, rates, thresholds or persistent "
    "connection counts; read-only"
)


class LiveDirector:
    """The director this process runs on (in its network namespace).

    `keepalived` False leaves keepalived alone (`Snapshot.keepalived` None);
    `keepalived_config` overrides the configuration file keepalived runs with.
    `wire_warmup` lets the first snapshot wait ~one advert interval for the VRRP
    listener (for one-shot use; a polling UI sees the wire fill up by itself).
    `keepalived_reader` replaces the keepalived reader (tests).

    Unwatched, `snapshot()` is one pass (for `lvstop snapshot`); while watched (see
    `watch`), keepalived is read in the background and each snapshot joins the
    latest reading, whose age is `KeepalivedState.read_at`.
    """

    def __init__(
        self,
        proc_net: Path = Path("/proc/net"),
        *,
        netlink: bool = True,
        keepalived: bool = True,
        keepalived_config: Path | None = None,
        wire_warmup: bool = False,
        keepalived_reader: KeepalivedReader | None = None,
    ) -> None:
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
        self._keepalived: KeepalivedReader | None = None
        self._refresher: KeepalivedRefresher | None = None
        self._watch_lock = threading.Lock()
        if keepalived_reader is not None:
            self._keepalived = keepalived_reader
        elif keepalived:
            from lvstop.sources.keepalived.state import KeepalivedReader

            self._keepalived = KeepalivedReader(
                str(keepalived_config) if keepalived_config is not None else None,
                wire_warmup=wire_warmup,
            )

    @property
    def reads_keepalived(self) -> bool:
        """keepalived is read (so a snapshot without it means "not read yet")."""
        return self._keepalived is not None

    @property
    def capabilities(self) -> Capabilities:
        if self._write:
            return Capabilities(True)
        return Capabilities(False, self._netlink_error or "IPVS netlink unavailable")

    def watch(self, wake: Callable[[str], None]) -> Callable[[], None]:
        """Watch for changes (see `Watchable`): rtnetlink address events wake the
        poller at once ("address-event"); keepalived is read in the background from
        now on, waking the poller when its state changed ("keepalived") or a notify
        FIFO line arrived ("notify"). Returns the function that stops all of it
        (snapshots then read keepalived in the same pass again)."""
        refresher = None
        if self._keepalived is not None:
            from lvstop.sources.keepalived.refresh import KeepalivedRefresher

            refresher = KeepalivedRefresher(
                self._keepalived,
                period=self._keepalived.dump_interval,
                on_change=lambda: wake("keepalived"),
                on_notify=lambda: wake("notify"),
            )

        def on_event(event: RtnlEvent) -> None:
            if moves_addresses(event):
                if refresher is not None:
                    refresher.urgent()  # a VIP moved: keepalived's roles did too
                wake("address-event")

        # The keepalived reader first: its first read is the slow one (a console
        # shows no roles until it is in), so it must not wait for the event socket
        # nor its imports (~1.8 s of the lab VM's 7.5 s to the first roles).
        if refresher is not None:
            refresher.start()
        from lvstop.sources.rtnl_events import RtnlEventThread

        events: RtnlEventThread | None = None
        try:
            events = RtnlEventThread(on_event)
            events.start()
        except (OSError, SourceError) as exc:
            log.warning("no rtnetlink address events (VIP moves wait for the timer): %s", exc)
            events = None
        with self._watch_lock:
            self._refresher = refresher

        def unwatch() -> None:
            with self._watch_lock:
                if self._refresher is refresher:
                    self._refresher = None
            if events is not None:
                events.stop()
            if refresher is not None:
                refresher.stop()

        return unwatch

    def close(self) -> None:
        if self._netlink is not None:
            self._netlink.close()
        if self._keepalived is not None:
            self._keepalived.close()

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
        with self._watch_lock:
            refresher = self._refresher
        if self._keepalived is not None and refresher is None:
            # Before the clock starts, so the snapshot stays one pass; a failure here
            # shows up again, as an error line, in the read below.
            with contextlib.suppress(Exception):
                self._keepalived.warm_up()
        elif refresher is not None:
            refresher.demand()
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
        keepalived: KeepalivedState | None = None
        if self._keepalived is not None:
            try:
                if refresher is None:
                    keepalived = self._keepalived.read(services, addresses)
                else:
                    keepalived = self._joined(refresher, services, addresses)
            except Exception as exc:  # a keepalived oddity must not cost the IPVS view
                keepalived = KeepalivedState(errors=(f"keepalived state unreadable: {exc!r}",))
        return Snapshot(
            wall_time=wall,
            monotonic=mono,
            host=self._host,
            source=source,
            services=tuple(services),
            totals=totals,
            errors=tuple(errors),
            connections=conns,
            keepalived=keepalived,
        )

    def _joined(
        self,
        refresher: KeepalivedRefresher,
        services: list[Service],
        addresses: dict[str, str] | None,
    ) -> KeepalivedState | None:
        """The background reader's latest reading joined with this table (None, i.e.
        "not looked at yet", until a first reading exists)."""
        assert self._keepalived is not None
        reading = refresher.latest(wait=FIRST_READ_WAIT)
        problems = refresher.problems(time.monotonic())
        if reading is None:
            return KeepalivedState(errors=problems) if problems else None
        return self._keepalived.join_reading(reading, services, addresses, extra_errors=problems)


def moves_addresses(event: RtnlEvent) -> bool:
    """An address came or went (or events were lost): a VIP may have moved."""
    return event.event in ("RTM_NEWADDR", "RTM_DELADDR", "OVERFLOW")


FIRST_READ_WAIT = 0.5
"""How long a watched director's snapshot waits for the very first keepalived reading
(normally ~100 ms): long enough that the first frame usually has it, short enough that
a stuck keepalived costs the first IPVS frame at most this."""


def _with_vip(svc: Service, interface: str | None) -> Service:
    if svc.key.is_fwmark:
        return svc
    return svc.with_vip(interface is not None, interface)
