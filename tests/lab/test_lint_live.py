"""`lvstop lint --live` against the real director: config vs the kernel's IPVS table."""

from __future__ import annotations

import json
from typing import Any

from topology import RS_ADDRS, SEED_DIR, VIP1, VIP2, Topology


def lint_live(lab: Topology, director: str) -> tuple[int, list[dict[str, Any]]]:
    conf = str(SEED_DIR / f"keepalived-{director}.conf")
    out = lab.lvstop(director, "lint", "--live", "--json", conf, check=False)
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    return out.returncode, doc["findings"]


def codes(findings: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(f["code"], f["message"]) for f in findings if f["code"].startswith("live-")}


def test_manual_port_80_rules_are_reported_as_unmanaged(lab: Topology) -> None:
    for director in ("lvs1", "lvs2"):
        rc, findings = lint_live(lab, director)
        live = [f for f in findings if f["code"].startswith("live-")]
        unmanaged = {f["message"] for f in live if f["code"] == "live-unmanaged-service"}
        assert any(f"{VIP1}:80" in m for m in unmanaged), live
        assert any(f"{VIP2}:80" in m for m in unmanaged), live
        assert any("198.18.23.9" in f["message"] for f in live), live
        # The keepalived-managed 8765 services match the config exactly.
        assert not [f for f in live if ":8765" in f["message"]], live
        assert rc == 1


def test_real_server_missing_from_ipvs_is_reported(lab: Topology) -> None:
    rs2 = RS_ADDRS[1]
    with lab.http_stopped("rs2"):
        lab.wait_for(
            lambda: rs2 not in {a.split(":")[0] for a in lab.ipvs_dests("lvs1", VIP1)},
            what="HTTP_GET removal",
        )
        _, findings = lint_live(lab, "lvs1")
        missing = [f for f in findings if f["code"] == "live-missing-rs"]
        assert {VIP1, VIP2} <= {v for f in missing for v in (VIP1, VIP2) if v in f["message"]}
        assert all(rs2 in f["message"] for f in missing), missing
    lab.wait_seed()
    _, findings = lint_live(lab, "lvs1")
    assert not [f for f in findings if f["code"] == "live-missing-rs"]
