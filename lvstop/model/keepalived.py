"""keepalived's state joined with the IPVS table: one value per snapshot.

The kernel table says what *is*; keepalived's dumps say what it *believes and wants*
(health, effective weights, VRRP roles); its configuration says what was *meant*; the
wire says who really advertises. Keeping all four side by side in one frozen value is
what lets the UI point at the disagreements (drained by hand, split brain, a manual
ipvsadm rule nobody checks) instead of showing four unrelated tables.

Per-service and per-real-server facts live in mappings keyed like the IPVS table,
not as fields on `Service`/`RealServer`: those are built on the netlink hot path and
stay untouched when keepalived is not being read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lvstop.model.ipvs import RealServerKey, ServiceKey
from lvstop.model.vrrp import Health, KeepalivedProcesses, VrrpInstance, VrrpState, WireSpeaker

RsId = tuple[ServiceKey, RealServerKey]
NO_PROCESSES = KeepalivedProcesses()


@dataclass(frozen=True, slots=True)
class ServiceVrrp:
    """The VRRP instance whose virtual_ipaddress holds a service's VIP, and this
    node's state in it (None when keepalived does not report that instance)."""

    instance: str
    role: VrrpState | None


@dataclass(frozen=True, slots=True)
class RealServerStatus:
    """keepalived's side of one real server of one service.

    `configured_weight` is the configuration file's; `effective_weight`, `health`,
    `failed_checkers` and `last_error` come from the checker's data dump (None when
    it could not be read). `health` is UNKNOWN for a configured server the checker
    said nothing about.
    """

    configured_weight: int | None = None
    effective_weight: int | None = None
    health: Health = Health.UNKNOWN
    failed_checkers: int | None = None
    checkers: int | None = None
    last_error: str | None = None
    inhibit_on_failure: bool | None = None


@dataclass(frozen=True, slots=True)
class AbsentRealServer:
    """A configured real server with no IPVS destination.

    Normal for a server whose health check fails (keepalived removes it unless
    inhibit_on_failure); otherwise someone removed it by hand, or (when
    `service_in_ipvs` is False) the whole virtual service is missing.
    """

    service: ServiceKey
    address: str
    port: int
    status: RealServerStatus
    service_in_ipvs: bool
    reason: str


@dataclass(frozen=True, slots=True)
class UnexplainedEntry:
    """An IPVS service (`real_server` None) or destination that no configuration
    explains: a manual ipvsadm rule keepalived neither checks nor fails over."""

    service: ServiceKey
    real_server: RealServerKey | None
    reason: str


@dataclass(frozen=True, slots=True)
class VrrpAlarm:
    """A finding about a VRID from the wire (split brain, no master, mismatch...)."""

    kind: str
    severity: str  # "critical", "warning", "info"
    vrid: int
    interface: str | None
    sources: tuple[str, ...]
    message: str


def _no_services() -> Mapping[ServiceKey, ServiceVrrp]:
    return MappingProxyType({})


def _no_real_servers() -> Mapping[RsId, RealServerStatus]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class KeepalivedState:
    """Everything lvstop knows about the local keepalived at one snapshot.

    `processes` is empty when keepalived does not run here (not an error: `notes`
    says so). `wire_since` is the monotonic time the VRRP listener started (None: no
    listener), so a young listener's empty `wire` is not read as "nobody speaks".
    `errors` are partial failures (a dump not written, a config not readable), one
    sentence each; `notes` are facts worth showing that are not failures.
    `read_at` is the monotonic time keepalived's processes and dumps were read (None:
    unknown): the live console reads them off the poll thread, so they can be older
    than the snapshot; `age()` says by how much.
    """

    processes: KeepalivedProcesses = NO_PROCESSES
    config_file: str | None = None
    instances: tuple[VrrpInstance, ...] = ()
    services: Mapping[ServiceKey, ServiceVrrp] = field(default_factory=_no_services)
    real_servers: Mapping[RsId, RealServerStatus] = field(default_factory=_no_real_servers)
    absent_real_servers: tuple[AbsentRealServer, ...] = ()
    unexplained: tuple[UnexplainedEntry, ...] = ()
    wire: tuple[WireSpeaker, ...] = ()
    wire_since: float | None = None
    alarms: tuple[VrrpAlarm, ...] = ()
    notes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    read_at: float | None = None

    @property
    def running(self) -> bool:
        return self.processes.running

    def service(self, key: ServiceKey) -> ServiceVrrp | None:
        return self.services.get(key)

    def real_server(self, key: ServiceKey, rs: RealServerKey) -> RealServerStatus | None:
        return self.real_servers.get((key, rs))

    def age(self, now: float) -> float | None:
        """Seconds between reading keepalived and `now` (a snapshot's monotonic)."""
        return None if self.read_at is None else max(0.0, now - self.read_at)

    def instance(self, name: str) -> VrrpInstance | None:
        return next((i for i in self.instances if i.name == name), None)
