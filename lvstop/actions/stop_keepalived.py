"""The last resort of a failover: stop keepalived on this node (see StopKeepalived)."""

from __future__ import annotations

import os
import time

from lvstop.actions.base import (
    Action,
    ActionFailed,
    ActionRefused,
    Change,
    Confirm,
    Description,
    Verified,
)
from lvstop.actions.context import ActionContext
from lvstop.actions.failover import VrrpEnv


class StopKeepalived(Action):
    """The last resort: SIGTERM keepalived's parent on this node.

    Every instance (not just one) releases its VIPs with a priority-0 advert and the
    checkers stop. lvstop cannot start keepalived again for you (it does not know how
    it was started), so this always needs the typed confirmation.
    """

    name = "stop-keepalived"

    def __init__(self, ctx: ActionContext, env: VrrpEnv, instance: str) -> None:
        self.ctx = ctx
        self.env = env
        self.instance = instance
        self._pid: int | None = None
        self._started = 0.0

    @property
    def target(self) -> str:
        return f"keepalived (asked for vrrp_instance {self.instance})"

    def _parent(self) -> int:
        from lvstop.sources.keepalived.runtime.processes import local_daemon

        daemon = local_daemon()
        if daemon is None:
            raise ActionRefused("keepalived is not running on this node")
        return daemon.parent_pid

    def describe(self) -> Description:
        names = [i.name for i in self.env.config.vrrp_instances]
        vips = [v.address for i in self.env.config.vrrp_instances for v in i.vips]
        return Description(
            "STOP keepalived on this node (last resort)",
            (Change("keepalived", "running", "stopped"),),
            (
                f"drops EVERY VRRP instance here ({', '.join(names) or 'none'}), not just "
                f"{self.instance}: the peer takes all of {', '.join(vips) or 'the VIPs'}",
                "stops the health checkers: real servers are no longer checked from this node",
                "lvstop cannot start keepalived again: do it with your service manager",
            ),
            ("prefer a track_file failover (see `lvstop failover` without --stop-keepalived)",),
            Confirm.TYPED,
            "stop-keepalived",
        )

    def preflight(self) -> None:
        self.ctx.guard.check_root("stopping keepalived")
        problem = self.ctx.audit.writable()
        if problem is not None:
            raise ActionRefused(problem)
        self._pid = self._parent()

    def apply(self) -> None:
        import signal

        self.ctx.guard.check_root("stopping keepalived")
        pid = self._pid if self._pid is not None else self._parent()
        self._started = self.env.clock()
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError as exc:
            raise ActionFailed(f"cannot signal keepalived (pid {pid}): {exc.strerror}") from None

    def verify(self) -> Verified:
        deadline = self._started + 15.0
        pid = self._pid
        while pid is not None and _running(pid):
            if self.env.clock() >= deadline:
                raise ActionFailed(f"keepalived (pid {pid}) is still running after 15 s")
            time.sleep(0.2)
        vips = [v.address for i in self.env.config.vrrp_instances for v in i.vips]
        still = [v for v in vips if v in self.env.addresses()]
        facts = [f"keepalived (pid {pid}) has stopped"]
        facts.append(f"VIPs still on this node: {', '.join(still)}" if still
                     else "no VIP of this node's instances is left here")  # fmt: skip
        return Verified(tuple(facts))


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child its parent has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
