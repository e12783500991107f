"""Weight changes: set (absolute or +/- a step), and restore a remembered weight.

All of them go through `WeightChange`: resolve the targets, re-read each destination
right before writing it, write every target or none (a failure part-way rolls the
earlier ones back), then verify by reading the table again that exactly the weight
changed and nothing else.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from lvstop.actions.base import (
    Action,
    ActionFailed,
    ActionRefused,
    BadTarget,
    Change,
    Description,
    Verified,
)
from lvstop.actions.context import ActionContext
from lvstop.actions.ipvs_write import MAX_WEIGHT
from lvstop.actions.targets import Target, find, resolve
from lvstop.errors import LvstopError
from lvstop.model.ipvs import RealServer, RealServerKey, Service, ServiceKey
from lvstop.model.notation import real_server_label, service_spec

KEEPALIVED_PERSISTENCE = (
    "a manual weight persists only until keepalived next touches that real server "
    "(a health-check change, a reload, a dynamic weight)"
)


def _settings(rs: RealServer) -> tuple[object, ...]:
    """Everything SET_DEST writes except the weight: must be identical after a change."""
    return (rs.forward, rs.u_threshold, rs.l_threshold, rs.family, rs.tun_type, rs.tun_port,
            rs.tun_flags)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Step:
    """One planned write: a target, its destination as read, and the weight to set."""

    target: Target
    service: Service
    before: RealServer
    weight: int


class WeightChange(Action):
    """Shared plan/apply/verify for every action that sets destination weights."""

    remember_before = True  # keep the old weight for `restore`
    title = "Change the weight of"

    def __init__(
        self,
        ctx: ActionContext,
        service: ServiceKey | None,
        rs: RealServerKey,
        *,
        all_services: bool = False,
    ) -> None:
        self.ctx = ctx
        self.service = service
        self.rs = rs
        self.all_services = all_services
        self._plan: list[Step] | None = None
        self._services: Sequence[Service] = ()
        self._done: list[Step] = []

    # -- what each kind decides

    @abc.abstractmethod
    def new_weight(self, target: Target, current: RealServer) -> int:
        """The weight this action sets on `target` (raise BadTarget if there is none)."""

    def extra_effects(self, steps: Sequence[Step]) -> list[str]:
        return []

    # -- Action

    @property
    def target(self) -> str:
        svc = (
            "all services"
            if self.all_services or self.service is None
            else (service_spec(self.service))
        )
        return f"{svc} {real_server_label(self.rs)}"

    def plan(self, *, fresh: bool = False) -> list[Step]:
        if self._plan is None or fresh:
            services = self._services = self.ctx.ipvs().services()
            targets = resolve(services, self.service, self.rs, all_services=self.all_services)
            steps = []
            for t in targets:
                found = find(services, t)
                if found is None:  # resolve() just saw it; only a bug gets here
                    raise BadTarget(f"{t.label} is not in the IPVS table")
                svc, rs = found
                weight = self.new_weight(t, rs)
                if not 0 <= weight <= MAX_WEIGHT:
                    raise BadTarget(f"weight must be 0..{MAX_WEIGHT}, got {weight}")
                steps.append(Step(t, svc, rs, weight))
            self._plan = steps
        return self._plan

    def describe(self) -> Description:
        steps = self.plan()
        changes = tuple(
            Change(s.target.label, f"weight {s.before.weight}", f"weight {s.weight}") for s in steps
        )
        effects = [*self._keepalived_effects(steps), *self.extra_effects(steps)]
        warnings = self._warnings(steps)
        return Description(
            f"{self.title} {real_server_label(self.rs)} in {len(steps)} service(s)",
            changes,
            tuple(effects),
            tuple(warnings),
        )

    def preflight(self) -> None:
        self.ctx.guard.check_ipvs()
        for problem in (self.ctx.audit.writable(), self._memory_problem()):
            if problem is not None:
                raise ActionRefused(problem)
        self.plan(fresh=True)

    def _memory_problem(self) -> str | None:
        return self.ctx.memory.writable() if self.remember_before else None

    def apply(self) -> None:
        self.ctx.guard.check_ipvs()  # again: the UI may have described this minutes ago
        old = self._plan or []
        try:
            steps = self.plan(fresh=True)
        except BadTarget as exc:
            raise ActionFailed(f"{exc} (it vanished since it was shown): nothing changed") from None
        wanted = {s.target: s.weight for s in old}
        if wanted and any(wanted.get(s.target) != s.weight for s in steps):
            raise ActionFailed("the table changed since it was shown: nothing changed; look again")
        added: list[tuple[ServiceKey, RealServerKey]] = []
        if self.remember_before:
            added = self.ctx.memory.remember(
                [(s.target.service, s.target.rs, s.before.weight) for s in steps], self.name
            )
        self._done = []
        try:
            for step in steps:
                self.ctx.ipvs().set_weight(step.target.service, step.before, step.weight)
                self._done.append(step)
        except (LvstopError, OSError) as exc:
            failed = steps[len(self._done)].target.label
            reverted = self._rollback()
            if added:
                self.ctx.memory.forget(added)
            raise ActionFailed(
                f"{failed}: {exc}; " + self._rollback_note(reverted), reverted=reverted
            ) from None

    def verify(self) -> Verified:
        services = self.ctx.ipvs().services()
        facts: list[str] = []
        problems: list[str] = []
        for step in self._done:
            found = find(services, step.target)
            if found is None:
                problems.append(f"{step.target.label} vanished right after the change")
                continue
            now = found[1]
            if now.weight != step.weight:
                problems.append(f"{step.target.label} has weight {now.weight}, not {step.weight}")
            elif _settings(now) != _settings(step.before):
                problems.append(f"{step.target.label}: settings other than the weight changed")
            else:
                facts.append(f"{step.target.label}: weight {now.weight} (verified)")
        if problems:
            reverted = self._rollback()
            raise ActionFailed("; ".join(problems) + "; " + self._rollback_note(reverted),
                               reverted=reverted)  # fmt: skip
        self.after_verify(self._done)
        return Verified(tuple(facts))

    def after_verify(self, steps: Sequence[Step]) -> None:
        """Hook for bookkeeping once every write is verified."""

    # -- helpers

    def _rollback(self) -> bool:
        """Write the as-read weights back to what was changed; True if all went back."""
        ok = True
        for step in reversed(self._done):
            try:
                self.ctx.ipvs().set_weight(step.target.service, step.before, step.before.weight)
            except (LvstopError, OSError):
                ok = False
        self._done = []
        return ok

    @staticmethod
    def _rollback_note(reverted: bool) -> str:
        if reverted:
            return "every change was rolled back"
        return "ROLLBACK FAILED: check the weights with ipvsadm -Ln and fix them by hand"

    def _keepalived_effects(self, steps: Sequence[Step]) -> list[str]:
        ks = self.ctx.keepalived_state(self._services)
        managed = [
            s for s in steps
            if ks is None or ks.real_server(s.target.service, s.target.rs) is not None
        ]  # fmt: skip
        if ks is not None and not managed:
            return ["not managed by keepalived: the weight stays until changed by hand"]
        return [KEEPALIVED_PERSISTENCE]

    def _warnings(self, steps: Sequence[Step]) -> list[str]:
        out = []
        for s in steps:
            if s.weight != 0:
                continue
            others = [r for r in s.service.real_servers if r.key != s.target.rs and r.weight > 0]
            if not others:
                out.append(
                    f"{service_spec(s.target.service)} is left with no real server of weight > 0: "
                    "new connections to it will fail"
                )
        ks = self.ctx.keepalived
        for s in steps:
            status = ks.real_server(s.target.service, s.target.rs) if ks is not None else None
            if status is not None and status.effective_weight not in (None, s.before.weight):
                out.append(
                    f"{s.target.label}: kernel weight {s.before.weight} already differs from "
                    f"keepalived's effective weight {status.effective_weight}"
                )
        return out


class SetWeight(WeightChange):
    """Set an absolute weight, or change it by `delta` (the UI's +/- step, clamped)."""

    name = "weight"
    title = "Set the weight of"

    def __init__(
        self,
        ctx: ActionContext,
        service: ServiceKey | None,
        rs: RealServerKey,
        weight: int | None = None,
        *,
        delta: int | None = None,
        all_services: bool = False,
    ) -> None:
        if (weight is None) == (delta is None):
            raise ValueError("give exactly one of weight and delta")
        if weight is not None and not 0 <= weight <= MAX_WEIGHT:
            raise BadTarget(f"weight must be a whole number from 0 to {MAX_WEIGHT}, got {weight}")
        super().__init__(ctx, service, rs, all_services=all_services)
        self.weight = weight
        self.delta = delta

    def new_weight(self, target: Target, current: RealServer) -> int:
        if self.weight is not None:
            return self.weight
        return min(MAX_WEIGHT, max(0, current.weight + (self.delta or 0)))


class Restore(WeightChange):
    """Set the weight lvstop remembered before its first change, then forget it."""

    name = "restore"
    title = "Restore the weight of"
    remember_before = False

    def new_weight(self, target: Target, current: RealServer) -> int:
        saved = self.ctx.memory.get(target.service, target.rs)
        if saved is None:
            raise BadTarget(
                f"nothing to restore for {target.label}: lvstop has no record of an earlier "
                f"weight (state file {self.ctx.memory.path})"
            )
        return saved.weight

    def _memory_problem(self) -> str | None:
        return self.ctx.memory.writable()

    def extra_effects(self, steps: Sequence[Step]) -> list[str]:
        return [f"forgets the remembered weight(s) in {self.ctx.memory.path}"]

    def after_verify(self, steps: Sequence[Step]) -> None:
        self.ctx.memory.forget([(s.target.service, s.target.rs) for s in steps])
