"""Pure data model: no textual, no pyroute2, no I/O."""

from lvstop.model.conns import ConnKey, ConnTable
from lvstop.model.ipvs import (
    Counters,
    Family,
    Forward,
    Protocol,
    Rates,
    RealServer,
    RealServerKey,
    Service,
    ServiceKey,
    Totals,
)
from lvstop.model.snapshot import Snapshot, SourceKind

__all__ = [
    "ConnKey",
    "ConnTable",
    "Counters",
    "Family",
    "Forward",
    "Protocol",
    "Rates",
    "RealServer",
    "RealServerKey",
    "Service",
    "ServiceKey",
    "Snapshot",
    "SourceKind",
    "Totals",
]
