"""keepalived's state joined with the IPVS table: the pure join on dumps captured from the
lab's real keepalived, and the simulated director's keepalived view."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lvstop.model import Forward, Protocol, RealServer, RealServerKey, Service, ServiceKey
from lvstop.model.keepalived import KeepalivedState
from lvstop.model.vrrp import (
    Health,
    KeepalivedProcess,
    KeepalivedProcesses,
    VrrpCounters,
    VrrpState,
)
from lvstop.sources.keepalived import lint
from lvstop.sources.keepalived.config import load, loads
from lvstop.sources.keepalived.runtime.dumps import (
    parse_check_data,
    parse_json,
    parse_stats,
    parse_vrrp_data,
)
from lvstop.sources.keepalived.state import (
    KeepalivedReader,
    StatusReuse,
    expected_wire,
    join,
    merge_instances,
)
from lvstop.sources.simulated import PEER_ADDRESS, SimulatedDirector

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "keepalived-runtime"
LAB_CONF = ROOT / "lab" / "seed" / "keepalived-lvs1.conf"
VIP1, VIP2 = "198.18.23.73", "198.18.23.74"
RS1, RS2 = "198.18.23.4", "198.18.23.10"
APP1, APP2 = (ServiceKey.inet(Protocol.TCP, v, 8765) for v in (VIP1, VIP2))
WEB1, WEB2 = (ServiceKey.inet(Protocol.TCP, v, 80) for v in (VIP1, VIP2))
RUNNING = KeepalivedProcesses(
    (
        KeepalivedProcess("parent", 100, True),
        KeepalivedProcess("vrrp", 101, True),
        KeepalivedProcess("checker", 102, True),
    )
)


def read(name: str) -> str:
    return (DATA / name).read_text()


def ipvs(*, rs2: bool) -> list[Service]:
    """lvs1's IPVS table as in the lab: 8765 from keepalived, the manual port-80 rules."""

    def svc(key: ServiceKey, dests: list[str]) -> Service:
        rss = tuple(RealServer(a, key.port, Forward.ROUTE, 1) for a in dests)
        return Service(key, "rr", flags=3 if key.port == 8765 else 2, timeout=120,
                       real_servers=rss)  # fmt: skip

    app = [RS1, RS2] if rs2 else [RS1]
    return [
        svc(WEB1, [RS1, "198.18.23.9"]),
        svc(APP1, app),
        svc(WEB2, [RS1, "198.18.23.9"]),
        svc(APP2, app),
    ]


def lab_state(
    check: str,
    *,
    rs2: bool,
    addresses: dict[str, str] | None = None,
    reuse: StatusReuse | None = None,
) -> KeepalivedState:
    from_json = parse_json(read("lab-lvs1-keepalived.json"))
    stats = parse_stats(read("lab-lvs1-keepalived.stats"))
    data = parse_vrrp_data(read("lab-lvs1-keepalived.data"))
    return join(
        services=ipvs(rs2=rs2),
        processes=RUNNING,
        config=load(str(LAB_CONF), config_id="lvs1"),
        config_file=str(LAB_CONF),
        instances=merge_instances(from_json, stats, data),
        check=parse_check_data(read(check)),
        addresses=addresses if addresses is not None else {"198.18.23.42": "eth0", VIP1: "eth0"},
        reuse=reuse,
    )


def test_instances_merge_json_data_and_stats() -> None:
    k = lab_state("lab-lvs1-keepalived_check.data", rs2=True)
    vi1, vi2 = k.instances
    assert (vi1.name, vi1.state, vi1.base_priority, vi1.effective_priority) == (
        "VI_1", VrrpState.MASTER, 100, 100,
    )  # fmt: skip
    assert vi1.vips_present == (VIP1,) and vi1.master_router is None
    # JSON has no master router: it comes from the data dump, in BACKUP only.
    assert (vi2.state, vi2.master_router, vi2.master_priority) == (
        VrrpState.BACKUP, "198.18.23.44", 100,
    )  # fmt: skip
    assert vi2.vips_present == ()
    # The stats dump (asked for after JSON) gives the counters.
    stats = parse_stats(read("lab-lvs1-keepalived.stats"))
    assert vi1.counters == stats["VI_1"] and vi1.counters.adverts_sent == 73
    assert vi1.last_transition is not None and k.notes == () and k.errors == ()


def test_merge_falls_back_to_the_data_dump_without_json() -> None:
    data = parse_vrrp_data(read("lab-lvs1-keepalived.data"))
    merged = merge_instances([], {"VI_2": VrrpCounters(adverts_received=7)}, data)
    assert [i.name for i in merged] == ["VI_1", "VI_2"]
    assert merged[1].master_router == "198.18.23.44"
    assert merged[1].counters.adverts_received == 7
    assert merged[0].counters == VrrpCounters()


