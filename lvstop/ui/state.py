"""What the console shows, accumulated from feed updates (no Textual here).

The App hands every feed Update to `ConsoleState.apply`; views read from the
state. Keeping this apart from the widgets makes pause, staleness, histories and the
event timeline testable with plain values, and keeps each refresh one pass.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter

from lvstop.feed import Update
from lvstop.model.diff import SnapshotDiff
from lvstop.model.events import Event
from lvstop.model.history import History
from lvstop.model.ipvs import ZERO_RATES, Rates, ServiceKey
from lvstop.model.snapshot import Snapshot

_KEY = attrgetter("key")
_RATES = attrgetter("rates")
_CPS = attrgetter("cps")
HISTORY_LENGTH = 60
EVENTS_KEPT = 2000


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When numbers turn warning/critical colours (None: never). From the config file."""

    stale_after: float | None = None
    cps_warning: float | None = None
    cps_critical: float | None = None
    active_warning: int | None = None
    active_critical: int | None = None

    def tone(self, value: float, warning: float | None, critical: float | None) -> str | None:
        if critical is not None and value >= critical:
            return "bad"
        if warning is not None and value >= warning:
            return "warn"
        return None


class ConsoleState:
    """The newest applied update plus what the console accumulates across updates.

    `clock` is monotonic seconds (injected so tests freeze it); `received_at` is
    when the shown data arrived, which is what "data age" means to an operator,
    whatever clock the source stamps its snapshots with.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        interval: float = 1.0,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.clock = clock
        self.interval = interval
        self.thresholds = thresholds or Thresholds()
        self.snapshot: Snapshot | None = None
        self.diff: SnapshotDiff | None = None
        self._own_rates: Mapping[ServiceKey, Rates] | None = None
        self.error: str | None = None
        self.received_at: float | None = None
        self.updates = 0
        self.cps = History(HISTORY_LENGTH)
        self.active = History(HISTORY_LENGTH)
        self.times: deque[float] = deque(maxlen=HISTORY_LENGTH)
        self.events: deque[Event] = deque(maxlen=EVENTS_KEPT)
        self.events_seen = 0

    def add_events(self, events: tuple[Event, ...]) -> None:
        self.events.extend(events)
        self.events_seen += len(events)

    def apply(self, update: Update) -> None:
        """Take one update: a failed poll keeps the last good data and records the error."""
        self.updates += 1
        self.add_events(update.events)
        self.error = update.error
        snap = update.snapshot
        if snap is None or (update.error is not None and snap is self.snapshot):
            return
        self.snapshot = snap
        d = self.diff = update.diff
        # Only the services that moved (the rest are ZERO_RATES): no mapping of all.
        self._own_rates = d.moving_services() if d is not None and d.interval > 0 else None
        self.received_at = self.clock()
        self.times.append(snap.monotonic)
        # Histories: CPS per service (sparklines), active connections only of servers
        # at weight 0 (drain ETA), so a 10,000-server table costs little per update.
        services = snap.services
        own = self._own_rates
        rates = (
            map(own.get, map(_KEY, services), repeat(ZERO_RATES))
            if own is not None
            else map(_RATES, services)
        )
        self.cps.push_all(zip(map(_KEY, services), map(_CPS, rates), strict=True))
        # One comprehension finds them (most services have none); few are pushed.
        drained = [(s.key, rs) for s in services for rs in s.real_servers if rs.weight == 0]
        draining = [(key, rs.key) for key, rs in drained]
        for rid, (_, rs) in zip(draining, drained, strict=True):
            self.active.push(rid, float(rs.active_conns))
        if len(self.cps) > len(snap.services):  # some services left the table
            self.cps.retain(s.key for s in snap.services)
        if len(self.active) > len(draining):
            self.active.retain(draining)

    # -- derived values ----------------------------------------------------------

    def service_rates(self, key: ServiceKey, kernel: Rates) -> Rates:
        """lvstop's own rates over the last interval, else the kernel estimator's."""
        own = self._own_rates
        return kernel if own is None else own.get(key, ZERO_RATES)

    @property
    def age(self) -> float | None:
        return None if self.received_at is None else self.clock() - self.received_at

    @property
    def stale(self) -> bool:
        """The shown data is older than the operator should trust without a warning."""
        age = self.age
        if age is None:
            return False
        limit = self.thresholds.stale_after
        if limit is None:
            limit = max(3 * self.interval, self.interval + 2.0)
        return age > limit or self.error is not None

    def drain_eta(self, rid: Hashable) -> float | None:
        """Seconds until active connections reach 0 at the recent rate of decline."""
        series = self.active.series(rid)
        if len(series) < 2 or series[-1] <= 0:
            return None
        n = min(len(series), len(self.times))
        if n < 2:
            return None
        span = self.times[-1] - self.times[-n]
        fall = series[-n] - series[-1]
        if span <= 0 or fall <= 0:
            return None
        return series[-1] / (fall / span)
