"""keepalived runtime state: parsers on real dumps, safe dump reading, notify FIFO, discovery.

The dumps under tests/data/keepalived-runtime were written by real keepalived 2.2.7 (see
its README). The last tests start real keepalived (VRRP only) in throw-away network
namespaces; they need root, ``ip`` and keepalived and are skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from lvstop.model.ipvs import Protocol, RealServerKey, ServiceKey
from lvstop.model.vrrp import Health, KeepalivedProcess, KeepalivedProcesses, VrrpState
from lvstop.sources.keepalived.runtime import dumps, notify_fifo, processes
from lvstop.sources.keepalived.runtime.dumps import (
    DumpKind,
    DumpRequester,
    parse_check_data,
    parse_json,
    parse_stats,
    parse_vrrp_data,
)
from lvstop.sources.keepalived.runtime.notify_fifo import (
    FifoClosed,
    GroupEvent,
    InstanceEvent,
    NotifyFifoReader,
    NotifyFifoThread,
    RealServerEvent,
    UnknownLine,
    VirtualServerEvent,
    parse_notify_line,
)
from lvstop.sources.keepalived.runtime.processes import KeepalivedDaemon, parse_cmdline

DATA = Path(__file__).resolve().parents[1] / "data" / "keepalived-runtime"
HOST_SETS = [(tag, node) for tag in ("steady", "afault", "aprio") for node in "ab"]


def read(name: str) -> str:
    return (DATA / name).read_text()


# --------------------------------------------------------------------------- JSON


def test_json_master_node() -> None:
    problems: list[str] = []
    vi1, vi2 = parse_json(read("host-steady-a.json"), problems)
    assert problems == []
    assert (vi1.name, vi1.vrid, vi1.interface, vi1.state) == (
        "VI_1",
        151,
        "lvrt-a",
        VrrpState.MASTER,
    )
    # base 150, chk_fail (weight -5) failing: effective 145.
    assert (vi1.base_priority, vi1.effective_priority) == (150, 145)
    assert vi1.vips == ("198.19.77.100", "198.19.77.101")
    assert vi1.vips_present == vi1.vips
    assert vi1.master_priority is None  # JSON says 0 for a MASTER: meaningless
    assert vi1.advert_int == 1.0
    assert vi1.last_transition == pytest.approx(1795883076.332343)
    assert vi1.counters.adverts_sent == 132 and vi1.counters.became_master == 1
    assert vi2.nopreempt and vi2.state is VrrpState.MASTER
    assert vi2.sync_group is None  # not in the JSON (only in the data dump)


def test_json_backup_keeps_master_priority_only_in_backup() -> None:
    by_name = {i.name: i for i in parse_json(read("host-aprio-b.json"))}
    # B became MASTER of VI_1: keepalived's JSON still says master_priority 145 (stale).
    assert by_name["VI_1"].state is VrrpState.MASTER
    assert by_name["VI_1"].master_priority is None
    assert by_name["VI_1"].counters.priority_zero_received == 2
    assert by_name["VI_2"].state is VrrpState.BACKUP
    assert by_name["VI_2"].master_priority == 100
    assert by_name["VI_2"].vips_present == ()


def test_json_fault() -> None:
    vi1 = parse_json(read("host-afault-a.json"))[0]
    assert vi1.state is VrrpState.FAULT
    assert vi1.vips_present == ()
    assert vi1.counters.priority_zero_sent == 1  # a master going FAULT sends priority 0


def test_json_bad_input_is_reported_not_raised() -> None:
    problems: list[str] = []
    assert parse_json("[{", problems) == []
    assert "not valid JSON" in problems[0]
    problems = []
    text = json.dumps([{"data": {"vrid": 1}}, {"nodata": 1}, 5, {"data": {"iname": "X"}}])
    (only,) = parse_json(text, problems)
    assert only.name == "X" and only.state is VrrpState.UNKNOWN
    assert len(problems) == 3
    assert parse_json("{}", problems) == []


# --------------------------------------------------------------------------- stats


def test_stats_equal_json_counters_of_the_same_moment() -> None:
    for tag, node in HOST_SETS:
        problems: list[str] = []
        stats = parse_stats(read(f"host-{tag}-{node}.stats"), problems)
        assert problems == []
        from_json = {i.name: i.counters for i in parse_json(read(f"host-{tag}-{node}.json"))}
        assert stats == from_json, (tag, node)


def test_stats_sums_error_groups_and_tolerates_unknown_lines() -> None:
    text = textwrap.dedent("""\
        VRRP Instance: VI_9
          Advertisements:
            Received: 5
            Sent: 7
          Became master: 1
          Released master: 0
          Packet Errors:
            Length: 1
            TTL: 2
            Checksum: 4
          Authentication Errors:
            Invalid Type: 1
            Failure: 2
          Some new counter: 9
          Priority Zero:
            Received: 3
            Sent: 6
        garbage here
            Received: notanumber
        """)
    problems: list[str] = []
    c = parse_stats(text, problems)["VI_9"]
    assert (c.adverts_received, c.adverts_sent, c.became_master) == (5, 7, 1)
    assert (c.packet_errors, c.auth_errors) == (7, 3)
    assert (c.priority_zero_received, c.priority_zero_sent) == (3, 6)
    assert len(problems) == 2


# --------------------------------------------------------------------------- VRRP data


def test_data_agrees_with_json_on_every_capture() -> None:
    for tag, node in HOST_SETS:
        data = parse_vrrp_data(read(f"host-{tag}-{node}.data"))
        assert data.problems == ()
        for j in parse_json(read(f"host-{tag}-{node}.json")):
            d = data.instance(j.name)
            assert d is not None
            for attr in ("vrid", "interface", "state", "base_priority", "effective_priority",
                         "vips", "vips_present", "nopreempt", "advert_int", "last_transition",
                         "master_priority"):  # fmt: skip
                assert getattr(d, attr) == getattr(j, attr), (tag, node, j.name, attr)


@pytest.mark.parametrize("director", ["lvs1", "lvs2"])
def test_lab_director_dumps_agree(director: str) -> None:
    data = parse_vrrp_data(read(f"lab-{director}-keepalived.data"))
    from_json = parse_json(read(f"lab-{director}-keepalived.json"))
    assert data.problems == () and [i.name for i in from_json] == ["VI_1", "VI_2"]
    for j in from_json:
        d = data.instance(j.name)
        assert d is not None
        assert (d.state, d.effective_priority, d.vips_present) == (
            j.state, j.effective_priority, j.vips_present,
        )  # fmt: skip
    mine = "VI_1" if director == "lvs1" else "VI_2"
    assert {i.name: i.state for i in from_json}[mine] is VrrpState.MASTER
    stats = parse_stats(read(f"lab-{director}-keepalived.stats"))
    assert stats[mine].adverts_sent > 0
    check = parse_check_data(read(f"lab-{director}-keepalived_check.data"))
    assert {rs.health for rs in check.health().values()} == {Health.UP}


def test_lab_check_data_rs2_down_then_up() -> None:
    down = parse_check_data(read("lab-lvs1-rs2-down-keepalived_check.data")).health()
    up = parse_check_data(read("lab-lvs1-rs2-up-keepalived_check.data")).health()
    assert set(down) == set(up) and len(down) == 4
    for (vs, rs), health in down.items():
        if rs.address == "198.18.23.10":
            assert (health.health, health.failed_checkers) == (Health.DOWN, 1), vs
            assert health.last_error == "HTTP_GET failed: /index.html"
        else:
            assert health == up[(vs, rs)]
    assert all(h.health is Health.UP and h.last_error is None for h in up.values())


def test_vips_present_match_ip_addr() -> None:
    for tag, node in HOST_SETS:
        links = json.loads(read(f"host-{tag}-{node}.ipaddr.json"))
        on_link = {a["local"] for link in links for a in link["addr_info"]}
        for inst in parse_vrrp_data(read(f"host-{tag}-{node}.data")).instances:
            assert set(inst.vips_present) == set(inst.vips) & on_link, (tag, node, inst.name)


def test_data_fault_details() -> None:
    data = parse_vrrp_data(read("host-afault-a.data"))
    vi1 = data.instance("VI_1")
    assert vi1 is not None and vi1.state is VrrpState.FAULT
    d = data.detail("VI_1")
    assert d is not None
    assert d.total_priority == 145 and d.wantstate is VrrpState.FAULT
    assert d.tracker_faults == 1 and d.config_faults == 0
    assert [(t.name, t.weight) for t in d.track_scripts] == [("chk_ok", 0), ("chk_fail", -5)]
    assert [(t.name, t.weight) for t in d.track_files] == [("tf_a", 1)]
    (tf,) = data.track_files
    assert (tf.name, tf.path, tf.status, tf.weight) == ("tf_a", "/tmp/lvstop-rt/a/prio", -254, 1)
    ok, fail = data.scripts
    assert (ok.name, ok.good, ok.result, ok.weight) == ("chk_ok", True, 1, 0)
    assert (fail.name, fail.good, fail.weight, fail.command) == (
        "chk_fail", False, -5, "'/usr/bin/false'",
    )  # fmt: skip
    (g2,) = data.sync_groups
    assert (g2.name, g2.state, g2.members) == ("G2", VrrpState.MASTER, ("VI_2",))
    assert data.instance("VI_2").sync_group == "G2"  # type: ignore[union-attr]
    assert data.router_id == "rta"


def test_data_backup_has_master_router() -> None:
    data = parse_vrrp_data(read("host-steady-b.data"))
    vi1 = data.instance("VI_1")
    assert vi1 is not None and vi1.state is VrrpState.BACKUP
    assert (vi1.master_router, vi1.master_priority) == ("198.19.77.1", 145)
    assert data.detail("VI_1").total_priority == 95  # type: ignore[union-attr]


def test_data_reference_capture_from_lab_director() -> None:
    data = parse_vrrp_data(read("ref-lvs1-keepalived.data"))
    vi1, vi2 = data.instances
    assert (vi1.state, vi1.effective_priority, vi1.vips_present) == (
        VrrpState.MASTER, 100, ("198.18.23.73",),
    )  # fmt: skip
    assert (vi2.state, vi2.master_router, vi2.master_priority) == (
        VrrpState.BACKUP, "198.18.23.44", 100,
    )  # fmt: skip
    assert vi2.vips == ("198.18.23.74",) and vi2.vips_present == ()
    assert data.router_id == "lvs1"


# --------------------------------------------------------------------------- check data


def test_check_data_reference_capture() -> None:
    check = parse_check_data(read("ref-lvs1-keepalived_check.data"))
    assert check.problems == ()
    assert [vs.key for vs in check.virtual_servers] == [
        "[198.18.23.73]:tcp:8765",
        "[198.18.23.74]:tcp:8765",
    ]
    vs = check.virtual_servers[0]
    assert vs.service == ServiceKey.inet(Protocol.TCP, "198.18.23.73", 8765)
    assert (vs.quorum, vs.hysteresis, vs.alive, vs.quorum_up) == (1, 0, True, True)
    rs1, rs2 = vs.real_servers
    assert (rs1.address, rs1.port, rs1.health, rs1.failed_checkers) == (
        "198.18.23.4", 8765, Health.UP, 0,
    )  # fmt: skip
    assert rs1.last_error is None and rs1.checkers == 1
    assert (rs2.health, rs2.failed_checkers, rs2.configured_weight, rs2.effective_weight) == (
        Health.DOWN, 1, 1, 1,
    )  # fmt: skip
    assert rs2.last_error == "HTTP_GET failed: /index.html"
    assert len(check.checkers) == 4
    down = [c for c in check.checkers if c.up is False]
    assert {c.address for c in down} == {"198.18.23.10"}
    health = check.health()
    assert health[("[198.18.23.74]:tcp:8765", RealServerKey("198.18.23.10", 8765))].health is (
        Health.DOWN
    )
    by_service = check.health_by_service()
    key = (ServiceKey.inet(Protocol.TCP, "198.18.23.73", 8765), RealServerKey("198.18.23.4", 8765))
    assert by_service[key] is rs1


SYNTHETIC_CHECK = """\
------< Global definitions >------
 Router ID = x
