"""`lvstop snapshot --json`'s keepalived view against the seed's real keepalived pair.

Truth is read independently of lvstop's own keepalived code: keepalived's dump files
(signalled here, read as plain files), ``ip addr``, ``ipvsadm`` and the seed
configuration files.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import truth
from topology import (
    ADDR,
    DIRECTORS,
    MANUAL_PORT,
    MANUAL_REAL_SERVERS,
    MASTER,
    PORT,
    RS_ADDRS,
    SEED_DIR,
    VIP1,
    VIP2,
    VIPS,
    Topology,
)

INSTANCE = {VIP1: "VI_1", VIP2: "VI_2"}
VRID = {"VI_1": 51, "VI_2": 52}
RS2 = RS_ADDRS[1]


def snapshot(lab: Topology, ns: str, *args: str) -> dict[str, Any]:
    return truth.lvstop_json(lab.lvstop(ns, "snapshot", "--json", *args, check=False))


def dump(lab: Topology, director: str, sigfunc: str, name: str) -> str:
    """Signal keepalived for one dump and read the file once it is new and complete."""
    path = lab.tmpdir(director) / name

    def ident() -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    before = ident()
    lab.keepalived_signal(director, sigfunc)

    def ready() -> str | None:
        if ident() in (None, before):
            return None
        time.sleep(0.3)  # keepalived renames first, then writes
        text = path.read_text()
        if name.endswith(".json"):
            try:
                json.loads(text)
            except ValueError:
                return None
        return text or None

    return lab.wait_for(ready, 30, 0.2, f"keepalived {sigfunc} dump in {director}")


def master_routers(data: str) -> dict[str, str]:
    """Instance -> "Master router" line of keepalived.data (BACKUP instances only)."""
    out = {}
    for block in data.split(" VRRP Instance = ")[1:]:
        m = re.search(r"^\s+Master router = (\S+)", block, re.M)
        if m:
            out[block.split()[0]] = m.group(1)
    return out


def rfc3339(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {truth.lvstop_id(s): s for s in doc["services"]}


def seed_weights(director: str) -> dict[tuple[str, str], int]:
    """(VIP, real server) -> weight, read straight from the seed configuration."""
    out: dict[tuple[str, str], int] = {}
    vip = None
    rs = None
    for line in (SEED_DIR / f"keepalived-{director}.conf").read_text().splitlines():
        words = line.split()
        if words[:1] == ["virtual_server"]:
            vip = words[1]
        elif words[:1] == ["real_server"]:
            rs = words[1]
        elif words[:1] == ["weight"] and vip and rs:
            out[(vip, rs)] = int(words[1])
    return out


def test_vrrp_instances_match_keepalived_dumps_and_ip_addr(seed: Topology) -> None:
    for director in DIRECTORS:
        doc = snapshot(seed, director)
        k = doc["keepalived"]
        pids = seed.keepalived_pids(director)
        assert k["running"] is True and k["errors"] == [], k
        assert {(p["role"], p["pid"]) for p in k["processes"] if p["alive"]} == {
            ("parent", pids["parent"]),
            ("vrrp", pids["vrrp"]),
            ("checker", pids["checker"]),
        }
        assert k["config_file"] == str(seed.keepalived_conf(director))
        dumped = json.loads(dump(seed, director, "JSON", "keepalived.json"))
        own = {d["data"]["iname"]: d for d in dumped}
        masters = master_routers(dump(seed, director, "DATA", "keepalived.data"))
        on_eth0 = {a.split("/")[0] for a in seed.addrs(director)["eth0"]}
        got = {i["name"]: i for i in k["instances"]}
        assert set(got) == set(own) == {"VI_1", "VI_2"}
        for name, inst in got.items():
            want = own[name]["data"]
            state = {1: "BACKUP", 2: "MASTER"}[want["state"]]
            assert inst["state"] == state, (director, name)
            assert inst["vrid"] == want["vrid"] == VRID[name]
            assert inst["interface"] == want["ifp_ifname"] == "eth0"
            assert inst["base_priority"] == want["base_priority"]
            assert inst["effective_priority"] == want["effective_priority"]
            assert inst["vips"] == [v.split()[0].split("/")[0] for v in want["vips"]]
            set_by_keepalived = [v.split()[0] for v in want["vips"] if v.endswith(" set")]
            assert inst["vips_present"] == set_by_keepalived == sorted(set(inst["vips"]) & on_eth0)
            assert abs(rfc3339(inst["last_transition"]) - want["last_transition"]) < 1e-3
            # The design: each director MASTER for its own VIP, BACKUP (prio 90) for the other.
            vip = inst["vips"][0]
            if MASTER[vip] == director:
                assert (state, inst["effective_priority"]) == ("MASTER", 100)
                assert inst["master_router"] is None and inst["master_priority"] is None
                assert inst["counters"]["adverts_sent"] > 0
            else:
                peer = MASTER[vip]
                assert (state, inst["effective_priority"]) == ("BACKUP", 90)
                assert inst["master_router"] == masters[name] == ADDR[peer]
                assert inst["master_priority"] == want["master_priority"] == 100
                assert inst["counters"]["adverts_received"] > 0
        # Per service: the owning instance and this node's role, which follows the VIP.
        for sid, svc in by_id(doc).items():
            name = INSTANCE[svc["address"]]
            assert svc["vrrp_instance"] == name, sid
            assert svc["vrrp_role"] == got[name]["state"]
            assert (svc["vrrp_role"] == "MASTER") == seed.has_addr(director, svc["address"])
        # The wire: each VRID's master advertises at priority 100, nobody else; no alarms.
        assert k["wire_listening"] is not None and k["wire_listening"] >= 1.0, k
        recent = {(w["vrid"], w["source"], w["priority"]) for w in k["wire"] if w["age"] < 3}
        assert recent == {(51, ADDR["lvs1"], 100), (52, ADDR["lvs2"], 100)}, k["wire"]
        assert k["alarms"] == []


def test_weights_health_and_the_manual_rules(seed: Topology) -> None:
    for director in DIRECTORS:
        doc = snapshot(seed, director)
        table = seed.ipvs(director, stats=False)
        configured = seed_weights(director)
        services = by_id(doc)
        for vip in VIPS:
            svc = services[f"TCP {vip}:{PORT}"]
            kernel = table[f"TCP {vip}:{PORT}"].dests
            assert {f"{r['address']}:{r['port']}" for r in svc["real_servers"]} == set(kernel)
            for rs in svc["real_servers"]:
                want = kernel[f"{rs['address']}:{rs['port']}"]
                assert rs["weight"] == want.weight
                assert rs["configured_weight"] == configured[(vip, rs["address"])]
                assert rs["effective_weight"] == want.weight  # keepalived set what it believes
                assert (rs["health"], rs["failed_checkers"], rs["last_error"]) == ("up", 0, None)
            manual = services[f"TCP {vip}:{MANUAL_PORT}"]
            assert {r["address"] for r in manual["real_servers"]} == set(MANUAL_REAL_SERVERS)
            assert all(r["health"] is None for r in manual["real_servers"])
        k = doc["keepalived"]
        assert k["absent_real_servers"] == []
        unexplained = {
            (u["service"]["address"], u["service"]["port"], u["real_server"] is None)
            for u in k["unexplained"]
        }
        assert unexplained == {(vip, MANUAL_PORT, True) for vip in VIPS}, k["unexplained"]


def test_rs2_down_is_absent_with_failing_checkers(lab: Topology) -> None:
    with lab.http_stopped("rs2"):
        lab.wait_for(
            lambda: all(f"{RS2}:{PORT}" not in lab.ipvs_dests("lvs1", v) for v in VIPS),
            what="keepalived to remove rs2 from IPVS",
        )

        def down() -> dict[str, Any] | None:
            doc = snapshot(lab, "lvs1")
            absent = doc["keepalived"]["absent_real_servers"]
            return doc if len(absent) == 2 else None

        doc = lab.wait_for(down, 60, 1.0, "lvstop to report rs2 absent")
        kernel = lab.ipvs("lvs1", stats=False)
        for a in doc["keepalived"]["absent_real_servers"]:
            vip = a["service"]["address"]
            assert (a["address"], a["port"], a["service_in_ipvs"]) == (RS2, PORT, True)
            assert a["health"] == "down" and a["failed_checkers"] >= 1, a
            assert a["last_error"] and "HTTP_GET" in a["last_error"]
            assert a["configured_weight"] == 1 and "keepalived removed it" in a["reason"]
            assert f"{RS2}:{PORT}" not in kernel[f"TCP {vip}:{PORT}"].dests
        assert {a["service"]["address"] for a in doc["keepalived"]["absent_real_servers"]} == set(
            VIPS
        )
        for vip in VIPS:
            (rs1,) = by_id(doc)[f"TCP {vip}:{PORT}"]["real_servers"]
            assert (rs1["address"], rs1["health"]) == (RS_ADDRS[0], "up")
    lab.wait_seed()

    def back() -> dict[str, Any] | None:
        doc = snapshot(lab, "lvs1")
        return doc if not doc["keepalived"]["absent_real_servers"] else None

    doc = lab.wait_for(back, 60, 1.0, "rs2 back in lvstop's view")
    for vip in VIPS:
        rss = by_id(doc)[f"TCP {vip}:{PORT}"]["real_servers"]
        assert {(r["address"], r["health"]) for r in rss} == {(a, "up") for a in RS_ADDRS}


def test_keepalived_stopped_on_lvs1(lab: Topology) -> None:
    with lab.keepalived_stopped("lvs1"):
        lab.wait_for(
            lambda: all(lab.vip_holders(v) == ["lvs2"] for v in VIPS), what="lvs2 to take .73"
        )
        doc2 = snapshot(lab, "lvs2")
        k2 = doc2["keepalived"]
        assert {i["name"]: i["state"] for i in k2["instances"]} == {
            "VI_1": "MASTER",
            "VI_2": "MASTER",
        }
        assert all(i["master_router"] is None for i in k2["instances"])
        assert {s["address"]: s["vrrp_role"] for s in doc2["services"]} == {
            VIP1: "MASTER",
            VIP2: "MASTER",
        }
        assert k2["errors"] == []
        recent = {(w["vrid"], w["source"]) for w in k2["wire"] if w["age"] < 3}
        assert recent == {(51, ADDR["lvs2"]), (52, ADDR["lvs2"])}, k2["wire"]

        doc1 = snapshot(lab, "lvs1")
        k1 = doc1["keepalived"]
        assert k1["running"] is False and k1["processes"] == [] and k1["instances"] == []
        assert "keepalived is not running in this network namespace" in k1["notes"]
        assert k1["errors"] == [] and k1["absent_real_servers"] == []
        # keepalived removed its services on the way out; the manual rules stayed.
        assert {truth.lvstop_id(s) for s in doc1["services"]} == {
            f"TCP {v}:{MANUAL_PORT}" for v in VIPS
        }
        assert all(s["vrrp_role"] is None for s in doc1["services"])

        # With its configuration named, lvstop shows what is missing and who speaks.
        conf = str(lab.keepalived_conf("lvs1"))
        k1c = snapshot(lab, "lvs1", "--keepalived-config", conf)["keepalived"]
        absent = {(a["service"]["address"], a["address"]) for a in k1c["absent_real_servers"]}
        assert absent == {(v, rs) for v in VIPS for rs in RS_ADDRS}
        assert all(not a["service_in_ipvs"] for a in k1c["absent_real_servers"])
        assert len(k1c["unexplained"]) == 2
        recent = {(w["vrid"], w["source"]) for w in k1c["wire"] if w["age"] < 3}
        assert recent == {(51, ADDR["lvs2"]), (52, ADDR["lvs2"])}, k1c["wire"]


def test_no_keepalived_and_text_report(seed: Topology) -> None:
    doc = snapshot(seed, "lvs1", "--no-keepalived")
    assert doc["keepalived"] is None
    assert all(s["vrrp_role"] is None for s in doc["services"])
    text = seed.lvstop("lvs1", "snapshot", check=False)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[1].startswith("keepalived: running (parent ") and "checker alive" in lines[1]
    assert f"VI_2 BACKUP prio 90, master {ADDR['lvs2']} prio 100" in lines[1]
    row = next(ln for ln in lines if ln.startswith(f"TCP  {VIP1}:{PORT}"))
    assert "eth0 MASTER" in row
    assert sum(ln.endswith("up (eff 1, cfg 1)") for ln in lines) == 4
    assert not [ln for ln in lines if ln.startswith("warning")], text.stdout


def test_results_dir_gets_an_example_document(seed: Topology) -> None:
    """Keep one real document next to the other lab results (for docs and replay)."""
    results = os.environ.get("LVSTOP_LAB_RESULTS")
    doc = snapshot(seed, "lvs1")
    if results:
        dest = Path(results) / "snapshot-keepalived-lvs1.json"
        dest.write_text(json.dumps(doc, indent=2))
    assert doc["keepalived"]["running"]
