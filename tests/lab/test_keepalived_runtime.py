"""keepalived's runtime state as lvstop reads it, against the real keepalived of the seed.

lvstop's code runs inside a director's namespace (``ip netns exec lvs1 python``) so that
process discovery sees that namespace's keepalived as "ours", exactly as lvstop would
when run on a director. The dumps it read are saved to the results directory
(``keepalived-runtime/``) for use as test data.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from topology import ADDR, DIRECTORS, PORT, RS_ADDRS, VIP1, VIP2, Topology

# Runs inside a namespace; prints one JSON object. argv: mode [args...]
PROBE = r"""
import dataclasses, json, sys, time
from lvstop.sources.keepalived.runtime import dumps, processes

def daemon(d):
    return {"parent": d.parent_pid, "pid_files": dict(d.pid_files), "tmpdir": d.tmpdir,
            "in_our_netns": d.in_our_netns, "problems": list(d.problems),
            "procs": [[p.role, p.pid, p.alive] for p in d.processes.processes]}

def inst(i):
    return {"name": i.name, "vrid": i.vrid, "interface": i.interface, "state": i.state.value,
            "base": i.base_priority, "effective": i.effective_priority,
            "vips": list(i.vips), "present": list(i.vips_present),
            "master_router": i.master_router, "master_priority": i.master_priority,
            "nopreempt": i.nopreempt, "counters": dataclasses.asdict(i.counters)}

def health(check):
    if check is None:
        return None
    return [{"vs": vs.key, "rs": f"{rs.address}:{rs.port}", "health": rs.health.value,
             "failed": rs.failed_checkers, "checkers": rs.checkers, "error": rs.last_error,
             "weight": rs.effective_weight, "vs_alive": vs.alive}
            for vs in check.virtual_servers for rs in vs.real_servers]

def texts(*parsed):
    return {f.name: f.text for p in parsed for f in p.dump.files}

mode, args = sys.argv[1], sys.argv[2:]
d = processes.local_daemon()
out = {"daemon": daemon(d) if d else None,
       "all": [x.parent_pid for x in processes.find_daemons()]}
if d is not None and mode == "dumps":
    r = dumps.DumpRequester(d)
    j, s, dd = r.json(), r.stats(), r.data()
    vrrp, check = dd.value
    out.update(
        json=[inst(i) for i in j.value],
        stats={k: dataclasses.asdict(v) for k, v in s.value.items()},
        data=[inst(i) for i in vrrp.instances] if vrrp else None,
        total={x.name: x.total_priority for x in vrrp.details} if vrrp else None,
        health=health(check),
        problems=[*j.problems, *s.problems, *dd.problems],
        texts=texts(j, s, dd),
    )
elif d is not None and mode == "wait-health":
    rs, want, timeout = args[0], args[1], float(args[2])
    r = dumps.DumpRequester(d, min_interval=0.5)
    t0 = time.monotonic()
    while True:
        dd = r.data()
        h = health(dd.value[1]) or []
        mine = [x for x in h if x["rs"] == rs]
        if (mine and all(x["health"] == want for x in mine)) or time.monotonic() - t0 > timeout:
            break
        time.sleep(0.5)
    out.update(health=h, elapsed=time.monotonic() - t0, problems=list(dd.problems),
               texts=texts(dd))
