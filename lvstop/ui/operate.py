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
from lvstop.actions.base import Action, BadTarget
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
VRRP_ACTIONS = ("failover", "failback")
"""KeyAction names (lvstop/ui/keys.py) this module turns into actions: on the real
server under the cursor, and on the VRRP instance under the cursor."""


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

    def _context(self, keepalived: KeepalivedState | None, ipvs: bool) -> ActionContext:
        return ActionContext(
            guard=self.guard,
            memory=WeightMemory(self.settings.state_file),
            audit=AuditLog(self.settings.audit_log, use_syslog=self.use_syslog),
            table=self.table() if ipvs else None,
            keepalived=keepalived,
        )

    def build_vrrp(
        self, name: str, instance: str, keepalived: KeepalivedState | None
    ) -> tuple[Action, ActionContext]:
        """Failover / failback of one instance, from keepalived's configuration and the
        snapshot's keepalived state (wire view included), like `lvstop failover`."""
        from lvstop.actions.failover import Failback, Failover, VrrpEnv
        from lvstop.sources.keepalived import lint
        from lvstop.sources.keepalived.config import load

        ctx = self._context(keepalived, ipvs=False)
        state = keepalived or KeepalivedState()
        if not state.config_file:
            raise BadTarget("no keepalived configuration known on this node")
        env = VrrpEnv(config=load(state.config_file, config_id=lint.default_config_id()),
                      state=state)  # fmt: skip
        if name == "failover":
            return Failover(ctx, env, instance), ctx
        if name == "failback":
            return Failback(ctx, env, instance), ctx
        raise ValueError(f"not a console VRRP action: {name}")

    def build(
        self,
        name: str,
        service: ServiceKey,
        rs: RealServerKey,
        keepalived: KeepalivedState | None,
    ) -> tuple[Action, ActionContext]:
        """The action `name` for one real server of one service; close ctx.table after."""
        ctx = self._context(keepalived, ipvs=True)
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
