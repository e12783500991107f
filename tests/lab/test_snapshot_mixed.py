"""A mixed IPVS table built with ipvsadm: every family, protocol, method, many schedulers.

Built in a fresh network namespace (IPVS tables are per namespace), then compared field
by field with ipvsadm's own listings, with /proc/net/ip_vs, and once more without
CAP_NET_ADMIN, where lvstop must fall back to procfs and say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import truth
from topology import Topology

# (service args, [real server args]); all addresses inside 198.18.0.0/15 or 2001:db8::/32.
MIXED: list[tuple[list[str], list[list[str]]]] = [
    (
        ["-t", "198.18.50.1:80", "-s", "rr"],
        [
            ["-r", "198.18.51.1:8080", "-m", "-w", "3"],
            ["-r", "198.18.51.2:8080", "-m", "-w", "0", "-x", "500", "-y", "100"],
        ],
    ),
    (
        ["-t", "198.18.50.1:443", "-s", "wlc", "-p", "300", "-M", "255.255.255.0"],
        [["-r", "198.18.51.3:443", "-g", "-w", "7"], ["-r", "198.18.51.4:443", "-i", "-w", "2"]],
    ),
    (
        ["-u", "198.18.50.2:53", "-s", "sh", "-b", "sh-fallback,sh-port", "-o"],
        [
            ["-r", "198.18.51.5:53", "-m", "-w", "1"],
            ["-r", "198.18.51.6:5353", "-m", "-w", "65535"],
        ],
    ),
    (
        ["--sctp-service", "198.18.50.3:3868", "-s", "lc"],
        [["-r", "198.18.51.7:3868", "-g", "-w", "1"]],
    ),
    (
        ["-t", "[2001:db8::50]:80", "-s", "mh", "-b", "mh-port", "-p", "60", "-M", "64"],
        [
            ["-r", "[2001:db8::51]:80", "-g", "-w", "5"],
            ["-r", "[2001:db8::52]:8080", "-m", "-w", "4"],
        ],
    ),
    (
        ["-u", "[2001:db8::50]:123", "-s", "sed"],
        [
            [
                "-r",
                "[2001:db8::53]:123",
                "-i",
                "-w",
                "1",
                "--tun-type",
                "gue",
                "--tun-port",
                "6080",
                "--tun-csum",
            ]
        ],
    ),
    (
        ["-f", "7", "-s", "wrr"],
        [
            ["-r", "198.18.51.8:0", "-g", "-w", "2"],
            ["-r", "198.18.51.9:0", "-i", "-w", "1", "--tun-type", "gre", "--tun-csum"],
        ],
    ),
    (["-f", "8", "-6", "-s", "nq", "-p", "30"], [["-r", "[2001:db8::54]:0", "-g", "-w", "1"]]),
    (["-t", "198.18.50.4:8000", "-s", "fo"], []),
]


@pytest.fixture
def mixed(seed: Topology, scratch_ns: str) -> Iterator[str]:
    for svc, dests in MIXED:
        seed.run(scratch_ns, "ipvsadm", "-A", *svc)
        key = svc[:2] if svc[0] != "-f" else svc[:2] + (["-6"] if "-6" in svc else [])
        for dest in dests:
            seed.run(scratch_ns, "ipvsadm", "-a", *key, *dest)
    yield scratch_ns


def snapshot(lab: Topology, ns: str, *prefix: str) -> dict[str, Any]:
    argv = [*prefix, str(lab_lvstop()), "snapshot", "--json"]
    return truth.lvstop_json(lab.run(ns, *argv, check=False))


def lab_lvstop() -> Any:
    from topology import REPO

    return REPO / ".venv/bin/lvstop"


def test_mixed_table_agrees_with_ipvsadm(seed: Topology, mixed: str) -> None:
    want, doc = truth.sandwich(lambda *a: seed.run(mixed, *a), lambda: snapshot(seed, mixed))
    got = truth.from_lvstop(doc)
    assert doc["source"] == "netlink"
    assert got.keys() == want.keys() and len(got) == len(MIXED)
    for sid, svc in want.items():
        assert got[sid] == svc, f"{sid}: lvstop {got[sid]} != ipvsadm {svc}"
    # Spot checks that the comparison really covered the unusual fields.
    by_id = {truth.lvstop_id(s): s for s in doc["services"]}
    assert by_id["UDP 198.18.50.2:53"]["flags"] == ["one-packet", "sh-fallback", "sh-port"]
    assert by_id["TCP [2001:db8::50]:80"]["persistence_netmask"] == 64
    assert by_id["TCP 198.18.50.1:443"]["persistence_netmask"] == 24
    gue = by_id["UDP [2001:db8::50]:123"]["real_servers"][0]["tunnel"]
    assert gue == {"type": "gue", "port": 6080, "flags": ["csum"]}
    nat = by_id["TCP 198.18.50.1:80"]["real_servers"]
    assert {(r["forward"], r["weight"], r["u_threshold"], r["l_threshold"]) for r in nat} == {
        ("masq", 3, 0, 0),
        ("masq", 0, 500, 100),
    }
    assert by_id["FWM 8 IPv6"]["family"] == "inet6" and by_id["FWM 7"]["address"] is None
    assert by_id["TCP 198.18.50.4:8000"]["real_servers"] == []


def test_without_cap_net_admin_falls_back_to_procfs(seed: Topology, mixed: str) -> None:
    drop = ["setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", "--"]
    doc = snapshot(seed, mixed, *drop)
    assert doc["source"] == "procfs"
    assert any("CAP_NET_ADMIN" in e and "read-only" in e for e in doc["errors"])
    want = truth.read(lambda *a: seed.run(mixed, *a))
    got = truth.from_lvstop(doc)
    assert got.keys() == want.keys()
    for sid, svc in want.items():
        mine = got[sid]
        # procfs carries config and connection counts, not counters, rates or thresholds.
        assert (mine.scheduler, mine.timeout, mine.netmask) == (
            svc.scheduler,
            svc.timeout,
            svc.netmask,
        ), sid
        assert {"persistent", "one-packet"} & mine.flags == {"persistent", "one-packet"} & svc.flags
        assert {k: (r.forward, r.weight, r.active, r.inactive) for k, r in mine.rs.items()} == {
            k: (r.forward, r.weight, r.active, r.inactive) for k, r in svc.rs.items()
        }, sid
    # And the same again straight from /proc/net/ip_vs, which it claims to have read.
    proc = seed.run(mixed, "cat", "/proc/net/ip_vs").stdout
    dest_lines = [
        ln for ln in proc.splitlines() if ln.strip().startswith("->") and "Remote" not in ln
    ]
    assert len(dest_lines) == sum(len(s["real_servers"]) for s in doc["services"])


def test_not_a_director_namespace_is_still_a_director(seed: Topology, scratch_ns: str) -> None:
    """An empty table is a valid answer (IPVS loaded, nothing configured): exit 0."""
    out = seed.lvstop(scratch_ns, "snapshot", check=False)
    assert out.returncode == 0, out.stderr
    assert "no virtual services configured" in out.stdout
