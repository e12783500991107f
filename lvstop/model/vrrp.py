"""keepalived and VRRP as immutable values: instances, the wire view, checker health.

Three views of the same pair that can disagree, which is the point: what keepalived
says it is doing (VrrpInstance, RealServerHealth), what is really on the wire
(WireSpeaker per VRID), and keepalived's processes (KeepalivedProcesses).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class VrrpState(enum.StrEnum):
    """keepalived instance states; JSON numbers 0 INIT 1 BACKUP 2 MASTER 3 FAULT 97 98."""

    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"
    STOP = "STOP"
    DELETED = "DELETED"
    UNKNOWN = "UNKNOWN"

    @staticmethod
    def from_json(number: int) -> VrrpState:
        return _JSON_STATES.get(number, VrrpState.UNKNOWN)


_JSON_STATES = {
    0: VrrpState.INIT,
    1: VrrpState.BACKUP,
    2: VrrpState.MASTER,
    3: VrrpState.FAULT,
    97: VrrpState.DELETED,
    98: VrrpState.STOP,
}


@dataclass(frozen=True, slots=True)
class VrrpCounters:
    """keepalived's per-instance advert counters (stats dump / JSON "stats")."""

    adverts_received: int = 0
    adverts_sent: int = 0
    became_master: int = 0
    released_master: int = 0
    packet_errors: int = 0
    auth_errors: int = 0
    priority_zero_received: int = 0
    priority_zero_sent: int = 0


@dataclass(frozen=True, slots=True)
class VrrpInstance:
    """One vrrp_instance as keepalived reports it on this node.

    `master_router`/`master_priority` are only meaningful in BACKUP (keepalived keeps
    a stale value after becoming MASTER). `vips` are the configured addresses (no
    prefix), `vips_present` the subset currently on an interface of this node.
    `last_transition` is wall-clock seconds since the epoch.
    """

    name: str
    vrid: int
    interface: str
    state: VrrpState
    base_priority: int
    effective_priority: int
    advert_int: float
    vips: tuple[str, ...] = ()
    vips_present: tuple[str, ...] = ()
    master_router: str | None = None
    master_priority: int | None = None
    last_transition: float | None = None
    sync_group: str | None = None
    nopreempt: bool = False
    counters: VrrpCounters = VrrpCounters()


@dataclass(frozen=True, slots=True)
class WireSpeaker:
    """One source seen sending VRRP adverts for one VRID (passive listener)."""

    vrid: int
    interface: str
    source: str
    priority: int
    advert_int: float
    vips: tuple[str, ...]
    auth_type: int
    version: int
    last_seen: float  # monotonic seconds
    adverts: int = 1


class Health(enum.StrEnum):
    """A real server's health as keepalived's checkers see it."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RealServerHealth:
    """keepalived's view of one real server of one virtual server (check data dump).

    `failed_checkers` > 0 means keepalived considers it down; `last_error` is the
    last checker error text (e.g. "connection refused") when known.
    """

    address: str
    port: int
    health: Health
    configured_weight: int
    effective_weight: int
    failed_checkers: int = 0
    checkers: int = 0
    inhibit_on_failure: bool = False
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class KeepalivedProcess:
    """One keepalived process (parent, vrrp, checker or bfd child)."""

    role: str  # "parent", "vrrp", "checker", "bfd"
    pid: int
    alive: bool


@dataclass(frozen=True, slots=True)
class KeepalivedProcesses:
    """keepalived's process tree on this node (empty when it is not running)."""

    processes: tuple[KeepalivedProcess, ...] = ()

    @property
    def running(self) -> bool:
        return any(p.role == "parent" and p.alive for p in self.processes)

    def alive(self, role: str) -> bool:
        return any(p.role == role and p.alive for p in self.processes)
