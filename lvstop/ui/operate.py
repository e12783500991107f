"""The console's write actions, built on lvstop/actions (the same layer as the CLI verbs).

The console only maps a key to an Action for the real server under the cursor; the
actions layer does the rest (preflight, describe, confirm, apply, verify, audit). An
`Operator` exists only when the console is not read-only; the guard inside every
action re-checks read-only when it executes (defence in depth). Everything here runs
on a worker thread: the IPVS netlink socket is made and closed in that thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lvstop.actions.audit import AuditLog
from lvstop.actions.base import Action
from lvstop.actions.context import ActionContext
from lvstop.actions.drain import Drain
from lvstop.actions.guard import ReadOnlyGuard
from lvstop.actions.ipvs_write import IpvsTable
from lvstop.actions.memory import WeightMemory
from lvstop.actions.weight import Restore, SetWeight
from lvstop.config import ActionsConfig
from lvstop.model.ipvs import RealServerKey, ServiceKey
from lvstop.model.keepalived import KeepalivedState

WEIGHT_ACTIONS = ("weight.up", "weight.down", "drain", "restore")
"""KeyAction names (lvstop/ui/keys.py) this module turns into actions."""


def netlink_table() -> IpvsTable:
    from lvstop.actions.ipvs_write import NetlinkIpvsTable

    return NetlinkIpvsTable()


@dataclass(frozen=True, slots=True)
class Operator:
    """Makes one Action (with its own context) per key press."""

    settings: ActionsConfig
    guard: ReadOnlyGuard
    table: Callable[[], IpvsTable] = netlink_table
    use_syslog: bool = True

    def build(
        self,
        name: str,
        service: ServiceKey,
        rs: RealServerKey,
        keepalived: KeepalivedState | None,
    ) -> tuple[Action, ActionContext]:
        """The action `name` for one real server of one service; close ctx.table after."""
        ctx = ActionContext(
            guard=self.guard,
            memory=WeightMemory(self.settings.state_file),
            audit=AuditLog(self.settings.audit_log, use_syslog=self.use_syslog),
            table=self.table(),
            keepalived=keepalived,
        )
        step = self.settings.weight_step
        action: Action
        if name == "weight.up":
            action = SetWeight(ctx, service, rs, delta=step)
        elif name == "weight.down":
            action = SetWeight(ctx, service, rs, delta=-step)
        elif name == "drain":
            action = Drain(ctx, service, rs)
        elif name == "restore":
            action = Restore(ctx, service, rs)
        else:
            raise ValueError(f"not a console write action: {name}")
        return action, ctx