------< LVS Topology >------
 System is compiled with LVS v1.2.1
 ------< Virtual server group >------
 Virtual Server Group = web, IPv4 = yes, IPv6 = no
   VIP = 198.18.30.1, VPORT = 80
     Alive: 1 tcp, 0 udp, 0 sctp
 ------< Virtual server >------
 VS FWMARK = 7
   Address family = inet6
   lvs_sched = wrr
   Inhibit on failure is ON
   quorum = 3, hysteresis = 1
   sorry server = [2001:db8::99]:none:0
   alive = 0
   quorum_state_up = 0
   ------< Real server >------
   RIP = 2001:db8::5, RPORT = 0, WEIGHT = 0 EFF WEIGHT = 0
   Inhibit on failure is ON
   initial weight = 2
   effective weight = 0
   alive = 0
   num failed checkers = 1
 ------< Virtual server >------
 VS GROUP = [web]:80
   protocol = TCP
   quorum = 1, hysteresis = 0
   alive = 1
   quorum_state_up = 1
   ------< Real server >------
   RIP = 198.18.30.4, RPORT = 80, WEIGHT = 3 EFF WEIGHT = 3
   alive = 1
   num failed checkers = 0
   some future line = whatever
 ------< Virtual server >------
 VS VIP = 198.18.30.9
   alive = 1
