"""A Snapshot: one consistent reading of a director, taken in one pass."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from lvstop.model.conns import ConnTable
from lvstop.model.ipvs import Service, ServiceKey, Totals
from lvstop.model.keepalived import KeepalivedState


class SourceKind(enum.StrEnum):
    """Where the IPVS data of a snapshot came from."""

    NETLINK = "netlink"
    PROCFS = "procfs"
    SIMULATED = "simulated"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Immutable, timestamped state of one director.

    `wall_time` is seconds since the epoch (for display and JSON), `monotonic`
    is the clock used for rates, so a wall-clock jump never produces a bogus rate.
    `errors` lists what could not be read, one human sentence each.
    `keepalived` is None when keepalived was not looked at (--no-keepalived, a
    source without it); keepalived's own partial failures are in its `errors`.
    """

    wall_time: float
    monotonic: float
    host: str
    source: SourceKind
    services: tuple[Service, ...]
    totals: Totals | None = None
    errors: tuple[str, ...] = ()
    connections: ConnTable | None = None
    keepalived: KeepalivedState | None = None
    _index: dict[ServiceKey, Service] = field(
        default_factory=dict, compare=False, repr=False, init=False
    )

    def __post_init__(self) -> None:
        self._index.update((s.key, s) for s in self.services)

    def service(self, key: ServiceKey) -> Service | None:
        return self._index.get(key)
