"""The lab itself works: real IPVS, VRRP, LVS-DR, HTTP_GET health checks and failover."""

from __future__ import annotations

import time
from pathlib import Path

from topology import (
    ADDR,
    BACKUP,
    DIRECTORS,
    MANUAL_PORT,
    MANUAL_REAL_SERVERS,
    MASTER,
    PORT,
    RS_ADDRS,
    VIP1,
    VIP2,
    VIPS,
    IpvsCounters,
    Topology,
    parse_ipvsadm,
)
from vm import IPVS_SCHEDULERS


def vrrp_states(data: str) -> dict[str, str]:
    """Instance name -> State from the VRRP part of keepalived.data."""
    states: dict[str, str] = {}
    for block in data.split(" VRRP Instance = ")[1:]:
        name = block.split()[0]
        for line in block.splitlines():
            if line.strip().startswith("State = "):
                states[name] = line.split("=", 1)[1].strip()
                break
    return states


def rs_blocks(check_data: str, rip: str, rport: int) -> list[str]:
    """The ``RIP = rip, RPORT = rport`` blocks of keepalived_check.data."""
    head = f"RIP = {rip}, RPORT = {rport}"
    blocks = []
    for part in check_data.split(head)[1:]:
        end = min(
            (i for i in (part.find("RIP = "), part.find("VS VIP = "), part.find("------<"))
             if i >= 0),
            default=len(part),
        )
        blocks.append(part[:end])
    return blocks


def fresh_dump(topo: Topology, director: str, sigfunc: str, filename: str) -> str:
    """Ask keepalived for a dump file and return its complete content."""
    path: Path = topo.tmpdir(director) / filename
    path.unlink(missing_ok=True)
    topo.keepalived_signal(director, sigfunc)
    last = [-1]

    def complete() -> str:
        if not path.exists():
            return ""
        text = path.read_text(errors="replace")
        stable = len(text) == last[0] and len(text) > 0
        last[0] = len(text)
        return text if stable else ""

    return topo.wait_for(complete, 30, 0.5, f"{path} to be written")


def test_keepalived_configs_are_valid(seed: Topology) -> None:
    for d in DIRECTORS:
        proc = seed.run(d, "keepalived", "-t", "-f", str(seed.keepalived_conf(d)), check=False)
        assert proc.returncode == 0, f"keepalived -t {d}: rc {proc.returncode}\n{proc.stderr}"


def test_vrrp_converged_as_designed(seed: Topology) -> None:
    eth0 = {d: seed.addrs(d)["eth0"] for d in DIRECTORS}
    assert f"{ADDR['lvs1']}/24" in eth0["lvs1"]
    assert f"{ADDR['lvs2']}/24" in eth0["lvs2"]
    assert f"{VIP1}/32" in eth0["lvs1"] and f"{VIP2}/32" not in eth0["lvs1"]
    assert f"{VIP2}/32" in eth0["lvs2"] and f"{VIP1}/32" not in eth0["lvs2"]
    for d in DIRECTORS:
        assert {"parent", "vrrp", "checker"} <= seed.keepalived_pids(d).keys()
    # keepalived's own view, dumped into each director's own TMPDIR.
    assert vrrp_states(fresh_dump(seed, "lvs1", "DATA", "keepalived.data")) == {
        "VI_1": "MASTER", "VI_2": "BACKUP"}
    assert vrrp_states(fresh_dump(seed, "lvs2", "DATA", "keepalived.data")) == {
        "VI_1": "BACKUP", "VI_2": "MASTER"}


def test_ipvs_tables_on_both_directors(seed: Topology) -> None:
    for d in DIRECTORS:
        table = seed.ipvs(d, stats=False)
        for vip in VIPS:
            svc = table[f"TCP {vip}:{PORT}"]
            assert svc.scheduler == "rr"
            assert svc.flags == "persistent 120"
            assert set(svc.dests) == {f"{a}:{PORT}" for a in RS_ADDRS}
            assert all(dst.forward == "Route" and dst.weight == 1 for dst in svc.dests.values())
            manual = table[f"TCP {vip}:{MANUAL_PORT}"]
            assert manual.scheduler == "rr" and manual.flags == ""
            assert set(manual.dests) == {f"{a}:{MANUAL_PORT}" for a in MANUAL_REAL_SERVERS}