------< Health checkers >------
 FWM 7 -> [2001:db8::5]:none:0
   Enabled = yes
   Up = no
   Has run = yes
   Current weight = 0
   Connection
     Dest = [2001:db8::5]:80
     Timeout = 3.000000
     Last errno = 111
   Keepalive method = TCP_CHECK
 [web]:80 -> [198.18.30.4]:tcp:80
   Enabled = yes
   Up = yes
   Has run = no
   Current weight = 0
   Keepalive method = MISC_CHECK
------< Checker track files >------
 Track file = t
"""


def test_check_data_fwmark_group_inhibit_errno() -> None:
    check = parse_check_data(SYNTHETIC_CHECK)
    fwm, group = check.virtual_servers
    assert fwm.key == "FWM 7" and fwm.service == ServiceKey.mark(7, fwm.service.family)  # type: ignore[union-attr]
    assert fwm.service.family.label == "inet6"  # type: ignore[union-attr]
    assert (fwm.quorum, fwm.hysteresis, fwm.alive, fwm.quorum_up) == (3, 1, False, False)
    assert fwm.sorry_server == "[2001:db8::99]:none:0"
    (rs,) = fwm.real_servers
    assert (rs.address, rs.health, rs.inhibit_on_failure) == ("2001:db8::5", Health.DOWN, True)
    assert (rs.configured_weight, rs.effective_weight, rs.checkers) == (2, 0, 1)
    assert rs.last_error == os.strerror(111)
    assert group.key == "[web]:80" and group.group == "web" and group.service is None
    (grs,) = group.real_servers
    assert (grs.health, grs.configured_weight, grs.checkers) == (Health.UP, 3, 1)
    # The VIP line without VPORT is reported, not raised.
    assert len(check.problems) == 1 and "198.18.30.9" in check.problems[0]
    assert check.checkers[0].method == "TCP_CHECK" and check.checkers[0].last_errno == 111


ALL_CAPTURES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".data", ".json", ".stats"))


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_parsers_never_raise_on_truncated_or_mangled_dumps(name: str) -> None:
    text = read(name)
    step = max(1, len(text) // 97)
    mangled = text.replace(" = ", " =").replace("\n   ", "\n")
    for cut in [*range(0, len(text), step), len(text)]:
        for sample in (text[:cut], mangled[:cut]):
            parse_json(sample)
            parse_stats(sample)
            parse_vrrp_data(sample)
            parse_check_data(sample)


def test_truncated_data_dump_keeps_what_it_has() -> None:
    text = read("host-steady-a.data")
    cut = text.index("Virtual Router ID = 152")
    data = parse_vrrp_data(text[:cut])
    assert [i.name for i in data.instances] == ["VI_1", "VI_2"]
    vi2 = data.instances[1]
    assert vi2.vrid == 0 and vi2.base_priority == 0  # missing fields: defaults


# --------------------------------------------------------------------------- notify lines


def test_notify_lines() -> None:
    at = 1.5
    assert parse_notify_line('INSTANCE "VI_1" MASTER 100\n', at) == InstanceEvent(
        "VI_1", "MASTER", VrrpState.MASTER, 100, at
    )
    ev = parse_notify_line('INSTANCE "VI 1" MASTER_PRIORITY 85', at)
    assert isinstance(ev, InstanceEvent) and ev.state is VrrpState.MASTER and ev.name == "VI 1"
    ev = parse_notify_line('INSTANCE "VI_1" BACKUP_PRIORITY 145', at)
    assert isinstance(ev, InstanceEvent) and ev.state is VrrpState.BACKUP
    assert parse_notify_line('GROUP "G2" FAULT 0', at) == GroupEvent(
        "G2", "FAULT", VrrpState.FAULT, at
    )
    assert parse_notify_line("RS [198.18.23.10]:tcp:8765 [198.18.23.73]:tcp:8765 DOWN", at) == (
        RealServerEvent(
            "[198.18.23.10]:tcp:8765", "[198.18.23.73]:tcp:8765", False, at, "198.18.23.10", 8765
        )
    )
    ev = parse_notify_line("RS [2001:db8::5]:none:0 FWM 7 UP", at)
    assert isinstance(ev, RealServerEvent) and ev.virtual_server == "FWM 7" and ev.up
    assert ev.address == "2001:db8::5"
    assert parse_notify_line("VS [web]:80 DOWN", at) == VirtualServerEvent("[web]:80", False, at)
    assert parse_notify_line("VS FWM 7 UP", at) == VirtualServerEvent("FWM 7", True, at)
    assert parse_notify_line("HELLO there", at) == UnknownLine("HELLO there", at)
    assert isinstance(parse_notify_line('INSTANCE "x" MASTER', at), UnknownLine)


def test_notify_lines_captured_from_keepalived() -> None:
    for name in ("host-a-notify-fifo.txt", "host-b-notify-fifo.txt"):
        for line in read(name).splitlines():
            stamp, _, text = line.partition(" ")
            if text == "<EOF>":
                continue
            ev = parse_notify_line(text, float(stamp))
            assert isinstance(ev, InstanceEvent | GroupEvent), line
            assert ev.state is not VrrpState.UNKNOWN


# --------------------------------------------------------------------------- cmdline


@pytest.mark.parametrize(
    ("argv", "pid_files", "namespace", "transient"),
    [
        (["keepalived"], {}, None, False),
        (["keepalived", "-n", "-p", "/a", "-r", "/b", "-c", "/c", "-b", "/d"],
         {"parent": "/a", "vrrp": "/b", "checker": "/c", "bfd": "/d"}, None, False),
        (["keepalived", "-nlDp/x.pid", "-s", "ns1"], {"parent": "/x.pid"}, "ns1", False),
        (["keepalived", "--pid=/p", "--vrrp_pid", "/v", "--checkers_p=/c", "--namespace=n"],
         {"parent": "/p", "vrrp": "/v", "checker": "/c"}, "n", False),
        (["keepalived", "-f", "-p", "-D"], {}, None, False),  # -p is the config file here
        (["keepalived", "--signum=JSON"], {}, None, True),
        (["keepalived", "-t"], {}, None, True),
        (["keepalived", "--", "-p", "/x"], {}, None, False),
    ],
)  # fmt: skip
def test_parse_cmdline(
    argv: list[str], pid_files: dict[str, str], namespace: str | None, transient: bool
) -> None:
    cl = parse_cmdline(argv)
    assert dict(cl.pid_files) == pid_files
    assert (cl.namespace, cl.transient) == (namespace, transient)


def test_parse_cmdline_config_file() -> None:
    assert parse_cmdline(["keepalived", "-f", "-p", "-D"]).config_file == "-p"
    assert parse_cmdline(["keepalived", "--use-file=/k.conf"]).config_file == "/k.conf"


def test_local_daemon_selection(tmp_path: Path) -> None:
    from dataclasses import replace

    base = _daemon_for(tmp_path, os.getpid())
    old = replace(base, parent_pid=900, parent_started=10.0, instance_name="a")
    young = replace(base, parent_pid=100, parent_started=20.0, instance_name="b")
    elsewhere = replace(base, parent_pid=50, parent_started=1.0, in_our_netns=False)
    chosen = processes.local_daemon([young, elsewhere, old])
    assert chosen is not None and chosen.parent_pid == 900  # the oldest, not the lowest pid
    assert chosen.problems == ("other keepalived daemons in this netns: 100",)
    assert processes.local_daemon([young, old], instance="b") == young
    assert processes.local_daemon([elsewhere]) is None
    unknown = replace(base, in_our_netns=None)
    only = processes.local_daemon([unknown])
    assert only is not None and "not comparable" in only.problems[0]


# --------------------------------------------------------------------------- dump reading

# A stand-in for keepalived's fopen_safe(): on SIGUSR1 it creates a temp file, renames it
# into place *before* writing, then writes the dump in two halves with a pause, like a
# big dump written by a busy keepalived.
FAKE_WRITER = r"""
import os, signal, sys, tempfile, time
target, payload, pause = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3])
def dump(*_):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target))
    os.rename(tmp, target)
    os.write(fd, payload[: len(payload) // 2])
    time.sleep(pause)
    os.write(fd, payload[len(payload) // 2 :])
    os.close(fd)
signal.signal(signal.SIGUSR1, dump)
signal.signal(signal.SIGRTMIN + 2, dump)
print("ready", flush=True)
while True:
    signal.pause()
"""


@pytest.fixture
def fake_keepalived(tmp_path: Path) -> Iterator[tuple[KeepalivedDaemon, subprocess.Popen[str]]]:
    payload = read("host-steady-a.json")
    target = tmp_path / "keepalived.json"
    target.write_text("[]")  # an old dump: must not be taken for the new one
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_WRITER, str(target), payload, "0.4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    daemon = KeepalivedDaemon(
        parent_pid=proc.pid,
        parent_started=psutil.Process(proc.pid).create_time(),
        exe=None,
        cmdline=("keepalived",),
        uid=os.getuid(),
        processes=KeepalivedProcesses(
            (KeepalivedProcess("parent", proc.pid, True), KeepalivedProcess("vrrp", proc.pid, True))
        ),
        pid_files={},
        root="",
        tmpdir=str(tmp_path),
        netns_inode=None,
        in_our_netns=True,
    )
    try:
        yield daemon, proc
    finally:
        proc.kill()
        proc.wait()


def test_dump_read_waits_for_writer_to_close(
    fake_keepalived: tuple[KeepalivedDaemon, subprocess.Popen[str]],
) -> None:
    daemon, _proc = fake_keepalived
    req = DumpRequester(daemon, timeout=3.0)
    t0 = time.monotonic()
    parsed = req.json()
    assert parsed.problems == ()
    assert time.monotonic() - t0 >= 0.35  # it waited for the second half
    assert [i.name for i in parsed.value] == ["VI_1", "VI_2"]
    assert parsed.dump.fresh


def test_dump_rate_limit_serves_last_result(
    fake_keepalived: tuple[KeepalivedDaemon, subprocess.Popen[str]],
) -> None:
    daemon, _proc = fake_keepalived
    sent: list[int] = []
    now, start = [100.0], time.monotonic()

    def send(pid: int, sig: int) -> None:
        sent.append(sig)
        os.kill(pid, sig)

    req = DumpRequester(daemon, min_interval=5.0, timeout=3.0, send_signal=send,
                        clock=lambda: now[0] + time.monotonic() - start)  # fmt: skip
    # The stepped clock drives the rate-limit window; it also runs with real time, so
    # a dump that never comes ends at the read deadline instead of hanging the test.
    first = req.request(DumpKind.JSON)
    assert first.fresh and len(sent) == 1
    now[0] += 1.0
    second = req.request(DumpKind.JSON)
    assert not second.fresh and second.files == first.files and len(sent) == 1
    now[0] += 5.0
    req.request(DumpKind.JSON)
    assert len(sent) == 2
    assert sent[0] == dumps.signal_number("JSON")


def test_dump_asked_for_before_a_change_is_never_served_after_it(
    fake_keepalived: tuple[KeepalivedDaemon, subprocess.Popen[str]],
) -> None:
    """The lab's flake: a routine read asked for JSON just before the VIP moved (old
    roles), and the urgent read right after it got that same dump from the rate
    limit, so MASTER showed only at the next routine read, 2 s later."""
    daemon, _proc = fake_keepalived
    sent: list[int] = []
    slept: list[float] = []
    now, start = [100.0], time.monotonic()  # stepped, and running with real time (see above)

    def send(pid: int, sig: int) -> None:
        sent.append(sig)
        os.kill(pid, sig)

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    req = DumpRequester(daemon, min_interval=2.0, timeout=3.0, send_signal=send,
                        clock=lambda: now[0] + time.monotonic() - start, sleep=sleep)  # fmt: skip
    routine = req.request(DumpKind.JSON)
    assert len(sent) == 1
    done = req._clock()
    now[0] += 0.1  # the VIP moves now
    moved = req._clock()
    now[0] += 0.01
    urgent = req.request(DumpKind.JSON, 0.25, fresh_after=moved)
    assert len(sent) == 2 and urgent.fresh and urgent is not routine
    # The rest of the 0.25 s window was waited out (not served stale).
    assert len(slept) == 1 and 0 < slept[0] <= 0.14 and done + 0.25 <= req._clock()
    # Asked for after the move: shared by the next urgent caller, no new signal.
    assert req.request(DumpKind.JSON, 0.25, fresh_after=moved) is urgent
    assert len(sent) == 2
    # Without fresh_after the plain rate limit still applies.
    assert not req.request(DumpKind.JSON).fresh and len(sent) == 2


def test_dump_read_gives_up_with_a_problem(tmp_path: Path) -> None:
    daemon = _daemon_for(tmp_path, os.getpid())
    req = DumpRequester(daemon, timeout=0.2, send_signal=lambda pid, sig: None)
    dump = req.request(DumpKind.STATS)
    assert dump.files == ()
    assert "wrote no new keepalived.stats" in dump.problems[0]


def test_dump_refuses_symlink_and_foreign_owner(tmp_path: Path) -> None:
    daemon = _daemon_for(tmp_path, os.getpid())
    secret = tmp_path / "secret"
    secret.write_text("[]")

    def plant_symlink(pid: int, sig: int) -> None:
        (tmp_path / "keepalived.json").symlink_to(secret)

    dump = DumpRequester(daemon, timeout=0.5, send_signal=plant_symlink).request(DumpKind.JSON)
    assert dump.files[0].text is None and "symlink" in (dump.files[0].problem or "")
    (tmp_path / "keepalived.json").unlink()
    if os.geteuid() != 0:
        return

    def plant_foreign(pid: int, sig: int) -> None:
        p = tmp_path / "keepalived.json"
        p.write_text("[]")
        os.chown(p, 65534, 65534)

    dump = DumpRequester(daemon, timeout=0.5, send_signal=plant_foreign).request(DumpKind.JSON)
    assert dump.files[0].text is None and "owned by uid 65534" in (dump.files[0].problem or "")


def test_dump_signal_refused_when_pid_was_reused(tmp_path: Path) -> None:
    daemon = _daemon_for(tmp_path, os.getpid(), started=1.0)
    sent: list[int] = []
    dump = DumpRequester(daemon, send_signal=lambda p, s: sent.append(s)).request(DumpKind.JSON)
    assert sent == [] and "replaced" in dump.problems[0]


def test_dump_data_file_names_with_data_use_instance(tmp_path: Path) -> None:
    daemon = _daemon_for(tmp_path, os.getpid(), netns="lvrtB", instance="nodeB")
    vrrp_text = read("host-steady-b.data")

    def write(pid: int, sig: int) -> None:
        (tmp_path / "keepalived.lvrtB_nodeB.data").write_text(vrrp_text)
        (tmp_path / "keepalived_parent.lvrtB_nodeB.data").write_text("parent\n")

    parsed = DumpRequester(daemon, timeout=1.0, send_signal=write).data()
    vrrp, check = parsed.value
    assert parsed.problems == ()
    assert vrrp is not None and [i.name for i in vrrp.instances] == ["VI_1", "VI_2"]
    assert check is None  # no checker process: not waited for


def test_signal_numbers() -> None:
    for name, number in dumps.FALLBACK_SIGNUMS.items():
        assert dumps.signal_number(name, "/nonexistent/keepalived") == number
    if shutil.which("keepalived"):
        assert dumps.signal_number("JSON") == int(
            subprocess.run(
                ["keepalived", "--signum=JSON"], capture_output=True, text=True, check=True
            ).stdout
        )


def _daemon_for(
    tmp: Path,
    pid: int,
    *,
    started: float | None = None,
    netns: str | None = None,
    instance: str | None = None,
) -> KeepalivedDaemon:
    return KeepalivedDaemon(
        parent_pid=pid,
        parent_started=started if started is not None else psutil.Process(pid).create_time(),
        exe=None,
        cmdline=("keepalived",),
        uid=os.getuid(),
        processes=KeepalivedProcesses(
            (KeepalivedProcess("parent", pid, True), KeepalivedProcess("vrrp", pid, True))
        ),
        pid_files={},
        root="",
        tmpdir=str(tmp),
        netns_inode=None,
        in_our_netns=True,
        netns_name=netns,
        instance_name=instance,
    )


# --------------------------------------------------------------------------- notify FIFO


def _wait_events(reader: NotifyFifoReader, n: int, timeout: float = 3.0) -> list[object]:
    events: list[object] = []
    deadline = time.monotonic() + timeout
    while len(events) < n and time.monotonic() < deadline:
        events += reader.read_ready()
        time.sleep(0.02)
    return events


def test_fifo_reader_lines_eof_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "notify.fifo"
    os.mkfifo(path, 0o600)
    # keepalived opens its end O_RDWR|O_NONBLOCK; lines written before we come are kept.
    writer = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    os.write(writer, b'GROUP "G2" BACKUP 0\nINSTANCE "VI_1" BACKUP 100\n')
    reader = NotifyFifoReader(str(path), reopen_interval=0.05)
    with reader:
        events = _wait_events(reader, 2)
        assert [type(e) for e in events] == [GroupEvent, InstanceEvent]
        assert reader.fileno() is not None and reader.status.startswith("reading")
        os.write(writer, b'INSTANCE "VI_1" MAS')  # a line in two writes
        assert reader.read_ready() == []
        os.write(writer, b"TER 100\n")
        (ev,) = _wait_events(reader, 1)
        assert isinstance(ev, InstanceEvent) and ev.event == "MASTER"
        os.close(writer)  # keepalived stops or reloads
        events = _wait_events(reader, 1)
        assert [type(e) for e in events] == [FifoClosed]
        assert reader.fileno() is None and "waiting" in reader.status
        assert _wait_events(reader, 1, timeout=0.3) == []  # no writer: no repeated EOF events
        writer = os.open(path, os.O_RDWR | os.O_NONBLOCK)  # keepalived is back
        os.write(writer, b"RS [198.18.23.10]:tcp:8765 [198.18.23.73]:tcp:8765 UP\n")
        (ev,) = _wait_events(reader, 1)
        assert isinstance(ev, RealServerEvent) and ev.up
    os.close(writer)


def test_fifo_reader_follows_a_recreated_fifo(tmp_path: Path) -> None:
    path = tmp_path / "notify.fifo"
    os.mkfifo(path)
    old = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    reader = NotifyFifoReader(str(path), reopen_interval=0.05, rescan_interval=0.05)
    with reader:
        reader.read_ready()
        assert reader.reading
        # keepalived unlinks a FIFO it created and makes a new one; an extra holder of
        # the old one (here `old`) keeps it from ever giving EOF.
        path.unlink()
        os.mkfifo(path)
        new = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        os.write(new, b'INSTANCE "VI_1" FAULT 100\n')
        (ev,) = _wait_events(reader, 1)
        assert isinstance(ev, InstanceEvent) and ev.state is VrrpState.FAULT
    os.close(old)
    os.close(new)


def test_fifo_reader_refuses_to_steal_from_another_reader(tmp_path: Path) -> None:
    path = tmp_path / "notify.fifo"
    os.mkfifo(path)
    writer = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; f = open(sys.argv[1]); time.sleep(60)", str(path)]
    )
    try:
        deadline = time.monotonic() + 5
        while not notify_fifo.fifo_readers(str(path)) and time.monotonic() < deadline:
            time.sleep(0.02)
        reader = NotifyFifoReader(str(path))
        assert reader.read_ready() == []
        assert not reader.reading
        assert [r.pid for r in reader.refused_by] == [other.pid]
        assert "already reads it" in reader.status and str(other.pid) in reader.status
        with NotifyFifoReader(str(path), allow_shared=True) as shared:
            shared.read_ready()
            assert shared.reading
        # A writer-only process is no reader.
        assert notify_fifo.fifo_readers(str(path), exclude=[other.pid]) == []
    finally:
        other.kill()
        other.wait()
        os.close(writer)


def test_fifo_reader_missing_and_not_a_fifo(tmp_path: Path) -> None:
    reader = NotifyFifoReader(str(tmp_path / "absent"))
    assert reader.read_ready() == [] and "no FIFO" in reader.status
    plain = tmp_path / "plain"
    plain.write_text('INSTANCE "x" MASTER 1\n')
    reader = NotifyFifoReader(str(plain))
    assert reader.read_ready() == [] and "not a FIFO" in reader.status


def test_fifo_thread_stamps_and_wakes(tmp_path: Path) -> None:
    import select

    path = tmp_path / "notify.fifo"
    os.mkfifo(path)
    writer = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    with NotifyFifoThread(NotifyFifoReader(str(path), reopen_interval=0.05)) as thread:
        before = time.time()
        os.write(writer, b'INSTANCE "VI_1" MASTER 100\nVS [198.18.23.73]:tcp:8765 DOWN\n')
        ready, _, _ = select.select([thread], [], [], 3.0)
        assert ready
        time.sleep(0.1)
        events = thread.drain()
        assert [type(e) for e in events] == [InstanceEvent, VirtualServerEvent]
        assert all(before <= e.at <= time.time() for e in events)  # type: ignore[union-attr]
        assert thread.drain() == []
    os.close(writer)


# --------------------------------------------------------------------------- real keepalived

HAVE_REAL = (
    sys.platform == "linux"
    and os.geteuid() == 0
    and shutil.which("keepalived") is not None
    and shutil.which("ip") is not None
)
real = pytest.mark.skipif(not HAVE_REAL, reason="needs root, ip and keepalived")


class _NetnsKeepalived:
    """One netns with a veth end and a VRRP-only keepalived, started and cleaned up."""

    def __init__(self, tmp: Path, tag: str) -> None:
        self.ns = f"lvut{os.getpid() % 100000}{tag}"
        self.peer = f"{self.ns}p"
        self.dir = tmp / tag
        self.dir.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None

    def up(self, conf: str, argv: list[str], in_netns: bool) -> None:
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "link", "add", "v0", "netns", self.ns, "type", "veth", "peer",
                        "name", self.peer, "netns", self.ns], check=True)  # fmt: skip
        for cmd in (["addr", "add", "198.19.99.1/24", "dev", "v0"], ["link", "set", "v0", "up"],
                    ["link", "set", self.peer, "up"], ["link", "set", "lo", "up"]):  # fmt: skip
            subprocess.run(["ip", "-n", self.ns, *cmd], check=True)
        (self.dir / "keepalived.conf").write_text(conf.replace("NS", self.ns))
        prefix = ["ip", "netns", "exec", self.ns] if in_netns else []
        self.proc = subprocess.Popen(
            [*prefix, "keepalived", "-n", "-l", "-D", "--no-syslog", "-f",
             str(self.dir / "keepalived.conf"), *argv],
            env={**os.environ, "TMPDIR": str(self.dir)},
            stdout=(self.dir / "log").open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def down(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["ip", "netns", "del", self.ns], check=False, capture_output=True)

    def run_here(self, code: str) -> str:
        """Run python code inside the netns (so discovery sees it as 'ours')."""
        out = subprocess.run(
            ["ip", "netns", "exec", self.ns, sys.executable, "-c", code],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return out.stdout


VRRP_CONF = """\
INSTANCE_LINE
global_defs {
    router_id ut
    notify_fifo DIR/notify.fifo
}
vrrp_instance VI_1 {
    state MASTER
    interface v0
    virtual_router_id 199
    priority 120
    advert_int 1
    virtual_ipaddress {
        198.19.99.100/24
    }
}
"""

DISCOVER = """
import json
from lvstop.sources.keepalived.runtime.processes import local_daemon
from lvstop.sources.keepalived.runtime.dumps import DumpRequester
d = local_daemon()
if d is None:
    print(json.dumps(None))
else:
    j = DumpRequester(d).json()
    print(json.dumps({
        "parent": d.parent_pid, "procs": [[p.role, p.pid, p.alive] for p in d.processes.processes],
        "pid_files": dict(d.pid_files), "tmpdir": d.tmpdir, "netns": d.netns_name,
        "instance": d.instance_name, "problems": list(d.problems),
        "states": {i.name: i.state.value for i in j.value}, "json_problems": list(j.problems),
    }))
"""


def _discover_until(k: _NetnsKeepalived, ok: object, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        found = json.loads(k.run_here(DISCOVER))
        if found is not None and callable(ok) and ok(found):
            return found  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"not as expected: {found}\n{(k.dir / 'log').read_text()[-3000:]}")
        time.sleep(0.5)


@real
def test_real_keepalived_pidfile_overrides(tmp_path: Path) -> None:
    k = _NetnsKeepalived(tmp_path, "a")
    pidf = {r: str(k.dir / f"{r}.pid") for r in ("k", "v", "c", "b")}
    try:
        conf = VRRP_CONF.replace("INSTANCE_LINE", "").replace("DIR", str(k.dir))
        k.up(conf, ["-p", pidf["k"], "-r", pidf["v"], "-c", pidf["c"], "-b", pidf["b"]], True)
        found = _discover_until(k, lambda f: "VI_1" in f["states"] and len(f["procs"]) == 2)
        parent = int(Path(pidf["k"]).read_text())
        vrrp = int(Path(pidf["v"]).read_text())
        assert found["parent"] == parent
        assert found["procs"] == [["parent", parent, True], ["vrrp", vrrp, True]]
        assert found["pid_files"] == {"parent": pidf["k"], "vrrp": pidf["v"]}
        assert found["tmpdir"] == str(k.dir) and found["problems"] == []
        assert found["json_problems"] == []
        # From the root namespace this daemon is not "ours".
        mine = processes.local_daemon()
        assert mine is None or mine.parent_pid != parent
        # The respawn window, frozen: parent stopped, VRRP child killed (a zombie).
        os.kill(parent, signal.SIGSTOP)
        try:
            os.kill(vrrp, signal.SIGKILL)
            found = _discover_until(k, lambda f: f["procs"][-1] == ["vrrp", vrrp, False])
        finally:
            os.kill(parent, signal.SIGCONT)
        # The parent respawns the child and rewrites the pid file.
        found = _discover_until(k, lambda f: f["procs"][-1][1] != vrrp and f["procs"][-1][2])
        respawned = int(Path(pidf["v"]).read_text())
        assert found["procs"][-1] == ["vrrp", respawned, True]
        # Without its pid file the VRRP child is still recognised (raw socket, proto 112).
        Path(pidf["v"]).rename(k.dir / "moved.pid")
        found = _discover_until(k, lambda f: "VI_1" in f["states"])
        assert found["procs"][-1] == ["vrrp", respawned, True]
        assert found["problems"] == [f"child {respawned} identified as vrrp without a pid file"]
    finally:
        k.down()


@real
def test_real_keepalived_netns_and_instance_variant(tmp_path: Path) -> None:
    k = _NetnsKeepalived(tmp_path, "b")
    try:
        conf = VRRP_CONF.replace("INSTANCE_LINE", "net_namespace NS\ninstance ut1")
        k.up(conf.replace("DIR", str(k.dir)), [], in_netns=False)  # keepalived joins the netns
        found = _discover_until(k, lambda f: "VI_1" in f["states"])
        outside = f"/run/keepalived/{k.ns}"
        parent = int(Path(f"{outside}/keepalived_ut1.pid").read_text())
        assert found["parent"] == parent
        assert found["pid_files"] == {
            "parent": f"{outside}/keepalived_ut1.pid",
            "vrrp": f"{outside}/vrrp_ut1.pid",
        }
        assert (found["netns"], found["instance"]) == (k.ns, "ut1")
    finally:
        k.down()
    assert not Path(f"/run/keepalived/{k.ns}").exists()  # keepalived removes its pid dir


@real
def test_real_keepalived_exits_when_a_child_dies_without_respawn(tmp_path: Path) -> None:
    # keepalived 2.2.7 has no lasting "child dead, parent alive" state: with -R (and for
    # a child exiting FATAL, e.g. the checker without IPVS) the whole daemon stops.
    k = _NetnsKeepalived(tmp_path, "c")
    pidf = {r: str(k.dir / f"{r}.pid") for r in ("k", "v")}
    try:
        conf = VRRP_CONF.replace("INSTANCE_LINE", "").replace("DIR", str(k.dir))
        k.up(conf, ["-R", "-p", pidf["k"], "-r", pidf["v"]], True)
        found = _discover_until(k, lambda f: len(f["procs"]) == 2)
        os.kill(found["procs"][1][1], signal.SIGKILL)  # type: ignore[index]
        assert k.proc is not None
        k.proc.wait(10)
        assert json.loads(k.run_here(DISCOVER)) is None
    finally:
        k.down()
