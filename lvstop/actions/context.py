"""What actions act on and record to, bundled once by the CLI or the UI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lvstop.actions.audit import AuditLog
from lvstop.actions.base import ActionRefused
from lvstop.actions.guard import ReadOnlyGuard
from lvstop.actions.ipvs_write import IpvsTable
from lvstop.actions.memory import WeightMemory
from lvstop.model.ipvs import Service
from lvstop.model.keepalived import KeepalivedState

KeepalivedSource = Callable[[Sequence[Service]], KeepalivedState | None]


@dataclass(slots=True)
class ActionContext:
    """`keepalived` is the latest keepalived state (side effects in descriptions), or
    None when unknown; the UI sets it from its snapshot. A CLI sets `keepalived_source`
    instead, read once on first use (after the read-only check, which needs no data)."""

    guard: ReadOnlyGuard
    memory: WeightMemory
    audit: AuditLog
    table: IpvsTable | None = None
    keepalived: KeepalivedState | None = None
    keepalived_source: KeepalivedSource | None = None
    _asked: bool = field(default=False, repr=False)

    def ipvs(self) -> IpvsTable:
        if self.table is None:
            raise ActionRefused("no IPVS table to act on")
        return self.table

    def keepalived_state(self, services: Sequence[Service]) -> KeepalivedState | None:
        if self.keepalived is None and self.keepalived_source is not None and not self._asked:
            self._asked = True
            self.keepalived = self.keepalived_source(services)
        return self.keepalived