def settled_stats(
    topo: Topology, keys: list[tuple[str, str]], rounds: int = 10
) -> dict[tuple[str, str], IpvsCounters]:
    """Counters of (director, "TCP vip:port") pairs once they stop changing.

    The kernel (6.1) folds its per-CPU IPVS counters into what ipvsadm reports from the
    2-second estimation timer, so readings lag; wait for two equal readings 2.5 s apart.
    """

    def read() -> dict[tuple[str, str], IpvsCounters]:
        tables = {d: topo.ipvs(d) for d in {d for d, _ in keys}}
        out: dict[tuple[str, str], IpvsCounters] = {}
        for d, key in keys:
            stats = tables[d][key].stats
            assert stats is not None
            out[(d, key)] = stats
        return out

    prev = read()
    for _ in range(rounds):
        time.sleep(2.5)
        cur = read()
        if cur == prev:
            return cur
        prev = cur
    raise AssertionError(f"IPVS counters did not settle: {prev}")


def test_client_reaches_both_vips_through_dr(seed: Topology) -> None:
    plan = {VIP1: seed.claim_sources(8), VIP2: seed.claim_sources(8)}
    keys = [(d, f"TCP {vip}:{PORT}") for vip in VIPS for d in DIRECTORS]
    before = settled_stats(seed, keys)
    for vip, sources in plan.items():
        result = seed.traffic(vip, 16, sources=sources)
        assert result.ok == 16, result
        # rr over 8 new persistent clients: both real servers answer.
        assert set(result.servers) == {"rs1", "rs2"}, result
    after = settled_stats(seed, keys)
    for vip in VIPS:
        key = f"TCP {vip}:{PORT}"
        b, a = before[(MASTER[vip], key)], after[(MASTER[vip], key)]
        # The master scheduled every connection...
        assert a.conns - b.conns == 16, (vip, b, a)
        assert a.inpkts > b.inpkts
        # ...and, direct routing, never saw a reply: they go from the RS to the client.
        assert a.outpkts == b.outpkts == 0
        # The backup saw nothing.
        assert after[(BACKUP[vip], key)].conns == before[(BACKUP[vip], key)].conns
    # The connection table shows the persistence templates (client port 0).
    conns = seed.run(MASTER[VIP1], "ipvsadm", "-Lnc").stdout
    assert f"{plan[VIP1][0]}:0" in conns


def test_active_connections_are_counted(seed: Topology) -> None:
    key = f"TCP {VIP2}:{PORT}"
    with seed.hold_connections(VIP2, 4, sources=seed.claim_sources(4)) as n:
        assert n == 4

        def active() -> int:
            svc = seed.ipvs(MASTER[VIP2], stats=False)[key]
            return sum(dst.active for dst in svc.dests.values())

        assert seed.wait_for(lambda: active() >= 4, 30, 0.5, "4 active connections")


