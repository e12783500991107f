"""Drain: weight 0 (quiesce), then watch the real server's connections fall.

Weight 0 keeps established connections and sends new ones elsewhere, with one trap:
a persistence template (persistence_timeout) keeps sending its client to the drained
server until the template expires, unless net.ipv4.vs.expire_quiescent_template is 1.
The description says so, and the progress shows how many templates still pin it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lvstop.actions.targets import Target, find
from lvstop.actions.weight import Step, WeightChange
from lvstop.model.ipvs import RealServer, Service

EXPIRE_QUIESCENT = Path("/proc/sys/net/ipv4/vs/expire_quiescent_template")


def expire_quiescent_template(path: Path = EXPIRE_QUIESCENT) -> bool | None:
    """The sysctl that makes templates of weight-0 servers expire at once (None: unknown)."""
    try:
        return path.read_text().strip() == "1"
    except OSError:
        return None


class Drain(WeightChange):
    """Set weight 0 on the real server (in one service, or all of them)."""

    name = "drain"
    title = "Drain"

    def new_weight(self, target: Target, current: RealServer) -> int:
        return 0

    def extra_effects(self, steps: Sequence[Step]) -> list[str]:
        out = [
            "established connections continue; new connections go to the other real servers",
            f"the previous weight is remembered for `lvstop restore` ({self.ctx.memory.path})",
        ]
        expire = expire_quiescent_template()
        for s in steps:
            if not s.service.persistent:
                continue
            pinned = s.before.persistent_conns
            if expire:
                out.append(
                    f"{s.target.label}: expire_quiescent_template is 1, so its {pinned} "
                    "persistence template(s) expire with the next packet of their client"
                )
            else:
                out.append(
                    f"{s.target.label}: persistence {s.service.timeout} s — {pinned} template(s) "
                    "keep sending their clients here until each expires "
                    f"(up to {s.service.timeout} s after its client's last connection; "
                    "net.ipv4.vs.expire_quiescent_template=1 ends them at once)"
                )
        return out


@dataclass(frozen=True, slots=True)
class DrainSample:
    at: float  # monotonic seconds
    active: int
    inactive: int
    persistent: int


@dataclass(frozen=True, slots=True)
class DrainProgress:
    """Where a drain stands: the connection counts summed over its targets, how fast
    active connections fall (per second, over the last minute) and the ETA to 0."""

    active: int
    inactive: int
    persistent: int
    started_active: int
    elapsed: float
    rate: float | None  # active connections closed per second (None: not yet known)
    eta: float | None  # seconds until active reaches 0 at that rate (None: unknown)
    vanished: tuple[str, ...] = ()
    weights: tuple[int, ...] = ()

    @property
    def done(self) -> bool:
        return self.active == 0

    def line(self) -> str:
        rate = f"{self.rate:.2f}/s" if self.rate is not None else "?"
        if self.done:
            eta = "done"
        elif self.eta is not None:
            eta = f"ETA {self.eta:.0f} s"
        else:
            eta = "ETA unknown"
        text = (
            f"active {self.active} (from {self.started_active}), inactive {self.inactive}, "
            f"persistence templates {self.persistent}; falling {rate}; {eta}; "
            f"{self.elapsed:.0f} s elapsed"
        )
        if self.vanished:
            text += f"; vanished: {', '.join(self.vanished)}"
        if any(self.weights):
            text += "; WARNING: weight is no longer 0 (keepalived or someone changed it)"
        return text


class DrainWatch:
    """Turns successive readings of the table (or UI snapshots) into DrainProgress."""

    WINDOW = 60.0

    def __init__(
        self, targets: Sequence[Target], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.targets = tuple(targets)
        self.clock = clock
        self._samples: deque[DrainSample] = deque()
        self._first: DrainSample | None = None

    def observe(self, services: Sequence[Service]) -> DrainProgress:
        now = self.clock()
        active = inactive = persistent = 0
        vanished: list[str] = []
        weights: list[int] = []
        for t in self.targets:
            found = find(services, t)
            if found is None:
                vanished.append(t.label)
                continue
            rs = found[1]
            active += rs.active_conns
            inactive += rs.inactive_conns
            persistent += rs.persistent_conns
            weights.append(rs.weight)
        sample = DrainSample(now, active, inactive, persistent)
        if self._first is None:
            self._first = sample
        self._samples.append(sample)
        while self._samples and now - self._samples[0].at > self.WINDOW:
            self._samples.popleft()
        oldest = self._samples[0]
        span = now - oldest.at
        rate: float | None = None
        eta: float | None = None
        if span > 0:
            rate = max(0.0, (oldest.active - active) / span)
            if rate > 0:
                eta = active / rate
        return DrainProgress(
            active, inactive, persistent, self._first.active, now - self._first.at, rate, eta,
            tuple(vanished), tuple(weights),
        )  # fmt: skip
