"""A simulated director: the seed's pair seen from `lvs1`, for `--demo` and the UI tests.

Why a model and not random numbers: the UI, the diff and the rate code must meet the
same coherences and the same surprises a real kernel produces, or the demo teaches
the wrong thing and the UI tests prove nothing. So the numbers follow how IPVS keeps
them (checked against the kernel sources and the captures in shared/reference):

- DR: the director sees only client->server packets, so outpkts/outbytes stay 0 and
  closed connections sit in FIN_WAIT for 120 s (the InActConn of a real director).
- Counters only grow. A service's counters also keep what its removed destinations
  carried, so after a removal the service is *more* than the sum of its listed real
  servers (the capture shows 30 conns on the service and 0 on the listed server).
- A removed destination waits in the kernel's trash while connection entries still
  point at it; re-added from there it keeps its counters, and only a destination gone
  longer than `DEST_TRASH_HOLD` is re-created with counters from zero.
- Rates come from the kernel's estimator (ip_vs_est.c): a 2 s tick, avg += (rate -
  avg) / 4 in fixed point, integers when read.
- When traffic stops reaching an entry (the VIP moved to the peer, or the real server
  died) its ESTABLISHED entry is not closed: it times out after 900 s, still counted
  as active, and keeps the destination (and its persistence template) alive.

Everything is a pure function of (seed, start, elapsed seconds): per-second traffic
draws come from a generator seeded with (seed, second) and are integrated forward
from a fixed pre-roll; checkpoints make any elapsed time cheap to revisit, so a UI
test with a frozen or stepped clock sees the same numbers whatever it asked before.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, NamedTuple

from lvstop.model import (
    ConnKey,
    ConnTable,
    Counters,
    Forward,
    Protocol,
    Rates,
    RealServer,
    Service,
    ServiceKey,
    Snapshot,
    SourceKind,
    Totals,
)
from lvstop.model.capabilities import Capabilities
from lvstop.model.ipvs import SVC_F_HASHED, SVC_F_PERSISTENT, RealServerKey, rs_key
from lvstop.model.keepalived import (
    AbsentRealServer,
    KeepalivedState,
    RealServerStatus,
    ServiceVrrp,
    UnexplainedEntry,
)
from lvstop.model.vrrp import (
    Health,
    KeepalivedProcess,
    KeepalivedProcesses,
    VrrpCounters,
    VrrpInstance,
    WireSpeaker,
)
from lvstop.model.vrrp import VrrpState as KeepalivedVrrpState
from lvstop.sources.keepalived.state import wire_alarms

DEMO_START = 1795856400.0
"""2026-11-28T09:00:00Z (17:00 in the seed's UTC+8): wall time at elapsed 0."""

HOST = "lvs1-demo"
NODE_ADDRESS = "198.18.23.42"
PEER_ADDRESS = "198.18.23.44"
VIP_INTERFACE = "eth0"
VIP_1 = "198.18.23.73"
VIP_2 = "198.18.23.74"
INGRESS_1 = "198.18.23.4"
INGRESS_2 = "198.18.23.10"
WEB_2 = "198.18.23.9"
APP_PORT = 8765
HTTP_PORT = 80
PERSISTENCE_TIMEOUT = 120
CLIENT_NET = "198.19.0.0/16"

# IPVS TCP timeouts (ipvsadm --set defaults and ip_vs_proto_tcp.c), in seconds.
ESTABLISHED_TIMEOUT = 900
FIN_TIMEOUT = 120  # FIN_WAIT and TIME_WAIT
CLOSE_TIMEOUT = 10
SYN_RECV_TIMEOUT = 60
TEMPLATE_LIFETIME = 240
"""A template outlives its client's session (~60 s) by its last conn's FIN_WAIT (120 s)
plus, on average, half of the 120 s persistence timer it is re-armed with."""

KEEPALIVED_CONFIG = "/etc/keepalived/keepalived.conf"
KEEPALIVED_PIDS = (("parent", 1187), ("vrrp", 1188), ("checker", 1189))
_ADVERT_PHASE = {NODE_ADDRESS: 0.37, PEER_ADDRESS: 0.81}
"""Where within each second each director sends its adverts (advert_int 1 s)."""
_HTTP_GET_ERROR = "HTTP_GET failed: /index.html"
_MANUAL_RULE = (
    f"not in {KEEPALIVED_CONFIG}: a manual ipvsadm rule keepalived neither checks nor fails over"
)

DEST_TRASH_HOLD = 1200
"""Seconds after which a removed destination is surely freed from the kernel's trash:
its last entries time out 900 s (ESTABLISHED) after traffic stopped, their templates
within 120 s more, and the trash timer (a 60 s tick) frees it 120 s after it saw it
unreferenced. Re-added sooner, the kernel takes it back with its counters."""


class VrrpState(enum.StrEnum):
    """keepalived's names of the VRRP states this simulation goes through."""

    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"


@dataclass(frozen=True, slots=True)
class VrrpTransition:
    """One state change of one VRRP instance on this node (negative elapsed: before the
    simulation started)."""

    elapsed: float
    wall_time: float
    instance: str
    vrid: int
    old: VrrpState
    new: VrrpState
    reason: str


@dataclass(frozen=True, slots=True)
class VrrpInstanceState:
    """What keepalived on this node would report for one instance at one moment.

    `master_router`/`master_priority` are this node's address and effective priority
    when MASTER, the peer's when BACKUP.
    """

    name: str
    vrid: int
    interface: str
    vips: tuple[str, ...]
    state: VrrpState
    base_priority: int
    effective_priority: int
    master_router: str
    master_priority: int
    last_transition: float
    advert_int: float = 1.0
    preempt: bool = True


@dataclass(frozen=True, slots=True)
class RsOutage:
    """One failure of the flapping real server, as offsets (s) into `RS_CYCLE`.

    Between `fails` and `removed` its HTTP server is dead but keepalived's HTTP_GET has
    not given up yet: IPVS still schedules to it and those connections are refused.
    """

    fails: int
    removed: int
    recovers: int
    readded: int


@dataclass(frozen=True, slots=True)
class VrrpFailover:
    """A priority drop of VI_1 on this node, as offsets (s) into `VRRP_CYCLE`.

    A tracked check (weight -20) fails at `priority_drop`: the effective priority falls
    to 80, below the peer's 90, and the peer preempts when its master-down timer runs
    out; at `priority_restore` it is 100 again and this node preempts back.
    """

    priority_drop: float
    priority_restore: float


@dataclass(frozen=True, slots=True)
class Burst:
    """A single client hammering VI_1's service: `cps` extra connections per second."""

    start: int
    duration: int
    cps: float


@dataclass(frozen=True, slots=True)
class RealServerEvent:
    """A health or IPVS change of a real server, for the events timeline."""

    elapsed: float
    wall_time: float
    address: str
    port: int
    services: tuple[ServiceKey, ...]
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class _VrrpConfig:
    name: str
    vrid: int
    vip: str
    priority: int
    peer_priority: int


_VRRP = (
    _VrrpConfig("VI_1", 51, VIP_1, 100, 90),
    _VrrpConfig("VI_2", 52, VIP_2, 90, 100),
)
_VRRP_BY_NAME = {c.name: c for c in _VRRP}
_PRIORITY_DROP = 20


def _master_down(priority: int) -> float:
    """RFC 3768 Master_Down_Interval with a 1 s advert: 3 adverts plus the skew."""
    return 3.0 + (256 - priority) / 256


_KEEPALIVED_STARTED = -(3 * 86400 + 4 * 3600 + 17 * 60 + 23.208)
_PEER_REBOOT = _KEEPALIVED_STARTED + 86400 + 6 * 3600 + 41 * 60 + 9.5
_PEER_BACK = _PEER_REBOOT + 14 * 60 + 22.25
_HISTORY = (
    (_KEEPALIVED_STARTED, "VI_1", VrrpState.INIT, VrrpState.BACKUP, "keepalived started"),
    (_KEEPALIVED_STARTED, "VI_2", VrrpState.INIT, VrrpState.BACKUP, "keepalived started"),
    (
        _KEEPALIVED_STARTED + _master_down(100),
        "VI_1",
        VrrpState.BACKUP,
        VrrpState.MASTER,
        "no advert from a higher priority router within the master-down interval",
    ),
    (
        _PEER_REBOOT + _master_down(90),
        "VI_2",
        VrrpState.BACKUP,
        VrrpState.MASTER,
        f"master {PEER_ADDRESS} stopped advertising (rebooted)",
    ),
    (
        _PEER_BACK,
        "VI_2",
        VrrpState.MASTER,
        VrrpState.BACKUP,
        f"higher priority advert (100) from {PEER_ADDRESS}",
    ),
)
"""Before elapsed 0: keepalived started ~3 days ago; the peer once rebooted and this node
held VI_2 for 14 minutes (which is why the .74 services have some history)."""


class _Kind(enum.Enum):
    APP = "app"  # the keepalived-managed ingress port: the real traffic
    PROBE = "probe"  # the hand-added port-80 services: only a monitoring probe


@dataclass(frozen=True, slots=True)
class _Profile:
    """Client packets of one connection as the director counts them."""

    hazard: float  # chance per second that an ESTABLISHED connection ends
    open_pkts: int
    open_bytes: int
    close_pkts: int
    close_bytes: int
    es_pps: float  # requests and ACKs per second on an open connection
    es_pkt_bytes: float


_PROFILES = {
    # Browsers and API clients with keep-alive: ~15 s per connection.
    _Kind.APP: _Profile(1 / 15, 2, 112, 2, 104, 0.6, 148.0),
    # A curl-like probe: 6 packets, 411 bytes per connection, as in the capture.
    _Kind.PROBE: _Profile(0.9, 4, 307, 2, 104, 0.0, 0.0),
}


@dataclass(frozen=True, slots=True)
class _SvcSpec:
    key: ServiceKey
    instance: str
    kind: _Kind
    dests: tuple[str, ...]

    @property
    def persistent(self) -> bool:
        return self.kind is _Kind.APP


_SERVICES = (
    _SvcSpec(
        ServiceKey.inet(Protocol.TCP, VIP_1, APP_PORT), "VI_1", _Kind.APP, (INGRESS_1, INGRESS_2)
    ),
    _SvcSpec(
        ServiceKey.inet(Protocol.TCP, VIP_2, APP_PORT), "VI_2", _Kind.APP, (INGRESS_1, INGRESS_2)
    ),
    _SvcSpec(
        ServiceKey.inet(Protocol.TCP, VIP_1, HTTP_PORT), "VI_1", _Kind.PROBE, (INGRESS_1, WEB_2)
    ),
    _SvcSpec(
        ServiceKey.inet(Protocol.TCP, VIP_2, HTTP_PORT), "VI_2", _Kind.PROBE, (INGRESS_1, WEB_2)
    ),
)
_LANES = tuple((s, d) for s, spec in enumerate(_SERVICES) for d in range(len(spec.dests)))
_SVC_LANES = tuple(
    tuple(n for n, (s2, _d) in enumerate(_LANES) if s2 == s) for s in range(len(_SERVICES))
)
_BURST_SERVICE = 0  # the burst client resolved VI_1's address


_FLAPPING = tuple(
    _SERVICES[s].kind is _Kind.APP and _SERVICES[s].dests[d] == INGRESS_2 for s, d in _LANES
)
"""Per lane: is this the flapping real server's destination?"""


# Traffic shape.
_APP_PEAK_CPS = 60.0
_LOAD_KEEP = 0.985  # slow multiplicative noise: AR(1) in log space
_LOAD_SIGMA = 0.015
_SHARE_KEEP = 0.95  # drift of the round-robin split (persistent clients differ)
_SHARE_SIGMA = 0.008
_RAMP_TAU = 90.0  # a re-added server wins clients back as templates expire
_CONNS_PER_SESSION = 8.0
_CONNS_PER_CLIENT = 2.0  # parallel connections of one client
_SYN_LOST = 0.004  # handshakes that never complete (SYN_RECV until timeout)
_HANDSHAKE = 0.03  # share of a second's new connections still in SYN_RECV (one RTT)
_RST_CLOSE = 0.06
_TIME_WAIT = 0.02  # a retransmitted client FIN moves FIN_WAIT to TIME_WAIT
_PROBE_INTERVAL = 20
_PROBE_OFFSET = 7
_STRAY = 0.015  # stray requests to port 80 besides the probe
_STALE_ES_SPREAD = 60  # idle keep-alive conns had their last packet up to a minute before
_STALE_TPL_SPREAD = 120  # a template goes within one persistence timer after its conns
_PREROLL = 300  # seconds simulated before elapsed 0, so pools and estimators are warm
_CHECKPOINT = 120
_KEEP_RECENT = 3600
_CHECKPOINT_SPARSE = 1200
_CLIENT_POOL = 20000
_ZIPF_OFFSET = 3
_TOP = 10
_ZIPF_TOTAL = math.fsum(1.0 / (k + _ZIPF_OFFSET) for k in range(_CLIENT_POOL))


def _stoch(x: float, u: float) -> int:
    """Round so that the expected value is x: keeps small rates from vanishing."""
    n = int(x)
    return n + (1 if u < x - n else 0)


def _left(n: int, late: int, spread: int) -> int:
    """Of n entries expiring evenly over `spread` s, those left `late` s into it."""
    return n - n * min(max(late, 0), spread) // spread


def _normal(u: Callable[[], float]) -> float:
    # Box-Muller from random(): the one generator Python promises to keep stable.
    return math.sqrt(-2.0 * math.log(1.0 - u())) * math.cos(math.tau * u())


class _Window:
    """Sum of the last `size` per-second inflows: entries that live exactly `size` s."""

    __slots__ = ("buf", "pos", "total")

    def __init__(self, size: int) -> None:
        self.buf = [0] * size
        self.pos = 0
        self.total = 0

    def push(self, value: int) -> None:
        if not value and not self.total:
            return  # all zeros: where the window starts does not matter
        self.total += value - self.buf[self.pos]
        self.buf[self.pos] = value
        self.pos = (self.pos + 1) % len(self.buf)

    def clone(self) -> _Window:
        w = _Window.__new__(_Window)
        w.buf, w.pos, w.total = list(self.buf), self.pos, self.total
        return w


_SHIFTS = (9, 9, 9, 4, 4)  # packets scaled 2^10 and bytes 2^5, divided by the 2 s tick


class _Estimator:
    """The kernel's rate estimator, in its fixed point, so rates look like ipvsadm's."""

    __slots__ = ("avg", "last")

    def __init__(self, counters: list[int]) -> None:
        self.last = list(counters)
        self.avg = [0] * 5

    def tick(self, counters: list[int]) -> None:
        for j in range(5):
            rate = (counters[j] - self.last[j]) << _SHIFTS[j]
            self.last[j] = counters[j]
            self.avg[j] += (rate - self.avg[j]) >> 2

    def rates(self) -> Rates:
        a = self.avg
        return Rates(
            cps=float((a[0] + 0x1FF) >> 10),
            inpps=float((a[1] + 0x1FF) >> 10),
            outpps=float((a[2] + 0x1FF) >> 10),
            inbps=float((a[3] + 0xF) >> 5),
            outbps=float((a[4] + 0xF) >> 5),
        )

    def clone(self) -> _Estimator:
        e = _Estimator.__new__(_Estimator)
        e.last, e.avg = list(self.last), list(self.avg)
        return e


class _ConnCounts(NamedTuple):
    established: int
    syn_recv: int
    fin_wait: int
    time_wait: int
    close: int
    assured: int
    none: int

    @property
    def inactive(self) -> int:
        return self.syn_recv + self.fin_wait + self.time_wait + self.close


class _Lane:
    """One (service, destination): its counters and its connection entries."""

    __slots__ = (
        "close",
        "counters",
        "es",
        "est",
        "fin_wait",
        "flowing",
        "handshaking",
        "stale",
        "syn_lost",
        "templates",
        "time_wait",
    )

    def __init__(self, counters: list[int]) -> None:
        self.counters = counters
        self.est = _Estimator(counters)
        self.es = 0  # live ESTABLISHED entries, including those still in handshake
        self.handshaking = 0
        self.flowing = False
        self.stale: list[tuple[int, int, int]] = []  # (es, templates, since) nobody uses
        self.fin_wait = _Window(FIN_TIMEOUT)
        self.time_wait = _Window(FIN_TIMEOUT)
        self.close = _Window(CLOSE_TIMEOUT)
        self.syn_lost = _Window(SYN_RECV_TIMEOUT)
        self.templates = _Window(TEMPLATE_LIFETIME)

    def clone(self) -> _Lane:
        n = _Lane.__new__(_Lane)
        n.counters, n.est = list(self.counters), self.est.clone()
        n.es, n.handshaking, n.flowing = self.es, self.handshaking, self.flowing
        n.stale = list(self.stale)
        n.fin_wait, n.time_wait = self.fin_wait.clone(), self.time_wait.clone()
        n.close, n.syn_lost = self.close.clone(), self.syn_lost.clone()
        n.templates = self.templates.clone()
        return n

    def counts(self, second: int) -> _ConnCounts:
        stale_es = stale_tpl = 0
        for es, tpl, since in self.stale:
            age = second - since
            stale_es += _left(es, age - (ESTABLISHED_TIMEOUT - _STALE_ES_SPREAD), _STALE_ES_SPREAD)
            stale_tpl += _left(tpl, age - ESTABLISHED_TIMEOUT, _STALE_TPL_SPREAD)
        templates = max(self.templates.total, stale_tpl)
        none = min(templates, self.syn_lost.total // 2)
        return _ConnCounts(
            established=self.es - self.handshaking + stale_es,
            syn_recv=self.handshaking + self.syn_lost.total,
            fin_wait=self.fin_wait.total,
            time_wait=self.time_wait.total,
            close=self.close.total,
            assured=templates - none,
            none=none,
        )


class _LanePlan(NamedTuple):
    conns: int
    pkts: int
    nbytes: int
    ok: int
    refused: int
    syn_lost: int
    fin: int
    time_wait: int
    rst: int
    sessions: int
    handshaking: int
    flowing: bool


_IDLE = _LanePlan(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, False)
_IDLE_FLOWING = _IDLE._replace(flowing=True)


class _Plan(NamedTuple):
    """Everything drawn for one second; applying it is deterministic bookkeeping."""

    load: float
    share: tuple[float, ...]
    rr: tuple[int, ...]
    burst: int
    lanes: tuple[_LanePlan, ...]


class _State:
    """The whole simulated director at the start of one second."""

    __slots__ = (
        "burst",
        "lanes",
        "load",
        "rr",
        "second",
        "share",
        "svc",
        "svc_est",
        "tot",
        "tot_est",
    )

    second: int
    lanes: list[_Lane]
    svc: list[list[int]]
    svc_est: list[_Estimator]
    tot: list[int]
    tot_est: _Estimator
    load: float
    share: tuple[float, ...]
    rr: tuple[int, ...]
    burst: _Window

    def clone(self) -> _State:
        n = _State.__new__(_State)
        n.second, n.load, n.share, n.rr = self.second, self.load, self.share, self.rr
        n.lanes = [lane.clone() for lane in self.lanes]
        n.svc = [list(c) for c in self.svc]
        n.svc_est = [e.clone() for e in self.svc_est]
        n.tot, n.tot_est = list(self.tot), self.tot_est.clone()
        n.burst = self.burst.clone()
        return n


class _Phase(enum.Enum):
    UP = "up"
    FAILING = "failing"  # listed in IPVS, but the server refuses connections
    REMOVED = "removed"


class SimulatedDirector:
    """Director `lvs1` of the seed's active/active pair, with traffic and incidents.

    The schedule (class attributes, seconds of elapsed time) repeats forever:
    `RS_OUTAGES` every `RS_CYCLE` s: 198.18.23.10:8765 dies, keepalived removes it
    from both 8765 services, it comes back (the first time from the kernel's trash
    with its counters, the second time after `DEST_TRASH_HOLD`, re-created from
    zero); `VRRP_FAILOVERS` every `VRRP_CYCLE` s: VI_1 (198.18.23.73) moves to the
    peer and back; `BURSTS` every `BURST_CYCLE` s: one client floods VI_1's service.
    `keepalived` False leaves `Snapshot.keepalived` None, like a live director told
    to leave keepalived alone.
    """

    HOST: ClassVar[str] = HOST
    DEFAULT_START: ClassVar[float] = DEMO_START
    FLAPPING_SERVER: ClassVar[tuple[str, int]] = (INGRESS_2, APP_PORT)
    RS_CYCLE: ClassVar[int] = 2400
    RS_OUTAGES: ClassVar[tuple[RsOutage, ...]] = (
        RsOutage(fails=28, removed=40, recovers=66, readded=70),
        RsOutage(fails=888, removed=900, recovers=2156, readded=2160),
    )
    DEST_TRASH_HOLD: ClassVar[int] = DEST_TRASH_HOLD
    VRRP_CYCLE: ClassVar[float] = 900.0
    VRRP_FAILOVERS: ClassVar[tuple[VrrpFailover, ...]] = (VrrpFailover(90.0, 150.0),)
    PEER_TAKEOVER_DELAY: ClassVar[float] = _master_down(90) - 1.0
    """From our priority drop to the peer's takeover: its master-down timer, counted
    from our last priority-100 advert (one advert interval earlier)."""
    OWN_TAKEOVER_DELAY: ClassVar[float] = _master_down(100) - 1.0
    """From our priority restore to our preemption: a BACKUP with preempt ignores the
    lower-priority adverts and takes over when its master-down timer runs out."""
    BURST_CYCLE: ClassVar[int] = 1200
    BURSTS: ClassVar[tuple[Burst, ...]] = (
        Burst(15, 20, 45.0),
        Burst(420, 45, 60.0),
        Burst(800, 30, 35.0),
    )

    def __init__(
        self,
        seed: int = 1,
        clock: Callable[[], float] | None = None,
        start: float = DEMO_START,
        keepalived: bool = True,
    ) -> None:
        self.seed = seed
        self.start = start
        self.keepalived = keepalived
        self._clock = clock or time.monotonic
        self._t0: float | None = None
        self._lock = threading.RLock()
        setup = random.Random(f"lvstop-sim-setup/{seed}")
        self._phases = [(setup.uniform(0, math.tau), setup.uniform(0, math.tau)) for _ in _SERVICES]
        self._burst_dest = setup.randrange(2)
        self._clients = self._client_pool(setup)
        self._checkpoints: dict[int, _State] = {}
        self._cursor = self._initial_state(setup)
        self._checkpoints[self._cursor.second] = self._cursor.clone()

    # -- Director protocol -------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(False, "simulated director: actions are not simulated")

    def close(self) -> None:
        """Nothing to release: the simulation holds no OS resources."""

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        """The state at clock() minus the first clock reading (0 on the first call)."""
        with self._lock:
            now = self._clock()
            if self._t0 is None:
                self._t0 = now
            return self._build(max(0.0, now - self._t0), now, connections)

    def snapshot_at(self, elapsed: float, *, connections: bool = False) -> Snapshot:
        """The state `elapsed` seconds after the start; `monotonic` is `elapsed` itself."""
        if elapsed < 0 or not math.isfinite(elapsed):
            raise ValueError(f"elapsed must be a finite number >= 0, not {elapsed!r}")
        return self._build(elapsed, elapsed, connections)

    # -- VRRP and health timelines -----------------------------------------------

    def vrrp_timeline(self, until: float) -> tuple[VrrpTransition, ...]:
        """Every VRRP transition of this node up to `until` (elapsed s), oldest first."""
        out = [
            self._transition(at, name, old, new, why)
            for at, name, old, new, why in _HISTORY
            if at <= until
        ]
        cycle = 0
        while cycle * self.VRRP_CYCLE <= until:
            base = cycle * self.VRRP_CYCLE
            for fo in self.VRRP_FAILOVERS:
                away, back = self._failover_window(fo)
                events = (
                    (
                        base + away,
                        VrrpState.MASTER,
                        VrrpState.BACKUP,
                        f"effective priority {100 - _PRIORITY_DROP} (tracked check failed, "
                        f"weight -{_PRIORITY_DROP}): {PEER_ADDRESS} (priority 90) preempted",
                    ),
                    (
                        base + back,
                        VrrpState.BACKUP,
                        VrrpState.MASTER,
                        f"effective priority back to 100: preempted {PEER_ADDRESS} (priority 90)",
                    ),
                )
                out.extend(
                    self._transition(at, "VI_1", old, new, why)
                    for at, old, new, why in events
                    if at <= until
                )
            cycle += 1
        out.sort(key=lambda tr: tr.elapsed)
        return tuple(out)

    def vrrp_state(self, elapsed: float) -> tuple[VrrpInstanceState, ...]:
        """Both instances as keepalived on this node would report them at `elapsed`."""
        states = []
        for cfg in _VRRP:
            state = self._state(cfg.name, elapsed)
            master = state is VrrpState.MASTER
            effective = cfg.priority
            if cfg.name == "VI_1" and self._priority_dropped(elapsed):
                effective -= _PRIORITY_DROP
            states.append(
                VrrpInstanceState(
                    name=cfg.name,
                    vrid=cfg.vrid,
                    interface=VIP_INTERFACE,
                    vips=(cfg.vip,),
                    state=state,
                    base_priority=cfg.priority,
                    effective_priority=effective,
                    master_router=NODE_ADDRESS if master else PEER_ADDRESS,
                    master_priority=effective if master else cfg.peer_priority,
                    last_transition=self.start + self._last_transition(cfg.name, elapsed),
                )
            )
        return tuple(states)

    def real_server_events(self, until: float) -> tuple[RealServerEvent, ...]:
        """Failures, removals, recoveries and re-additions of the flapping server."""
        address, port = self.FLAPPING_SERVER
        keys = tuple(spec.key for spec in _SERVICES if spec.kind is _Kind.APP)
        out: list[RealServerEvent] = []
        cycle = 0
        while cycle * self.RS_CYCLE <= until:
            base = cycle * self.RS_CYCLE
            for o in self.RS_OUTAGES:
                recreated = o.readded - o.removed >= self.DEST_TRASH_HOLD
                for at, kind, detail in (
                    (o.fails, "failed", "HTTP server stopped: connections refused"),
                    (o.removed, "removed", "HTTP_GET failed after retries: removed from IPVS"),
                    (o.recovers, "recovered", "HTTP server answers again"),
                    (
                        o.readded,
                        "added",
                        "HTTP_GET succeeded: re-created, counters start from zero"
                        if recreated
                        else "HTTP_GET succeeded: taken back from the kernel's trash",
                    ),
                ):
                    if base + at <= until:
                        out.append(
                            RealServerEvent(
                                base + at, self.start + base + at, address, port, keys, kind, detail
                            )
                        )
            cycle += 1
        return tuple(out)

    # -- schedule ------------------------------------------------------------------

    def _transition(
        self, at: float, name: str, old: VrrpState, new: VrrpState, why: str
    ) -> VrrpTransition:
        return VrrpTransition(at, self.start + at, name, _VRRP_BY_NAME[name].vrid, old, new, why)

    def _failover_window(self, fo: VrrpFailover) -> tuple[float, float]:
        return (
            fo.priority_drop + self.PEER_TAKEOVER_DELAY,
            fo.priority_restore + self.OWN_TAKEOVER_DELAY,
        )

    def _priority_dropped(self, t: float) -> bool:
        if t < 0:
            return False
        u = t % self.VRRP_CYCLE
        return any(fo.priority_drop <= u < fo.priority_restore for fo in self.VRRP_FAILOVERS)

    def _state(self, name: str, t: float) -> VrrpState:
        if name == "VI_1" and t >= 0:
            u = t % self.VRRP_CYCLE
            away = any(
                start <= u < end for start, end in map(self._failover_window, self.VRRP_FAILOVERS)
            )
            return VrrpState.BACKUP if away else VrrpState.MASTER
        state = VrrpState.INIT
        for at, inst, _old, new, _why in _HISTORY:
            if inst == name and at <= t:
                state = new
        return state

    def _is_master(self, name: str, t: float) -> bool:
        return self._state(name, t) is VrrpState.MASTER

    def _last_transition(self, name: str, t: float) -> float:
        last = max((at for at, inst, *_ in _HISTORY if inst == name and at <= t), default=math.nan)
        if name == "VI_1" and t >= 0:
            cycle = math.floor(t / self.VRRP_CYCLE)
            for c in (cycle - 1, cycle):
                if c < 0:
                    continue
                for fo in self.VRRP_FAILOVERS:
                    for at in self._failover_window(fo):
                        if c * self.VRRP_CYCLE + at <= t:
                            last = max(last, c * self.VRRP_CYCLE + at)
        return last

    def _vip_flows(self, instance: str, second: int) -> bool:
        """Traffic for the VIP reaches this node during the whole second."""
        return self._is_master(instance, second) and self._is_master(instance, second + 1)

    def _server_phase(self, second: int) -> _Phase:
        """Where the flapping server is in its outage schedule."""
        if second < 0:
            return _Phase.UP
        u = second % self.RS_CYCLE
        for o in self.RS_OUTAGES:
            if o.fails <= u < o.removed:
                return _Phase.FAILING
            if o.removed <= u < o.readded:
                return _Phase.REMOVED
        return _Phase.UP

    def _recreated_at(self, second: int) -> bool:
        """The flapping server comes back at `second` as a new kernel destination."""
        if second < 0:
            return False
        u = second % self.RS_CYCLE
        return any(
            o.readded == u and o.readded - o.removed >= self.DEST_TRASH_HOLD
            for o in self.RS_OUTAGES
        )

    def _since_readded(self, second: int) -> float:
        if second < 0:
            return math.inf
        cycle, u = divmod(second, self.RS_CYCLE)
        back = [cycle * self.RS_CYCLE + o.readded for o in self.RS_OUTAGES if o.readded <= u]
        if not back and cycle > 0:
            back = [(cycle - 1) * self.RS_CYCLE + self.RS_OUTAGES[-1].readded]
        return second - max(back) if back else math.inf

    def _burst_cps(self, second: int) -> float:
        u = second % self.BURST_CYCLE
        return sum(b.cps for b in self.BURSTS if b.start <= u < b.start + b.duration)

    def _app_cps(self, s: int, second: int, load: float) -> float:
        """A working-day curve (UTC+8, peak mid-afternoon), a faster wave so a short
        demo moves, and slow noise."""
        hour = ((self.start + second) / 3600.0 + 8.0) % 24.0
        dist = (hour - 14.5 + 12.0) % 24.0 - 12.0
        daily = 0.2 + 0.8 * math.exp(-((dist / 4.5) ** 2))
        p1, p2 = self._phases[s]
        wave = 1.0 + 0.22 * math.sin(math.tau * second / 600 + p1)
        wave += 0.07 * math.sin(math.tau * second / 97 + p2)
        return _APP_PEAK_CPS * daily * wave * math.exp(load)

    # -- the integration -------------------------------------------------------------

    def _initial_state(self, setup: random.Random) -> _State:
        """Counters of a director that has run for three days (VI_2's 14 minutes included)."""
        up = -_PREROLL - _KEEPALIVED_STARTED  # seconds keepalived has been running
        held_vi2 = _PEER_BACK - (_PEER_REBOOT + _master_down(90))
        lanes = []
        for s, _d in _LANES:
            spec = _SERVICES[s]
            seconds = up if spec.instance == "VI_1" else held_vi2
            if spec.kind is _Kind.APP:
                conns = round(seconds * 0.45 * _APP_PEAK_CPS / 2 * setup.uniform(0.97, 1.03))
                pkts = round(conns * setup.uniform(11.5, 12.5))
                nbytes = round(pkts * setup.uniform(120.0, 126.0))
            else:
                conns = round(seconds / _PROBE_INTERVAL / 2 * setup.uniform(1.0, 1.02))
                pkts, nbytes = conns * 6, conns * 411
            lanes.append(_Lane([conns, pkts, 0, nbytes, 0]))
        st = _State()
        st.second = -_PREROLL
        st.lanes = lanes
        st.svc = [
            [sum(lanes[n].counters[j] for n in _SVC_LANES[s]) for j in range(5)]
            for s in range(len(_SERVICES))
        ]
        st.svc_est = [_Estimator(c) for c in st.svc]
        st.tot = [sum(c[j] for c in st.svc) for j in range(5)]
        st.tot_est = _Estimator(st.tot)
        st.load = 0.0
        st.share = tuple(0.0 for _ in _SERVICES)
        st.rr = tuple(0 for _ in _SERVICES)
        st.burst = _Window(FIN_TIMEOUT)
        return st

    def _rng(self, second: int) -> random.Random:
        return random.Random(f"lvstop-sim/{self.seed}/{second}")

    def _plan(self, st: _State) -> _Plan:
        """Draw the traffic of second `st.second` (pure: reads the state, changes nothing)."""
        i = st.second
        u = self._rng(i).random
        load = st.load * _LOAD_KEEP + _LOAD_SIGMA * _normal(u)
        share = list(st.share)
        rr = list(st.rr)
        burst_total = 0
        plans: list[_LanePlan] = []
        server = self._server_phase(i)
        flows = {cfg.name: self._vip_flows(cfg.name, i) for cfg in _VRRP}
        for s, spec in enumerate(_SERVICES):
            lanes = _SVC_LANES[s]
            vip = flows[spec.instance]
            phases = [server if _FLAPPING[n] else _Phase.UP for n in lanes]
            alloc = [0] * len(spec.dests)
            burst = [0] * len(spec.dests)
            if spec.kind is _Kind.APP:
                share[s] = share[s] * _SHARE_KEEP + _SHARE_SIGMA * _normal(u)
                if vip:
                    lam = self._app_cps(s, i, load)
                    total = max(0, round(lam + math.sqrt(lam) * _normal(u)))
                    if phases[1] is _Phase.REMOVED:
                        p2 = 0.0
                    else:
                        ramp = 1.0 - math.exp(-self._since_readded(i) / _RAMP_TAU)
                        p2 = min(max(0.5 + share[s], 0.3), 0.7) * ramp
                    alloc[1] = _stoch(total * p2, u())
                    alloc[0] = total - alloc[1]
                    if s == _BURST_SERVICE and (cps := self._burst_cps(i)):
                        pinned = self._burst_dest
                        if phases[pinned] is _Phase.REMOVED:
                            pinned = 1 - pinned
                        burst[pinned] = _stoch(cps * (1.0 + 0.1 * _normal(u)), u())
                        burst_total = burst[pinned]
            elif vip:
                n = (1 if i % _PROBE_INTERVAL == _PROBE_OFFSET else 0) + (1 if u() < _STRAY else 0)
                for _ in range(n):
                    alloc[rr[s] % len(spec.dests)] += 1
                    rr[s] += 1
            for d, lane_no in enumerate(lanes):
                plans.append(
                    self._plan_lane(st.lanes[lane_no], spec, phases[d], vip, alloc[d], burst[d], u)
                )
        return _Plan(load, tuple(share), tuple(rr), burst_total, tuple(plans))

    @staticmethod
    def _plan_lane(
        lane: _Lane,
        spec: _SvcSpec,
        phase: _Phase,
        vip: bool,
        regular: int,
        burst: int,
        u: Callable[[], float],
    ) -> _LanePlan:
        conns = regular + burst
        flowing = vip and phase is _Phase.UP
        if not conns and not (flowing and lane.es):
            return _IDLE_FLOWING if flowing else _IDLE
        prof = _PROFILES[spec.kind]
        if phase is _Phase.FAILING:
            refused, syn_lost, ok = conns, 0, 0
        else:
            refused, syn_lost = 0, _stoch(conns * _SYN_LOST, u())
            ok = conns - syn_lost
        closes = _stoch(lane.es * prof.hazard, u()) if flowing else 0
        rst = _stoch(closes * _RST_CLOSE, u())
        tw = _stoch((closes - rst) * _TIME_WAIT, u())
        sessions = 0
        if spec.persistent and regular:
            sessions = _stoch(regular * ok / conns / _CONNS_PER_SESSION, u())
        handshaking = min(ok, _stoch(ok * _HANDSHAKE, u()))
        es_pkts = _stoch((lane.es - closes) * prof.es_pps, u()) if flowing else 0
        pkts = (
            ok * prof.open_pkts
            + refused
            + syn_lost * 3
            + (closes - rst) * prof.close_pkts
            + rst
            + es_pkts
        )
        nbytes = (
            ok * prof.open_bytes
            + refused * 60
            + syn_lost * 180
            + (closes - rst) * prof.close_bytes
            + rst * 40
        )
        if es_pkts:
            nbytes += max(
                es_pkts * 52, round(es_pkts * prof.es_pkt_bytes * (1.0 + 0.04 * _normal(u)))
            )
        return _LanePlan(
            conns,
            pkts,
            nbytes,
            ok,
            refused,
            syn_lost,
            closes - rst - tw,
            tw,
            rst,
            sessions,
            handshaking,
            flowing,
        )

    def _apply(self, st: _State, plan: _Plan) -> None:
        """Advance `st` by one second along `plan`."""
        i = st.second
        nxt = i + 1
        for lane_no, (lane, lp) in enumerate(zip(st.lanes, plan.lanes, strict=True)):
            s = _LANES[lane_no][0]
            if lane.flowing and not lp.flowing and lane.es:
                # Nobody will send on these entries again: they time out as ESTABLISHED,
                # pinning their clients' templates.
                pinned = min(lane.templates.total, math.ceil(lane.es / _CONNS_PER_CLIENT))
                lane.stale.append((lane.es, pinned, nxt))
                lane.es = 0
            lane.es += lp.ok - lp.fin - lp.time_wait - lp.rst
            lane.handshaking = lp.handshaking
            lane.flowing = lp.flowing
            lane.fin_wait.push(lp.fin)
            lane.time_wait.push(lp.time_wait)
            lane.close.push(lp.rst + lp.refused)
            lane.syn_lost.push(lp.syn_lost)
            lane.templates.push(lp.sessions)
            end = ESTABLISHED_TIMEOUT + _STALE_TPL_SPREAD
            lane.stale = [c for c in lane.stale if nxt - c[2] < end]
            inc = (lp.conns, lp.pkts, 0, lp.nbytes, 0)
            for j in (0, 1, 3):
                lane.counters[j] += inc[j]
                st.svc[s][j] += inc[j]
                st.tot[j] += inc[j]
            if _FLAPPING[lane_no] and self._recreated_at(nxt):
                lane.counters = [0] * 5
                lane.est = _Estimator(lane.counters)
        st.load, st.share, st.rr = plan.load, plan.share, plan.rr
        st.burst.push(plan.burst)
        if nxt % 2 == 0:
            removed = self._server_phase(nxt) is _Phase.REMOVED
            for lane_no, lane in enumerate(st.lanes):
                if not (removed and _FLAPPING[lane_no]):
                    lane.est.tick(lane.counters)
            for c, e in zip(st.svc, st.svc_est, strict=True):
                e.tick(c)
            st.tot_est.tick(st.tot)
        st.second = nxt

    def _advance(self, second: int) -> _State:
        """The state at `second`, from the cursor or the nearest earlier checkpoint."""
        if second < self._cursor.second:
            base = max(k for k in self._checkpoints if k <= second)
            self._cursor = self._checkpoints[base].clone()
        st = self._cursor
        while st.second < second:
            self._apply(st, self._plan(st))
            if (st.second + _PREROLL) % _CHECKPOINT == 0 and st.second not in self._checkpoints:
                self._checkpoints[st.second] = st.clone()
                self._prune_checkpoints(st.second)
        return st

    def _prune_checkpoints(self, newest: int) -> None:
        """Keep every checkpoint of the last hour, and one per 20 minutes before that."""
        for k in [
            k
            for k in self._checkpoints
            if k < newest - _KEEP_RECENT and (k + _PREROLL) % _CHECKPOINT_SPARSE
        ]:
            del self._checkpoints[k]

    # -- building the snapshot ---------------------------------------------------------

    def _build(self, elapsed: float, monotonic: float, connections: bool) -> Snapshot:
        second = math.floor(elapsed)
        frac = elapsed - second
        with self._lock:
            st = self._advance(second)
            # Within a second the counters move linearly towards the next second's.
            plan = self._plan(st) if frac > 0 else None
            return self._snapshot(st, plan, frac, elapsed, monotonic, connections)

    def _snapshot(
        self,
        st: _State,
        plan: _Plan | None,
        frac: float,
        elapsed: float,
        monotonic: float,
        connections: bool,
    ) -> Snapshot:
        i = st.second
        removed = self._server_phase(i) is _Phase.REMOVED
        services = []
        groups: list[tuple[ConnKey, int]] = []
        tot = list(st.tot)
        for s, spec in enumerate(_SERVICES):
            svc = list(st.svc[s])
            rss = []
            for d, lane_no in enumerate(_SVC_LANES[s]):
                lane = st.lanes[lane_no]
                counters = list(lane.counters)
                if plan is not None:
                    lp = plan.lanes[lane_no]
                    for j, inc in ((0, lp.conns), (1, lp.pkts), (3, lp.nbytes)):
                        part = math.floor(frac * inc)
                        counters[j] += part
                        svc[j] += part
                        tot[j] += part
                counts = lane.counts(i)
                if connections:
                    groups.extend(_groups(spec, spec.dests[d], counts))
                if removed and _FLAPPING[lane_no]:
                    continue
                rss.append(
                    RealServer(
                        address=spec.dests[d],
                        port=spec.key.port,
                        forward=Forward.ROUTE,
                        weight=1,
                        active_conns=counts.established,
                        inactive_conns=counts.inactive,
                        persistent_conns=counts.assured + counts.none,
                        stats=Counters(*counters),
                        rates=lane.est.rates(),
                    )
                )
            present = self._is_master(spec.instance, elapsed)
            services.append(
                Service(
                    key=spec.key,
                    scheduler="rr",
                    flags=SVC_F_HASHED | (SVC_F_PERSISTENT if spec.persistent else 0),
                    timeout=PERSISTENCE_TIMEOUT if spec.persistent else 0,
                    netmask=32,
                    stats=Counters(*svc),
                    rates=st.svc_est[s].rates(),
                    real_servers=tuple(rss),
                    vip_present=present,
                    vip_interface=VIP_INTERFACE if present else None,
                )
            )
        services.sort(key=lambda svc: svc.key.sort_key())
        return Snapshot(
            wall_time=self.start + elapsed,
            monotonic=monotonic,
            host=HOST,
            source=SourceKind.SIMULATED,
            services=tuple(services),
            totals=Totals(stats=Counters(*tot), rates=st.tot_est.rates()),
            connections=self._conn_table(groups, st.burst.total) if connections else None,
            keepalived=self._keepalived(elapsed, monotonic, removed) if self.keepalived else None,
        )

    # -- keepalived's view -----------------------------------------------------------

    def _keepalived(self, elapsed: float, monotonic: float, removed: bool) -> KeepalivedState:
        """What lvstop would read from keepalived on this node: the VRRP timeline as
        instances and wire speakers (the listener started with the demo, at elapsed 0),
        the flapping server's health from its outage schedule, and the port-80
        services as the manual rules no configuration explains."""
        timeline = self.vrrp_timeline(elapsed)
        states = {v.name: v for v in self.vrrp_state(elapsed)}
        instances = []
        wire: list[WireSpeaker] = []
        offset = monotonic - elapsed  # monotonic time of elapsed 0
        for cfg in _VRRP:
            v = states[cfg.name]
            mine = [tr for tr in timeline if tr.instance == cfg.name]
            master = _master_spans(mine, elapsed)
            backup_s = _backup_seconds(mine, elapsed)
            instances.append(
                VrrpInstance(
                    name=v.name,
                    vrid=v.vrid,
                    interface=v.interface,
                    state=KeepalivedVrrpState(v.state.value),
                    base_priority=v.base_priority,
                    effective_priority=v.effective_priority,
                    advert_int=v.advert_int,
                    vips=v.vips,
                    vips_present=v.vips if v.state is VrrpState.MASTER else (),
                    master_router=v.master_router if v.state is VrrpState.BACKUP else None,
                    master_priority=v.master_priority if v.state is VrrpState.BACKUP else None,
                    last_transition=v.last_transition,
                    counters=VrrpCounters(
                        adverts_received=math.floor(backup_s),
                        adverts_sent=math.floor(sum(b - a for a, b in master)),
                        became_master=sum(tr.new is VrrpState.MASTER for tr in mine),
                        released_master=sum(tr.old is VrrpState.MASTER for tr in mine),
                    ),
                )
            )
            peer = _complement(master, elapsed)
            for source, spans, prio in (
                (NODE_ADDRESS, master, v.effective_priority if v.state is VrrpState.MASTER
                 else 100 - _PRIORITY_DROP),
                (PEER_ADDRESS, peer, cfg.peer_priority),
            ):  # fmt: skip
                speaker = _speaker(cfg, source, spans, prio, elapsed, offset)
                if speaker is not None:
                    wire.append(speaker)
        owners = {
            spec.key: ServiceVrrp(spec.instance, KeepalivedVrrpState(states[spec.instance].state))
            for spec in _SERVICES
        }
        up = RealServerStatus(1, 1, Health.UP, 0, 1, None, False)
        down = RealServerStatus(1, 1, Health.DOWN, 1, 1, _HTTP_GET_ERROR, False)
        statuses: dict[tuple[ServiceKey, RealServerKey], RealServerStatus] = {}
        absent: list[AbsentRealServer] = []
        unexplained: list[UnexplainedEntry] = []
        for spec in _SERVICES:
            if spec.kind is _Kind.PROBE:
                unexplained.append(UnexplainedEntry(spec.key, None, _MANUAL_RULE))
                continue
            for dest in spec.dests:
                rkey = rs_key(dest, spec.key.port)
                if (dest, spec.key.port) != self.FLAPPING_SERVER or not removed:
                    statuses[(spec.key, rkey)] = up
                    continue
                reason = "health check failing: keepalived removed it"
                absent.append(AbsentRealServer(spec.key, dest, spec.key.port, down, True, reason))
        wire.sort(key=lambda sp: (sp.interface, sp.vrid, sp.source))
        expected = {cfg.vrid: ((cfg.vip,), 1.0) for cfg in _VRRP}
        return KeepalivedState(
            processes=KeepalivedProcesses(
                tuple(KeepalivedProcess(role, pid, True) for role, pid in KEEPALIVED_PIDS)
            ),
            config_file=KEEPALIVED_CONFIG,
            instances=tuple(instances),
            services=MappingProxyType(owners),
            real_servers=MappingProxyType(statuses),
            absent_real_servers=tuple(absent),
            unexplained=tuple(unexplained),
            wire=tuple(wire),
            wire_since=offset,
            alarms=wire_alarms(wire, monotonic, expected, offset),
        )

    def _conn_table(self, groups: list[tuple[ConnKey, int]], burst: int) -> ConnTable:
        groups.sort()
        entries = sum(n for _k, n in groups)
        templates = sum(n for k, n in groups if k.state in ("ASSURED", "NONE"))
        heavy = min(entries, burst)
        rest = entries - heavy
        top = [
            (self._clients[k], math.floor(rest / (k + _ZIPF_OFFSET) / _ZIPF_TOTAL))
            for k in range(_TOP)
        ]
        if heavy:
            top.append((self._clients[_TOP], heavy))
        top = sorted((c for c in top if c[1] > 0), key=lambda c: (-c[1], c[0]))[:_TOP]
        return ConnTable(
            entries=entries,
            templates=templates,
            groups=tuple(groups),
            top_clients=tuple(top),
            clients_exact=True,
        )

    @staticmethod
    def _client_pool(setup: random.Random) -> tuple[str, ...]:
        """The ten busiest clients (NAT gateways, by rank) and the burst client."""
        net = ipaddress.IPv4Network(CLIENT_NET)
        picked: list[str] = []
        while len(picked) < _TOP + 1:
            n = setup.randrange(256, net.num_addresses)
            addr = str(net[n])
            if 0 < n & 0xFF < 255 and addr not in picked:
                picked.append(addr)
        return tuple(picked)


def _master_spans(transitions: list[VrrpTransition], until: float) -> list[tuple[float, float]]:
    """(from, to) elapsed spans in which this node was MASTER, up to `until`."""
    spans: list[tuple[float, float]] = []
    since: float | None = None
    for tr in transitions:
        if tr.new is VrrpState.MASTER and since is None:
            since = tr.elapsed
        elif tr.old is VrrpState.MASTER and since is not None:
            spans.append((since, tr.elapsed))
            since = None
    if since is not None:
        spans.append((since, until))
    return spans


def _backup_seconds(transitions: list[VrrpTransition], until: float) -> float:
    """Seconds spent BACKUP (hearing the peer's adverts) up to `until`."""
    total, since = 0.0, None
    for tr in transitions:
        if since is not None:
            total += tr.elapsed - since
            since = None
        if tr.new is VrrpState.BACKUP:
            since = tr.elapsed
    return total + (until - since if since is not None else 0.0)


def _complement(spans: list[tuple[float, float]], until: float) -> list[tuple[float, float]]:
    """The peer's MASTER spans since the demo started: whenever this node was not."""
    out, at = [], 0.0
    for a, b in spans:
        if a > at:
            out.append((at, min(a, until)))
        at = max(at, b)
    if at < until:
        out.append((at, until))
    return out


def _speaker(
    cfg: _VrrpConfig,
    source: str,
    spans: list[tuple[float, float]],
    priority: int,
    elapsed: float,
    offset: float,
) -> WireSpeaker | None:
    """What the passive listener (started at elapsed 0) heard from one director: one
    advert a second, at its phase, while it was MASTER; forgotten after 600 s."""
    phase = _ADVERT_PHASE[source]
    heard = 0
    last: float | None = None
    for a, b in spans:
        lo, hi = max(a, 0.0), min(b, elapsed)
        first, final = math.ceil(lo - phase), math.floor(hi - phase)
        if hi >= lo and final >= first:
            heard += final - first + 1
            last = final + phase
    if last is None or elapsed - last > 600:
        return None
    return WireSpeaker(
        vrid=cfg.vrid,
        interface=VIP_INTERFACE,
        source=source,
        priority=priority,
        advert_int=1.0,
        vips=(cfg.vip,),
        auth_type=1,
        version=2,
        last_seen=offset + last,
        adverts=heard,
    )


def _groups(spec: _SvcSpec, daddr: str, c: _ConnCounts) -> list[tuple[ConnKey, int]]:
    vaddr, port = spec.key.address or "", spec.key.port
    return [
        (ConnKey("TCP", vaddr, port, daddr, port, state), n)
        for state, n in (
            ("ESTABLISHED", c.established),
            ("SYN_RECV", c.syn_recv),
            ("FIN_WAIT", c.fin_wait),
            ("TIME_WAIT", c.time_wait),
            ("CLOSE", c.close),
            ("ASSURED", c.assured),
            ("NONE", c.none),
        )
        if n > 0
    ]