def test_http_check_removes_and_readds_real_server(lab: Topology) -> None:
    rs2 = f"{ADDR['rs2']}:{PORT}"
    rs1 = f"{ADDR['rs1']}:{PORT}"

    def rs2_everywhere(present: bool) -> bool:
        return all(
            (rs2 in lab.ipvs_dests(d, vip)) == present for d in DIRECTORS for vip in VIPS
        )

    t0 = time.monotonic()
    with lab.http_stopped("rs2"):
        lab.wait_for(lambda: rs2_everywhere(False), 60, 0.5, "HTTP_GET to remove rs2")
        removed_after = time.monotonic() - t0
        for d in DIRECTORS:
            for vip in VIPS:
                assert lab.ipvs_dests(d, vip) == {rs1}
        # keepalived's checker agrees (its dump goes to the director's own TMPDIR).
        data = fresh_dump(lab, "lvs1", "DATA", "keepalived_check.data")
        blocks = rs_blocks(data, ADDR["rs2"], PORT)
        assert len(blocks) == 2, data
        assert all("alive = 0" in b for b in blocks), blocks
        # The service keeps working on the remaining real server.
        result = lab.traffic(VIP1, 4, sources=lab.claim_sources(4))
        assert result.ok == 4 and set(result.servers) == {"rs1"}, result
        t1 = time.monotonic()
    lab.wait_for(lambda: rs2_everywhere(True), 60, 0.5, "HTTP_GET to re-add rs2")
    print(f"rs2 removed {removed_after:.1f} s after stop, back "
          f"{time.monotonic() - t1:.1f} s after restart")


def test_keepalived_stop_moves_vip_and_start_takes_it_back(lab: Topology) -> None:
    t0 = time.monotonic()
    with lab.keepalived_stopped("lvs1"):
        assert lab.keepalived_pids("lvs1") == {}
        lab.wait_for(lambda: lab.vip_holders(VIP1) == ["lvs2"], 60, 0.3, f"{VIP1} on lvs2")
        moved_after = time.monotonic() - t0
        assert lab.vip_holders(VIP2) == ["lvs2"]
        src = lab.claim_sources(1)[0]
        status = lab.wait_for(lambda: lab.http_get(VIP1, source=src, timeout=3),
                              30, 0.5, f"{VIP1} to answer through lvs2")
        assert status == 200
        # keepalived removed the virtual servers it had configured on lvs1 when it stopped
        # (no -I), but it never managed the hand-made services: they stay.
        table = lab.ipvs("lvs1", stats=False)
        for vip in VIPS:
            assert f"TCP {vip}:{PORT}" not in table
            assert set(table[f"TCP {vip}:{MANUAL_PORT}"].dests) == {
                f"{a}:{MANUAL_PORT}" for a in MANUAL_REAL_SERVERS}
        t1 = time.monotonic()
    lab.wait_for(lambda: lab.vip_holders(VIP1) == ["lvs1"], 60, 0.3, f"{VIP1} back on lvs1")
    back_after = time.monotonic() - t1
    assert lab.vip_holders(VIP2) == ["lvs2"]
    assert lab.http_get(VIP1, source=lab.claim_sources(1)[0]) == 200
    print(f"{VIP1} moved to lvs2 {moved_after:.1f} s after stop, back "
          f"{back_after:.1f} s after restart")


def test_scratch_namespace_has_its_own_ipvs_table(seed: Topology, scratch_ns: str) -> None:
    assert parse_ipvsadm(seed.run(scratch_ns, "ipvsadm", "-Ln").stdout) == {}
    vip = "198.18.30.1"
    for i, sched in enumerate(IPVS_SCHEDULERS):
        seed.run(scratch_ns, "ipvsadm", "-A", "-t", f"{vip}:{1000 + i}", "-s", sched)
    seed.run(scratch_ns, "ipvsadm", "-A", "--sctp-service", f"{vip}:2000", "-s", "rr")
    seed.run(scratch_ns, "ipvsadm", "-A", "-u", f"{vip}:53", "-s", "rr")
    seed.run(scratch_ns, "ipvsadm", "-A", "-f", "7", "-s", "rr")
    table = parse_ipvsadm(seed.run(scratch_ns, "ipvsadm", "-Ln").stdout)
    assert {table[f"TCP {vip}:{1000 + i}"].scheduler for i in range(len(IPVS_SCHEDULERS))} == set(
        IPVS_SCHEDULERS)
    assert f"SCTP {vip}:2000" in table and f"UDP {vip}:53" in table and "FWM 7" in table
    # None of it leaks into the seed directors' tables.
    assert not any(vip in key for key in seed.ipvs("lvs1", stats=False))