print(json.dumps(out))
"""

RS1, RS2 = (f"{a}:{PORT}" for a in RS_ADDRS)


def probe(topo: Topology, ns: str | None, *args: str, timeout: float = 180) -> dict[str, Any]:
    out = topo.run(ns, topo.python, "-I", "-c", PROBE, *args, timeout=timeout).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def save(name: str, text: str | None) -> None:
    """Keep a dump lvstop read in the results directory (for test data)."""
    results = os.environ.get("LVSTOP_LAB_RESULTS")
    if results and text is not None:
        dest = Path(results) / "keepalived-runtime" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)


def pid_files(topo: Topology, director: str) -> dict[str, str]:
    d = topo.tmpdir(director)  # the lab keeps pid files and dumps in one directory
    return {
        "parent": f"{d}/keepalived.pid",
        "vrrp": f"{d}/vrrp.pid",
        "checker": f"{d}/checkers.pid",
    }


def test_discovery_finds_this_namespaces_keepalived(seed: Topology) -> None:
    parents = {}
    for director in DIRECTORS:
        found = probe(seed, director, "discover")
        d = found["daemon"]
        pids = seed.keepalived_pids(director)
        assert d is not None, found
        assert d["procs"] == [
            ["parent", pids["parent"], True],
            ["vrrp", pids["vrrp"], True],
            ["checker", pids["checker"], True],
        ]
        assert d["pid_files"] == pid_files(seed, director)
        assert d["tmpdir"] == str(seed.tmpdir(director))
        assert d["in_our_netns"] is True and d["problems"] == []
        parents[director] = pids["parent"]
        assert set(parents.values()) <= set(found["all"])  # both visible, one chosen
    # The VM's root namespace runs no keepalived of its own.
    assert probe(seed, None, "discover")["daemon"] is None


def test_json_agrees_with_data_dump_and_ip_addr(seed: Topology) -> None:
    design = {
        "lvs1": {"VI_1": ("MASTER", 100, [VIP1], None), "VI_2": ("BACKUP", 90, [], "lvs2")},
        "lvs2": {"VI_1": ("BACKUP", 90, [], "lvs1"), "VI_2": ("MASTER", 100, [VIP2], None)},
    }
    for director in DIRECTORS:
        found = probe(seed, director, "dumps")
        assert found["problems"] == [], found["problems"]
        for name, text in found["texts"].items():
            save(f"lab-{director}-{name}", text)
        by_json = {i["name"]: i for i in found["json"]}
        by_data = {i["name"]: i for i in found["data"]}
        assert set(by_json) == set(by_data) == {"VI_1", "VI_2"}
        on_eth0 = {a.split("/")[0] for a in seed.addrs(director)["eth0"]}
        for name, (state, prio, present, master) in design[director].items():
            j, dd = by_json[name], by_data[name]
            assert (j["state"], j["effective"], j["present"]) == (state, prio, present), j
            for key in ("vrid", "interface", "state", "base", "effective", "vips", "present",
                        "master_priority", "nopreempt"):  # fmt: skip
                assert j[key] == dd[key], (director, name, key)
            assert set(j["present"]) == set(j["vips"]) & on_eth0
            assert found["total"][name] == prio
            if master is not None:
                assert (dd["master_router"], dd["master_priority"]) == (ADDR[master], 100)
                assert j["counters"]["adverts_received"] > 0
            else:
                assert dd["master_router"] is None and j["counters"]["adverts_sent"] > 0
                assert j["counters"]["became_master"] >= 1
            # STATS was asked for after JSON: the same counters, or later ones.
            stats = found["stats"][name]
            assert all(stats[k] >= v for k, v in j["counters"].items()), (stats, j["counters"])
        assert {h["health"] for h in found["health"]} == {"up"}
        assert sorted(h["rs"] for h in found["health"]) == sorted([RS1, RS2] * 2)


def test_checker_health_of_rs2_follows_its_http_server(lab: Topology) -> None:
    with lab.http_stopped("rs2"):
        down = probe(lab, "lvs1", "wait-health", RS2, "down", "60")
        save("lab-lvs1-rs2-down-keepalived_check.data", down["texts"].get("keepalived_check.data"))
        by_rs = {(h["vs"], h["rs"]): h for h in down["health"]}
        for vip in (VIP1, VIP2):
            rs2 = by_rs[(f"[{vip}]:tcp:{PORT}", RS2)]
            assert rs2["health"] == "down", down
            assert rs2["failed"] >= 1 and rs2["checkers"] == 1
            assert rs2["error"] and "HTTP_GET" in rs2["error"]
            rs1 = by_rs[(f"[{vip}]:tcp:{PORT}", RS1)]
            assert (rs1["health"], rs1["failed"], rs1["error"]) == ("up", 0, None)
            assert rs1["vs_alive"] is True  # quorum 1 still met by rs1
        # keepalived's view and the kernel's agree: rs2 is out of IPVS.
        assert lab.ipvs_dests("lvs1", VIP1) == {RS1}
    up = probe(lab, "lvs1", "wait-health", RS2, "up", "90")
    save("lab-lvs1-rs2-up-keepalived_check.data", up["texts"].get("keepalived_check.data"))
    assert all(h["health"] == "up" and h["failed"] == 0 for h in up["health"]), up
    assert up["problems"] == []


def test_dead_checker_then_respawned(lab: Topology) -> None:
    pids = lab.keepalived_pids("lvs1")
    parent, checker = pids["parent"], pids["checker"]
    # Freeze the respawn window: parent stopped, checker killed (left a zombie).
    os.kill(parent, signal.SIGSTOP)
    try:
        os.kill(checker, signal.SIGKILL)
        frozen = probe(lab, "lvs1", "discover")["daemon"]
    finally:
        os.kill(parent, signal.SIGCONT)
    assert ["checker", checker, False] in frozen["procs"], frozen
    assert ["vrrp", pids["vrrp"], True] in frozen["procs"]

    def respawned() -> int | None:
        new = lab.keepalived_pids("lvs1").get("checker")
        return new if new not in (None, checker) else None

    new = lab.wait_for(respawned, 60, 0.5, "keepalived to respawn its checker")
    after = probe(lab, "lvs1", "discover")["daemon"]
    assert ["checker", new, True] in after["procs"], after
    assert ["parent", parent, True] in after["procs"]