def test_services_get_the_instance_owning_their_vip_and_this_nodes_role() -> None:
    k = lab_state("lab-lvs1-keepalived_check.data", rs2=True)
    roles = {key: (o.instance, o.role) for key, o in k.services.items()}
    assert roles == {
        APP1: ("VI_1", VrrpState.MASTER),
        WEB1: ("VI_1", VrrpState.MASTER),
        APP2: ("VI_2", VrrpState.BACKUP),
        WEB2: ("VI_2", VrrpState.BACKUP),
    }


def test_steady_state_weights_and_health() -> None:
    k = lab_state("lab-lvs1-keepalived_check.data", rs2=True)
    for key in (APP1, APP2):
        for addr in (RS1, RS2):
            st = k.real_server(key, RealServerKey(addr, 8765))
            assert st is not None
            assert (st.configured_weight, st.effective_weight, st.health) == (1, 1, Health.UP)
            assert (st.failed_checkers, st.checkers, st.last_error) == (0, 1, None)
    # The manual port-80 rules: not keepalived's, so no keepalived view of their servers.
    assert k.real_server(WEB1, RealServerKey(RS1, 80)) is None
    assert k.absent_real_servers == ()
    assert {(u.service, u.real_server) for u in k.unexplained} == {(WEB1, None), (WEB2, None)}
    assert all("manual ipvsadm rule" in u.reason for u in k.unexplained)


def test_unchanged_statuses_are_the_previous_joins_objects() -> None:
    """Live polls join each time: a server whose status did not change gets the same
    object back (consumers compare by identity first), a changed one a new object."""
    reuse = StatusReuse()
    up = "lab-lvs1-keepalived_check.data"
    first = lab_state(up, rs2=True, reuse=reuse)
    again = lab_state(up, rs2=True, reuse=reuse)
    assert again.real_servers == first.real_servers
    assert all(again.real_servers[k] is v for k, v in first.real_servers.items())
    down = lab_state("lab-lvs1-rs2-down-keepalived_check.data", rs2=True, reuse=reuse)
    rs1, rs2 = (APP1, RealServerKey(RS1, 8765)), (APP1, RealServerKey(RS2, 8765))
    assert down.real_servers[rs1] is first.real_servers[rs1]
    assert down.real_servers[rs2] is not first.real_servers[rs2]
    assert down.real_servers[rs2].health is Health.DOWN
    # Without reuse: equal values, fresh objects.
    plain = lab_state(up, rs2=True)
    assert plain.real_servers == first.real_servers
    assert plain.real_servers[rs1] is not first.real_servers[rs1]


def test_rs2_down_is_absent_with_its_checker_error() -> None:
    k = lab_state("lab-lvs1-rs2-down-keepalived_check.data", rs2=False)
    assert [(a.service, a.address, a.port) for a in k.absent_real_servers] == [
        (APP1, RS2, 8765),
        (APP2, RS2, 8765),
    ]
    for a in k.absent_real_servers:
        assert a.service_in_ipvs and a.status.health is Health.DOWN
        assert a.status.failed_checkers == 1
        assert a.status.last_error == "HTTP_GET failed: /index.html"
        assert a.status.configured_weight == 1 and "keepalived removed it" in a.reason
    up = k.real_server(APP1, RealServerKey(RS1, 8765))
    assert up is not None and up.health is Health.UP


def test_absent_and_unexplained_agree_with_lint_live() -> None:
    """The join and `lvstop lint --live` share one matcher: same entries, same count."""
    from lvstop.model.snapshot import Snapshot, SourceKind

    cfg = load(str(LAB_CONF), config_id="lvs1")
    services = ipvs(rs2=False)
    services[1] = Service(APP1, "rr", real_servers=(RealServer("198.18.23.99", 8765,
                          Forward.ROUTE, 1), *services[1].real_servers))  # fmt: skip
    findings = lint.lint_live(cfg, Snapshot(0, 0, "lvs1", SourceKind.NETLINK, tuple(services)))
    k = join(services=services, processes=RUNNING, config=cfg)
    codes = [f.code for f in findings]
    assert codes.count("live-missing-rs") == len(k.absent_real_servers) == 2
    unmanaged = codes.count("live-unmanaged-service") + codes.count("live-unmanaged-rs")
    assert unmanaged == len(k.unexplained) == 3
    assert (APP1, RealServerKey("198.18.23.99", 8765)) in {
        (u.service, u.real_server) for u in k.unexplained
    }


