"""`lvstop snapshot` on the real seed topology agrees with ipvsadm, /proc and ip addr."""

from __future__ import annotations

from typing import Any

import truth
from topology import DIRECTORS, PORT, RS_ADDRS, VIP1, VIP2, VIPS, Topology


def lvstop_doc(lab: Topology, ns: str, *args: str) -> dict[str, Any]:
    return truth.lvstop_json(lab.lvstop(ns, "snapshot", "--json", *args, check=False))


def compare(lab: Topology, ns: str) -> dict[str, Any]:
    """Assert lvstop == ipvsadm for the whole table of ns; return lvstop's document."""
    want, doc = truth.sandwich(lambda *argv: lab.run(ns, *argv), lambda: lvstop_doc(lab, ns))
    got = truth.from_lvstop(doc)
    assert doc["source"] == "netlink" and doc["errors"] == []
    assert got.keys() == want.keys()
    for sid, svc in want.items():
        assert got[sid] == svc, f"{ns} {sid}: lvstop {got[sid]} != ipvsadm {svc}"
    return doc


def test_seed_after_real_traffic_agrees_with_ipvsadm(lab: Topology) -> None:
    sources = lab.claim_sources(6)
    for vip in VIPS:
        result = lab.traffic(vip, 24, sources=sources)
        assert result.ok == 24, result
    for director in DIRECTORS:
        doc = compare(lab, director)
        by_id = {truth.lvstop_id(s): s for s in doc["services"]}
        # The traffic really was counted, by the master of each VIP, through both RS.
        for vip in VIPS:
            svc = by_id[f"TCP {vip}:{PORT}"]
            assert svc["persistence_timeout"] == 120 and svc["scheduler"] == "rr"
            assert {r["forward"] for r in svc["real_servers"]} == {"route"}
            if lab.has_addr(director, vip):
                assert svc["stats"]["conns"] >= 24
                assert svc["stats"]["inpkts"] > 0 and svc["stats"]["inbytes"] > 0
                assert sum(r["persistent_conns"] for r in svc["real_servers"]) >= 1
        # keepalived manages neither the port-80 services nor their missing .9.
        assert {r["address"] for r in by_id[f"TCP {VIP1}:80"]["real_servers"]} == {
            "198.18.23.4",
            "198.18.23.9",
        }
    # Totals agree with /proc/net/ip_vs_stats read right after (no traffic since).
    stats = lab.run("lvs1", "cat", "/proc/net/ip_vs_stats").stdout.splitlines()[2].split()
    doc = lvstop_doc(lab, "lvs1")
    assert doc["totals"]["stats"]["conns"] == int(stats[0], 16)
    assert doc["totals"]["stats"]["inbytes"] == int(stats[3], 16)


def test_vip_presence_matches_ip_addr_on_both_directors(lab: Topology) -> None:
    for director in DIRECTORS:
        doc = lvstop_doc(lab, director)
        for svc in doc["services"]:
            assert svc["vip_present"] == lab.has_addr(director, svc["address"]), (director, svc)
            if svc["vip_present"]:
                assert svc["vip_interface"] == "eth0"
    assert lab.vip_holders(VIP1) == ["lvs1"] and lab.vip_holders(VIP2) == ["lvs2"]


def test_vip_presence_follows_a_failover(lab: Topology) -> None:
    with lab.keepalived_stopped("lvs1"):
        lab.wait_for(lambda: lab.vip_holders(VIP1) == ["lvs2"], what=f"{VIP1} on lvs2")
        present = {
            d: {s["address"] for s in lvstop_doc(lab, d)["services"] if s["vip_present"]}
            for d in DIRECTORS
        }
        assert present == {"lvs1": set(), "lvs2": {VIP1, VIP2}}
    lab.wait_seed()
    assert {s["address"] for s in lvstop_doc(lab, "lvs1")["services"] if s["vip_present"]} == {VIP1}


def test_real_server_removed_by_http_get_disappears(lab: Topology) -> None:
    rs2 = RS_ADDRS[1]

    def rs_in_lvstop(director: str) -> dict[str, set[str]]:
        doc = lvstop_doc(lab, director)
        return {
            truth.lvstop_id(s): {r["address"] for r in s["real_servers"]} for s in doc["services"]
        }

    with lab.http_stopped("rs2"):
        for director in DIRECTORS:
            lab.wait_for(
                lambda d=director: rs2 not in {a.split(":")[0] for a in lab.ipvs_dests(d, VIP1)},
                what="HTTP_GET removal",
            )
            lab.wait_for(
                lambda d=director: rs2 not in {a.split(":")[0] for a in lab.ipvs_dests(d, VIP2)},
                what="HTTP_GET removal",
            )
            seen = rs_in_lvstop(director)
            for vip in VIPS:
                assert seen[f"TCP {vip}:{PORT}"] == {RS_ADDRS[0]}
            compare(lab, director)
    lab.wait_seed()
    for director in DIRECTORS:
        assert rs_in_lvstop(director)[f"TCP {VIP2}:{PORT}"] == set(RS_ADDRS)


def test_interval_rates_from_counter_deltas(lab: Topology) -> None:
    import threading

    sources = lab.claim_sources(2)
    done = threading.Event()

    def send() -> None:
        # Until lvstop is done: its start-up time in the VM varies (imports over 9p,
        # keepalived's dumps), and both of its samples must see traffic flowing.
        while not done.is_set():
            lab.traffic(VIP1, 5, sources=sources)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        doc = lvstop_doc(lab, "lvs1", "--interval", "3")
    finally:
        done.set()
        sender.join()
    assert doc["interval"] >= 3
    svc = next(s for s in doc["services"] if truth.lvstop_id(s) == f"TCP {VIP1}:{PORT}")
    assert svc["interval_rates"]["cps"] > 0 and svc["interval_rates"]["inpps"] > 0
    rs_cps = sum(r["interval_rates"]["cps"] for r in svc["real_servers"])
    assert abs(rs_cps - svc["interval_rates"]["cps"]) < 0.01  # JSON rounds to 3 digits


def test_connection_aggregation_matches_counting_by_hand(lab: Topology) -> None:
    lab.traffic(VIP1, 20, sources=lab.claim_sources(4))
    for _ in range(10):
        before = lab.run("lvs1", "cat", "/proc/net/ip_vs_conn").stdout
        doc = lvstop_doc(lab, "lvs1", "--conns")
        after = lab.run("lvs1", "cat", "/proc/net/ip_vs_conn").stdout
        want_b, entries_b, templates_b = truth.conn_counts(before)
        want_a, _, _ = truth.conn_counts(after)
        if want_b == want_a:
            break
    else:
        raise AssertionError("connection table never held still")
    conns = doc["connections"]
    got = {
        (
            g["protocol"],
            g["virtual_address"],
            g["virtual_port"],
            g["real_address"],
            g["real_port"],
            g["state"],
        ): g["count"]
        for g in conns["groups"]
    }
    assert got == dict(want_b)
    assert conns["entries"] == entries_b >= 20 and conns["templates"] == templates_b >= 1
    assert conns["top_clients"] and conns["truncated"] is False
