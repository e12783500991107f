"""diff(): matching by identity, changed fields, and our own rates."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lvstop.model import Counters, Forward, Protocol, Rates, RealServer, Service, ServiceKey
from lvstop.model.diff import diff
from lvstop.model.history import History
from lvstop.model.ipvs import RealServerKey, Totals
from lvstop.model.snapshot import Snapshot, SourceKind

VIP = ServiceKey.inet(Protocol.TCP, "198.18.23.73", 8765)
FWM = ServiceKey.mark(7)


def rs(addr: str, conns: int = 0, weight: int = 1) -> RealServer:
    return RealServer(
        addr, 8765, Forward.ROUTE, weight, stats=Counters(conns, conns * 6, 0, conns * 400, 0)
    )


def svc(key: ServiceKey, *servers: RealServer, conns: int = 0) -> Service:
    return Service(
        key,
        "rr",
        flags=3,
        timeout=120,
        stats=Counters(conns, conns * 6, 0, conns * 400, 0),
        real_servers=servers,
    )


def snap(t: float, *services: Service, total: int = 0) -> Snapshot:
    return Snapshot(
        1_800_000_000 + t,
        t,
        "lvs1",
        SourceKind.SIMULATED,
        services,
        totals=Totals(Counters(total, total, 0, total, 0)),
    )


def test_first_sample_has_zero_rates_and_everything_added() -> None:
    d = diff(None, snap(10, svc(VIP, rs("198.18.23.4", 5), conns=5)))
    assert d.added_services == (VIP,)
    assert d.service_rate(VIP) == Rates()
    assert d.real_server_rate(VIP, RealServerKey("198.18.23.4", 8765)) == Rates()
    assert d.interval == 0.0


def test_rates_from_deltas_over_monotonic_time() -> None:
    a = snap(10, svc(VIP, rs("198.18.23.4", 10), conns=10), total=10)
    b = snap(12, svc(VIP, rs("198.18.23.4", 30), conns=30), total=50)
    d = diff(a, b)
    assert d.interval == 2
    assert d.service_rate(VIP).cps == 10
    assert d.service_rate(VIP).inbps == 20 * 400 / 2
    assert d.real_server_rate(VIP, RealServerKey("198.18.23.4", 8765)).inpps == 60
    assert d.totals_rates.cps == 20
    assert d.changed_services[VIP]["stats.conns"] == (10, 30)
    assert "stats.conns" in d.changed_real_servers[(VIP, RealServerKey("198.18.23.4", 8765))]


def test_counter_reset_or_recreated_entry_gives_zero() -> None:
    a = snap(10, svc(VIP, rs("198.18.23.4", 100), conns=100))
    b = snap(11, svc(VIP, rs("198.18.23.4", 3), conns=3))
    d = diff(a, b)
    assert d.service_rate(VIP) == Rates()
    assert d.real_server_rate(VIP, RealServerKey("198.18.23.4", 8765)) == Rates()


def test_added_removed_and_changed_fields() -> None:
    a = snap(1, svc(VIP, rs("198.18.23.4"), rs("198.18.23.10")), svc(FWM))
    b = snap(2, svc(VIP, rs("198.18.23.4", weight=0), rs("198.18.23.11")))
    d = diff(a, b)
    assert d.removed_services == (FWM,)
    assert d.added_real_servers == ((VIP, RealServerKey("198.18.23.11", 8765)),)
    assert d.removed_real_servers == ((VIP, RealServerKey("198.18.23.10", 8765)),)
    changes = d.changed_real_servers[(VIP, RealServerKey("198.18.23.4", 8765))]
    assert changes == {"weight": (1, 0)}
    assert d.real_server_rate(VIP, RealServerKey("198.18.23.11", 8765)) == Rates()
    assert not d.empty


def test_service_config_change_is_reported() -> None:
    a = snap(1, svc(VIP))
    b = snap(2, replace(svc(VIP), scheduler="wlc", vip_present=True))
    assert diff(a, b).changed_services[VIP] == {
        "scheduler": ("rr", "wlc"),
        "vip_present": (None, True),
    }


def test_identical_snapshots_are_empty_diff() -> None:
    s = svc(VIP, rs("198.18.23.4", 3), conns=3)
    assert diff(snap(1, s), snap(2, s)).empty


def test_zero_interval_never_divides() -> None:
    a = snap(5, svc(VIP, conns=1))
    b = snap(5, svc(VIP, conns=9))
    assert diff(a, b).service_rate(VIP) == Rates()


def test_history_ring_buffer_and_retain() -> None:
    h = History(3)
    for v in range(5):
        h.push(VIP, float(v))
    h.push(FWM, 1.0)
    assert h.series(VIP) == (2.0, 3.0, 4.0)
    h.retain([VIP])
    assert h.series(FWM) == () and len(h) == 1
    with pytest.raises(ValueError):
        History(0)


def test_service_key_ordering_and_labels() -> None:
    from lvstop.model.notation import service_label, service_spec

    v6 = ServiceKey.inet(Protocol.UDP, "2001:db8::1", 53)
    assert service_label(VIP) == "TCP  198.18.23.73:8765"
    assert service_label(v6) == "UDP  [2001:db8::1]:53"
    assert service_label(FWM) == "FWM  7"
    assert service_spec(VIP) == "-t 198.18.23.73:8765" and service_spec(FWM) == "-f 7"
    keys = sorted([FWM, v6, VIP], key=lambda k: k.sort_key())
    assert keys == [VIP, v6, FWM]


def test_history_push_all_is_push_of_each() -> None:
    one, many = History(3), History(3)
    values = [("a", 1.0), ("b", 2.0), ("a", 3.0), ("a", 4.0), ("a", 5.0), ("c", 0.0)]
    for key, value in values:
        one.push(key, value)
    many.push_all(iter(values))
    for key in ("a", "b", "c", "d"):
        assert many.series(key) == one.series(key)
    assert many.series("a") == (3.0, 4.0, 5.0) and len(many) == 3