def test_no_config_still_shows_checker_health_but_explains_nothing() -> None:
    k = join(
        services=ipvs(rs2=True),
        processes=RUNNING,
        check=parse_check_data(read("lab-lvs1-keepalived_check.data")),
    )
    st = k.real_server(APP2, RealServerKey(RS2, 8765))
    assert st is not None and st.health is Health.UP
    assert st.configured_weight == 1  # keepalived's loaded weight stands in
    assert k.absent_real_servers == () and k.unexplained == ()


def test_keepalived_stopped_everything_configured_is_absent() -> None:
    k = join(
        services=[s for s in ipvs(rs2=True) if s.key.port == 80],
        config=load(str(LAB_CONF), config_id="lvs1"),
        notes=("keepalived is not running in this network namespace",),
    )
    assert not k.running and k.instances == ()
    # The configuration still names the owning instance; no role without keepalived.
    assert {key: (o.instance, o.role) for key, o in k.services.items()} == {
        WEB1: ("VI_1", None),
        WEB2: ("VI_2", None),
    }
    assert len(k.absent_real_servers) == 4
    for a in k.absent_real_servers:
        assert not a.service_in_ipvs and a.status.health is Health.UNKNOWN
        assert "keepalived is not running" in a.reason


def test_vips_present_are_the_nodes_truth_and_disagreement_is_noted() -> None:
    k = lab_state("lab-lvs1-keepalived_check.data", rs2=True, addresses={VIP2: "eth0"})
    vi1, vi2 = k.instances
    assert vi1.vips_present == () and vi2.vips_present == (VIP2,)
    assert k.notes == (
        f"VI_1: keepalived believes VIP {VIP1} is set, but it is not",
        f"VI_2: VIP {VIP2} is on this node but keepalived did not set it",
    )


def test_group_and_fwmark_health_reach_their_ipvs_services() -> None:
    cfg = loads(
        """
        virtual_server_group web {
            198.18.30.1 80
            198.18.30.2 80
        }
        virtual_server group web {
            lb_kind NAT
            protocol TCP
            real_server 198.18.31.1 8080 {
                weight 3
                TCP_CHECK { connect_timeout 2 }
            }
        }
        """,
        config_id="lvs1",
    )
    check = parse_check_data(
        """------< LVS Topology >------
 ------< Virtual server >------
 VS GROUP = web
   protocol = TCP
   ------< Real server >------
   RIP = 198.18.31.1, RPORT = 8080, WEIGHT = 3 EFF WEIGHT = 2
   initial weight = 3
   effective weight = 2
   alive = 0
   num failed checkers = 1
"""
    )
    keys = [ServiceKey.inet(Protocol.TCP, f"198.18.30.{n}", 80) for n in (1, 2)]
    services = [
        Service(k, "wlc", real_servers=(RealServer("198.18.31.1", 8080, Forward.MASQ, 2),))
        for k in keys
    ]
    k = join(services=services, processes=RUNNING, config=cfg, check=check)
    for key in keys:
        st = k.real_server(key, RealServerKey("198.18.31.1", 8080))
        assert st is not None
        assert (st.configured_weight, st.effective_weight, st.health) == (3, 2, Health.DOWN)


def test_expected_wire_prefers_the_configuration() -> None:
    cfg = load(str(LAB_CONF), config_id="lvs1")
    assert expected_wire(cfg, ()) == {51: ((VIP1,), 1.0), 52: ((VIP2,), 1.0)}


def test_reader_without_keepalived_is_a_note_not_an_error(tmp_path: Path) -> None:
    """Here (no keepalived in this namespace, no /etc/keepalived/keepalived.conf)."""
    if Path("/etc/keepalived/keepalived.conf").exists():
        pytest.skip("this host has a keepalived configuration")
    from lvstop.sources.keepalived.runtime.processes import local_daemon

    if local_daemon() is not None:
        pytest.skip("keepalived runs in this network namespace")
    reader = KeepalivedReader(wire=False)
    k = reader.read(ipvs(rs2=True), None)
    assert not k.running and k.processes.processes == () and k.errors == ()
    assert "keepalived is not running in this network namespace" in k.notes
    # An explicit configuration is joined even so, and a missing one is an error.
    k = KeepalivedReader(str(LAB_CONF), wire=False).read(ipvs(rs2=True), None)
    assert k.config_file == str(LAB_CONF) and len(k.unexplained) == 2
    missing = KeepalivedReader(str(tmp_path / "nope.conf"), wire=False).read([], None)
    assert missing.errors and "nope.conf" in missing.errors[0]


def test_reader_rereads_an_edited_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(LAB_CONF.read_text())
    reader = KeepalivedReader(str(conf), wire=False)
    assert len(reader.read(ipvs(rs2=True), None).unexplained) == 2
    conf.write_text(
        LAB_CONF.read_text().replace(
            "virtual_server 198.18.23.74 8765", "virtual_server 198.18.23.74 80"
        )
    )
    k = reader.read(ipvs(rs2=True), None)
    assert (APP2, None) in {(u.service, u.real_server) for u in k.unexplained}


