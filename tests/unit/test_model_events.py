"""events_between(): transitions between two snapshots, built by hand and from the demo."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest

from lvstop.model import Forward, Protocol, RealServer, Service, ServiceKey, Snapshot, SourceKind
from lvstop.model.diff import diff
from lvstop.model.events import Event, EventKind, events_between
from lvstop.model.ipvs import RealServerKey
from lvstop.model.keepalived import (
    AbsentRealServer,
    KeepalivedState,
    RealServerStatus,
    VrrpAlarm,
)
from lvstop.model.vrrp import (
    Health,
    KeepalivedProcess,
    KeepalivedProcesses,
    VrrpInstance,
    VrrpState,
)
from lvstop.sources.simulated import SimulatedDirector

VIP = ServiceKey.inet(Protocol.TCP, "198.18.23.73", 8765)
VIP2 = ServiceKey.inet(Protocol.TCP, "198.18.23.74", 8765)
RS4 = RealServerKey("198.18.23.4", 8765)
RS10 = RealServerKey("198.18.23.10", 8765)
UP = RealServerStatus(1, 1, Health.UP, 0, 1)
DOWN = RealServerStatus(1, 0, Health.DOWN, 1, 1, "TCP_CHECK: connection refused")


def rs(key: RealServerKey, weight: int = 1) -> RealServer:
    return RealServer(key.address, key.port, Forward.ROUTE, weight)


def svc(key: ServiceKey, *servers: RealServer, vip: bool | None = True) -> Service:
    return Service(
        key, "rr", real_servers=servers, vip_present=vip, vip_interface="eth0" if vip else None
    )


def inst(state: VrrpState = VrrpState.MASTER, prio: int = 100, **kw: Any) -> VrrpInstance:
    vips = ("198.18.23.73",)
    present = vips if state is VrrpState.MASTER else ()
    return replace(VrrpInstance("VI_1", 51, "eth0", state, 100, prio, 1.0, vips, present), **kw)


def procs(
    parent: int = 100, vrrp: int | None = 101, checker: int | None = 102
) -> KeepalivedProcesses:
    out = [KeepalivedProcess("parent", parent, True)]
    if vrrp is not None:
        out.append(KeepalivedProcess("vrrp", vrrp, True))
    if checker is not None:
        out.append(KeepalivedProcess("checker", checker, True))
    return KeepalivedProcesses(tuple(out))


def ka(**kw: object) -> KeepalivedState:
    base: dict[str, object] = {
        "processes": procs(),
        "config_file": "/etc/keepalived/keepalived.conf",
        "instances": (inst(),),
        "real_servers": MappingProxyType({(VIP, RS4): UP, (VIP, RS10): UP}),
    }
    base.update(kw)
    return KeepalivedState(**base)  # type: ignore[arg-type]


def snap(
    t: float,
    *services: Service,
    keepalived: KeepalivedState | None = None,
    errors: tuple[str, ...] = (),
) -> Snapshot:
    return Snapshot(
        1_800_000_000 + t,
        t,
        "lvs1",
        SourceKind.SIMULATED,
        services,
        errors=errors,
        keepalived=keepalived,
    )


def kinds(events: tuple[Event, ...]) -> list[tuple[EventKind, str]]:
    return [(e.kind, e.subject) for e in events]


BASE = (svc(VIP, rs(RS4), rs(RS10)),)


def test_nothing_changed_nothing_happened() -> None:
    a = snap(1, *BASE, keepalived=ka())
    b = snap(2, *BASE, keepalived=ka())
    assert events_between(a, b) == ()


def test_first_snapshot_reports_only_present_alarms_and_errors() -> None:
    alarm = VrrpAlarm("split_brain", "critical", 51, "eth0", ("a", "b"), "VRID 51: 2 masters")
    cur = snap(1, *BASE, keepalived=ka(alarms=(alarm,)), errors=("ip_vs_stats unreadable",))
    got = events_between(None, cur)
    assert kinds(got) == [(EventKind.WIRE_ALARM, "VRID 51"), (EventKind.ERROR, "lvstop")]
    assert got[0].severity == "critical"
    assert all(e.wall_time == cur.wall_time for e in got)


def test_vrrp_failover_and_vip_left() -> None:
    a = snap(1, *BASE, keepalived=ka())
    backup = inst(VrrpState.BACKUP, 80, master_router="198.18.23.44", master_priority=90)
    b = snap(2, svc(VIP, rs(RS4), rs(RS10), vip=False), keepalived=ka(instances=(backup,)))
    got = events_between(a, b)
    assert kinds(got) == [
        (EventKind.VRRP_STATE, "VI_1"),
        (EventKind.VRRP_STATE, "VI_1"),
        (EventKind.VIP_LEFT, "198.18.23.73"),
    ]
    assert "MASTER -> BACKUP" in got[0].message
    assert "master is 198.18.23.44 (priority 90)" in got[0].message
    assert got[0].severity == "warning"
    assert "effective priority 100 -> 80" in got[1].message
    # and back: the VIP arrives once, not once per service or source
    back = events_between(b, a)
    assert kinds(back)[-1] == (EventKind.VIP_ARRIVED, "198.18.23.73")
    assert sum(e.kind is EventKind.VIP_ARRIVED for e in back) == 1
    assert "arrived on eth0" in back[-1].message


def test_vip_from_the_table_alone_without_keepalived() -> None:
    a = snap(1, svc(VIP, vip=False), svc(VIP2, vip=True))
    b = snap(2, svc(VIP, vip=True), svc(VIP2, vip=False))
    assert kinds(events_between(a, b)) == [
        (EventKind.VIP_ARRIVED, "198.18.23.73"),
        (EventKind.VIP_LEFT, "198.18.23.74"),
    ]


def test_unknown_vip_presence_is_not_a_departure() -> None:
    a = snap(1, svc(VIP, vip=True))
    b = snap(2, svc(VIP, vip=None))  # rtnetlink unreadable this time
    assert events_between(a, b) == ()


def test_fault_is_critical() -> None:
    a = snap(1, *BASE, keepalived=ka())
    b = snap(2, *BASE, keepalived=ka(instances=(inst(VrrpState.FAULT),)))
    (ev,) = [e for e in events_between(a, b) if e.kind is EventKind.VRRP_STATE]
    assert ev.severity == "critical" and "MASTER -> FAULT" in ev.message


def test_health_down_with_checker_error_then_removed_then_back() -> None:
    a = snap(1, *BASE, keepalived=ka())
    absent = AbsentRealServer(VIP, RS10.address, RS10.port, DOWN, True, "removed")
    b = snap(
        2,
        svc(VIP, rs(RS4)),
        keepalived=ka(
            real_servers=MappingProxyType({(VIP, RS4): UP}), absent_real_servers=(absent,)
        ),
    )
    got = events_between(a, b)
    assert kinds(got) == [
        (EventKind.RS_DOWN, "198.18.23.10:8765"),
        (EventKind.RS_REMOVED, "198.18.23.10:8765"),
    ]
    assert got[0].severity == "critical"
    assert "1 of 1 checkers failing" in got[0].message
    assert "TCP_CHECK: connection refused" in got[0].message
    assert "TCP 198.18.23.73:8765" in got[0].message
    again = events_between(b, snap(3, *BASE, keepalived=ka()))
    assert kinds(again) == [
        (EventKind.RS_UP, "198.18.23.10:8765"),
        (EventKind.RS_ADDED, "198.18.23.10:8765"),
    ]


def test_weights_kernel_and_effective() -> None:
    a = snap(1, *BASE, keepalived=ka())
    drained = RealServerStatus(1, 0, Health.UP, 0, 1)
    b = snap(
        2,
        svc(VIP, rs(RS4, weight=0), rs(RS10)),
        keepalived=ka(real_servers=MappingProxyType({(VIP, RS4): drained, (VIP, RS10): UP})),
    )
    got = events_between(a, b)
    assert kinds(got) == [
        (EventKind.WEIGHT_CHANGED, "198.18.23.4:8765"),
        (EventKind.WEIGHT_CHANGED, "198.18.23.4:8765"),
    ]
    assert "kernel weight 1 -> 0" in got[0].message and got[0].severity == "warning"
    assert "effective weight 1 -> 0" in got[1].message


def test_services_added_removed_without_per_server_noise() -> None:
    a = snap(1, *BASE)
    b = snap(2, svc(VIP2, rs(RS4)))
    assert kinds(events_between(a, b)) == [
        (EventKind.SERVICE_ADDED, "TCP 198.18.23.74:8765"),
        (EventKind.SERVICE_REMOVED, "TCP 198.18.23.73:8765"),
    ]


def test_keepalived_processes_started_stopped_restarted() -> None:
    running = ka()
    stopped = ka(processes=KeepalivedProcesses(), instances=())

    def one(a: KeepalivedState, b: KeepalivedState) -> str:
        (ev,) = [
            e
            for e in events_between(snap(1, *BASE, keepalived=a), snap(2, *BASE, keepalived=b))
            if e.kind is EventKind.KEEPALIVED
        ]
        return f"{ev.severity}: {ev.message}"

    assert one(running, stopped).startswith("critical: keepalived stopped (was pid 100)")
    assert one(stopped, running) == "info: keepalived started (pid 100)"
    assert one(running, ka(processes=procs(200, 201, 202))) == (
        "warning: keepalived restarted (pid 100 -> 200)"
    )
    assert one(running, ka(processes=procs(checker=None))) == (
        "critical: keepalived's checker process (pid 102) died"
    )
    assert one(running, ka(processes=procs(checker=300))) == (
        "warning: keepalived's checker process restarted (pid 102 -> 300)"
    )


def test_config_reload_detected_from_what_keepalived_loaded() -> None:
    reloaded = ka(instances=(replace(inst(), base_priority=110, effective_priority=110),))
    got = events_between(snap(1, *BASE, keepalived=ka()), snap(2, *BASE, keepalived=reloaded))
    assert [e.message for e in got if e.kind is EventKind.KEEPALIVED] == [
        "keepalived reloaded its configuration (VRRP instances, VIPs or priorities changed)"
    ]
    edited = ka(
        real_servers=MappingProxyType(
            {(VIP, RS4): replace(UP, configured_weight=5), (VIP, RS10): UP}
        )
    )
    got = events_between(snap(1, *BASE, keepalived=ka()), snap(2, *BASE, keepalived=edited))
    assert [e.message for e in got] == [
        "configured weight of 198.18.23.4:8765 in TCP 198.18.23.73:8765 changed in "
        "/etc/keepalived/keepalived.conf (1 -> 5); keepalived applies it when it reloads"
    ]


def test_wire_alarm_raised_and_cleared() -> None:
    alarm = VrrpAlarm("no_master", "critical", 52, "eth0", (), "VRID 52: nobody advertises")
    a = snap(1, *BASE, keepalived=ka())
    b = snap(2, *BASE, keepalived=ka(alarms=(alarm,)))
    assert [(e.kind, e.severity) for e in events_between(a, b)] == [
        (EventKind.WIRE_ALARM, "critical")
    ]
    (clear,) = events_between(b, a)
    assert clear.kind is EventKind.WIRE_CLEAR and "no_master for VRID 52 on eth0" in clear.message


def test_only_new_errors_are_events() -> None:
    a = snap(1, *BASE, keepalived=ka(errors=("dump late",)), errors=("old",))
    b = snap(2, *BASE, keepalived=ka(errors=("dump late", "fifo gone")), errors=("old", "new"))
    assert [(e.subject, e.message) for e in events_between(a, b)] == [
        ("lvstop", "new"),
        ("keepalived", "fifo gone"),
    ]


def test_uses_the_given_diff() -> None:
    a = snap(1, *BASE)
    b = snap(2, svc(VIP, rs(RS4)))
    d = diff(a, b)
    assert events_between(a, b, d) == events_between(a, b)
    assert events_between(a, b, diff(a, a)) == ()  # IPVS changes come only from the diff


# ------------------------------------------------------------------ the demo's incidents


def timeline(until: int) -> list[tuple[int, Event]]:
    d = SimulatedDirector()
    out: list[tuple[int, Event]] = []
    prev = None
    for t in range(until + 1):
        cur = d.snapshot_at(t)
        out.extend((t, e) for e in events_between(prev, cur))
        prev = cur
    return out


@pytest.fixture(scope="module")
def demo() -> list[tuple[int, Event]]:
    return timeline(200)


def test_demo_real_server_fails_and_recovers(demo: list[tuple[int, Event]]) -> None:
    sim = SimulatedDirector
    outage = sim.RS_OUTAGES[0]
    flap = f"{sim.FLAPPING_SERVER[0]}:{sim.FLAPPING_SERVER[1]}"
    down = [(t, e) for t, e in demo if e.kind is EventKind.RS_DOWN and e.subject == flap]
    up = [(t, e) for t, e in demo if e.kind is EventKind.RS_UP and e.subject == flap]
    removed = [t for t, e in demo if e.kind is EventKind.RS_REMOVED and e.subject == flap]
    added = [t for t, e in demo if e.kind is EventKind.RS_ADDED and e.subject == flap]
    assert [t for t, _ in down] == [outage.removed] * 2  # both 8765 services
    assert "HTTP_GET failed" in down[0][1].message
    assert removed == [outage.removed] * 2
    assert [t for t, _ in up] == [outage.readded] * 2
    assert added == [outage.readded] * 2


def test_demo_failover_and_back(demo: list[tuple[int, Event]]) -> None:
    vrrp = [(t, e.message) for t, e in demo if e.kind is EventKind.VRRP_STATE]
    transitions = [(t, m) for t, m in vrrp if "->" in m and "priority" not in m.split(":")[1][:20]]
    assert any("MASTER -> BACKUP" in m for _, m in transitions)
    assert any("BACKUP -> MASTER" in m for _, m in transitions)
    away = next(t for t, m in transitions if "MASTER -> BACKUP" in m)
    back = next(t for t, m in transitions if "BACKUP -> MASTER" in m)
    left = [t for t, e in demo if e.kind is EventKind.VIP_LEFT and e.subject == "198.18.23.73"]
    arrived = [
        t for t, e in demo if e.kind is EventKind.VIP_ARRIVED and e.subject == "198.18.23.73"
    ]
    assert left == [away] and arrived == [back]
    assert away < back


def test_demo_events_are_stamped_with_the_snapshot_time(demo: list[tuple[int, Event]]) -> None:
    start = SimulatedDirector.DEFAULT_START
    assert demo and all(e.wall_time == start + t for t, e in demo)


def test_a_server_drained_in_every_service_is_one_event_naming_them() -> None:
    both = {(VIP, RS4): UP, (VIP2, RS4): UP, (VIP, RS10): UP}
    drained = RealServerStatus(1, 0, Health.UP, 0, 1)
    a = snap(
        1,
        svc(VIP, rs(RS4), rs(RS10)),
        svc(VIP2, rs(RS4)),
        keepalived=ka(real_servers=MappingProxyType(both)),
    )
    b = snap(
        2,
        svc(VIP, rs(RS4, weight=0), rs(RS10, weight=0)),
        svc(VIP2, rs(RS4, weight=0)),
        keepalived=ka(
            real_servers=MappingProxyType(
                {(VIP, RS4): drained, (VIP2, RS4): drained, (VIP, RS10): UP}
            )
        ),
    )
    got = [(e.subject, e.message) for e in events_between(a, b)]
    assert got == [
        (
            "198.18.23.4:8765",
            "198.18.23.4:8765 in TCP 198.18.23.73:8765 and TCP 198.18.23.74:8765: "
            "kernel weight 1 -> 0 (drained: no new connections)",
        ),
        (
            "198.18.23.10:8765",
            "198.18.23.10:8765 in TCP 198.18.23.73:8765: "
            "kernel weight 1 -> 0 (drained: no new connections)",
        ),
        (
            "198.18.23.4:8765",
            "198.18.23.4:8765 in TCP 198.18.23.73:8765 and TCP 198.18.23.74:8765: "
            "keepalived's effective weight 1 -> 0",
        ),
    ]


def test_different_weight_changes_of_one_server_stay_apart() -> None:
    keys = [ServiceKey.inet(Protocol.TCP, f"198.18.23.{70 + i}", 8765) for i in range(5)]
    a = snap(1, *(svc(k, rs(RS4, weight=2)) for k in keys))
    b = snap(2, *(svc(k, rs(RS4, weight=0 if i else 1)) for i, k in enumerate(keys)))
    got = [e.message for e in events_between(a, b)]
    assert got == [
        "198.18.23.4:8765 in TCP 198.18.23.70:8765: kernel weight 2 -> 1",
        "198.18.23.4:8765 in TCP 198.18.23.71:8765, TCP 198.18.23.72:8765 and 2 more "
        "services: kernel weight 2 -> 0 (drained: no new connections)",
    ]