# -- the simulated director --------------------------------------------------------------------


SIM = SimulatedDirector(seed=1)


def sim_state(t: float) -> tuple[list[Service], KeepalivedState]:
    snap = SIM.snapshot_at(t)
    assert snap.keepalived is not None
    return list(snap.services), snap.keepalived


def test_sim_keepalived_is_running_with_both_instances() -> None:
    _, k = sim_state(10)
    assert k.running and k.processes.alive("checker") and k.errors == ()
    assert [(i.name, i.vrid, i.state) for i in k.instances] == [
        ("VI_1", 51, VrrpState.MASTER),
        ("VI_2", 52, VrrpState.BACKUP),
    ]
    vi2 = k.instances[1]
    assert (vi2.master_router, vi2.master_priority) == (PEER_ADDRESS, 100)
    assert k.instances[0].counters.adverts_sent > 0 and vi2.counters.adverts_received > 0
    assert {(u.service, u.real_server) for u in k.unexplained} == {(WEB1, None), (WEB2, None)}


@pytest.mark.parametrize("t", range(0, SimulatedDirector.RS_CYCLE + 2, 7))
def test_sim_roles_follow_vip_presence_and_health_follows_ipvs(t: int) -> None:
    services, k = sim_state(t)
    for svc in services:
        owner = k.service(svc.key)
        assert owner is not None
        assert (owner.role is VrrpState.MASTER) == svc.vip_present
        for rs in svc.real_servers:
            st = k.real_server(svc.key, rs.key)
            if svc.key.port == 80:
                assert st is None
            else:
                assert st is not None and st.health is Health.UP and st.configured_weight == 1
    listed = {(s.key, rs.address) for s in services for rs in s.real_servers}
    for a in k.absent_real_servers:
        assert (a.service, a.address) not in listed
        assert a.status.health is Health.DOWN and a.status.failed_checkers == 1
    removed = (APP1, RS2) not in listed
    assert len(k.absent_real_servers) == (2 if removed else 0)
    assert k.alarms == ()


def test_sim_wire_shows_who_advertises() -> None:
    drop = SimulatedDirector.VRRP_FAILOVERS[0]
    _, before = sim_state(drop.priority_drop - 1)
    assert [(sp.vrid, sp.source, sp.priority) for sp in before.wire] == [
        (51, "198.18.23.42", 100),
        (52, PEER_ADDRESS, 100),
    ]
    _, away = sim_state(drop.priority_drop + 10)
    vi1 = [sp for sp in away.wire if sp.vrid == 51]
    assert {sp.source: sp.priority for sp in vi1} == {"198.18.23.42": 80, PEER_ADDRESS: 90}
    now = SIM.snapshot_at(drop.priority_drop + 10).monotonic
    ages = {sp.source: now - sp.last_seen for sp in vi1}
    assert ages[PEER_ADDRESS] < 1 < ages["198.18.23.42"]
    assert away.wire_since == 0.0
    assert all(sp.adverts >= 1 and math.isfinite(sp.last_seen) for sp in away.wire)


def test_sim_without_keepalived() -> None:
    assert SimulatedDirector(keepalived=False).snapshot_at(5).keepalived is None


def test_report_shows_roles_health_and_the_keepalived_line() -> None:
    from lvstop.report import render

    text = render(SIM.snapshot_at(50))
    lines = text.splitlines()
    assert lines[1].startswith("keepalived: running (parent ")
    assert "checker alive" in lines[1] and "VI_2 BACKUP prio 90, master 198.18.23.44" in lines[1]
    assert lines[2].startswith("VRRP on the wire: vrid 51 198.18.23.42 prio 100")
    app1 = next(ln for ln in lines if ln.startswith("TCP  198.18.23.73:8765"))
    assert "eth0 MASTER" in app1
    assert "absent BACKUP" in next(ln for ln in lines if ln.startswith("TCP  198.18.23.74:8765"))
    assert any(ln.startswith("  -> 198.18.23.4:8765") and ln.endswith("up (eff 1, cfg 1)")
               for ln in lines)  # fmt: skip
    gone = [ln for ln in lines if ln.startswith("  -- 198.18.23.10:8765")]
    assert len(gone) == 2 and all("DOWN, 1 failing: HTTP_GET failed" in ln for ln in gone)
    assert text.count("not in keepalived's configuration (a manual ipvsadm rule)") == 2


def test_cli_no_keepalived_gives_null() -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "lvstop", "snapshot", "--demo", "--json", "--no-keepalived"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert json.loads(out)["keepalived"] is None
