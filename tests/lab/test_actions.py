"""lvstop's actions on the real kernel: weight, drain, restore, failover, failback.

The weight tests build a mixed table (NAT, DR, TUN ipip/gue/gre, IPv6, fwmark) in a
scratch namespace and compare full dumps (ipvsadm's listings and saved rules, and
lvstop's own reader) before and after: exactly the asked weight changes, nothing else.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import truth
from test_snapshot_mixed import MIXED
from topology import PORT, REPO, VIP1, VIP2, Topology

DROP_NET_ADMIN = ["setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", "--"]


@pytest.fixture
def mixed(seed: Topology, scratch_ns: str) -> Iterator[str]:
    for svc, dests in MIXED:
        seed.run(scratch_ns, "ipvsadm", "-A", *svc)
        key = svc[:2] if svc[0] != "-f" else svc[:2] + (["-6"] if "-6" in svc else [])
        for dest in dests:
            seed.run(scratch_ns, "ipvsadm", "-a", *key, *dest)
    yield scratch_ns


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """A config sending the audit log and the state file into tmp_path."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "actions:\n"
        f"  audit_log: {tmp_path}/log/audit.jsonl\n"
        f"  state_file: {tmp_path}/state/weights.json\n"
    )
    return path


def audit_lines(cfg: Path) -> list[dict[str, Any]]:
    path = cfg.parent / "log" / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def act(lab: Topology, ns: str, cfg: Path, *args: str, prefix: tuple[str, ...] = (),
        stdin: str | None = None) -> Any:  # fmt: skip
    """Run `lvstop --config cfg ARGS` in ns (optionally under a prefix like setpriv; a
    prefix ending in "lvstop" is the whole command)."""
    exe = () if prefix[-1:] == ("lvstop",) else (str(REPO / ".venv/bin/lvstop"),)
    argv = [*prefix, *exe, "--config", str(cfg), *args]
    return lab.run(ns, *argv, check=False, timeout=120, input=stdin)


def full_dump(
    lab: Topology, ns: str, ours: bool = True
) -> tuple[dict[str, truth.Svc], str, dict[str, truth.Svc]]:
    """(ipvsadm's table, ipvsadm -Sn, lvstop's reader or {}) with counters left out."""

    def run(*a: str) -> Any:
        return lab.run(ns, *a)

    ipvsadm = truth.read(run)
    saved = lab.run(ns, "ipvsadm", "-Sn").stdout
    mine: dict[str, truth.Svc] = {}
    if ours:
        doc = truth.lvstop_json(lab.lvstop(ns, "snapshot", "--json", "--no-keepalived"))
        mine = truth.from_lvstop(doc)
    for table in (ipvsadm, mine):
        for svc in table.values():
            svc.stats = svc.rates = ()
            for rs in svc.rs.values():
                rs.stats = rs.rates = ()
    return ipvsadm, saved, mine


CLI_BATCH = (
    "import json, sys\n"
    "from lvstop.cli import main\n"
    "codes = [main(argv) for argv in json.loads(sys.argv[1])]\n"
    "print(json.dumps(codes))\n"
)


def cli_batch(lab: Topology, ns: str, commands: list[list[str]], stdin: str = "") -> Any:
    """Run the CLI's main() once per command in one process (a Python start costs seconds
    under TCG; everything below main() is what `lvstop ...` runs). Returns the process
    and the list of exit codes."""
    out = lab.run(ns, str(REPO / ".venv/bin/python"), "-c", CLI_BATCH, json.dumps(commands),
                  check=False, timeout=300, input=stdin)  # fmt: skip
    assert out.returncode == 0, (out.stdout, out.stderr)
    return out, json.loads(out.stdout.splitlines()[-1])


# (service args as lvstop takes them, table id, real server, method)
WEIGHT_CASES = [
    (["-t", "198.18.50.1:80"], "TCP 198.18.50.1:80", "198.18.51.2:8080", "masq+thresholds"),
    (["-t", "198.18.50.1:443"], "TCP 198.18.50.1:443", "198.18.51.3:443", "route"),
    (["-t", "198.18.50.1:443"], "TCP 198.18.50.1:443", "198.18.51.4:443", "tunnel ipip"),
    (["-u", "[2001:db8::50]:123"], "UDP [2001:db8::50]:123", "[2001:db8::53]:123", "tunnel gue"),
    (["-f", "7"], "FWM 7", "198.18.51.9:0", "tunnel gre"),
    (["-f", "8", "-6"], "FWM 8 IPv6", "[2001:db8::54]:0", "route v6 fwmark"),
    (["-u", "198.18.50.2:53"], "UDP 198.18.50.2:53", "198.18.51.6:5353", "masq 65535"),
]


def test_weight_changes_exactly_the_weight(seed: Topology, mixed: str, cfg: Path) -> None:
    """Every case changes one weight; one full dump before and after all of them (each
    dump is slow under TCG) must differ in exactly those weights."""
    before_table, before_saved, before_ours = full_dump(seed, mixed)
    want, want_ours = copy.deepcopy(before_table), copy.deepcopy(before_ours)
    saved_lines = set(before_saved.splitlines())
    commands = []
    for n, (svc_args, sid, rs, _what) in enumerate(WEIGHT_CASES):
        old, new = before_table[sid].rs[rs].weight, 17 + n
        commands.append(["--config", str(cfg), "weight", *svc_args, rs, str(new), "--yes"])
        want[sid].rs[rs].weight = want_ours[sid].rs[rs].weight = new
        (line,) = [ln for ln in saved_lines if f" -r {rs} " in ln and f"-w {old}" in ln]
        saved_lines = (saved_lines - {line}) | {line.replace(f"-w {old}", f"-w {new}")}
    out, codes = cli_batch(seed, mixed, commands)
    assert codes == [0] * len(WEIGHT_CASES), (out.stdout, out.stderr)
    for n, (_svc, _sid, rs, what) in enumerate(WEIGHT_CASES):
        assert f"-> {rs}: weight {17 + n} (verified)" in out.stdout, what
    after_table, after_saved, after_ours = full_dump(seed, mixed)
    assert after_table == want
    assert after_ours == want_ours
    # ipvsadm's saved rules (every flag of every destination) differ only in the -w.
    assert set(after_saved.splitlines()) == saved_lines
    records = audit_lines(cfg)
    assert [r["result"] for r in records] == ["applied"] * len(WEIGHT_CASES)
    first = records[0]
    assert first["action"] == "weight" and first["user"] == "root"
    assert set(first) >= {"time", "user", "sudo_user", "ssh_client", "tty", "target", "before",
                          "after", "result", "error"}  # fmt: skip
    assert list(first["before"].values()) == ["weight 0"]
    assert list(first["after"].values()) == ["weight 17"]


def test_bad_inputs_and_read_only_change_nothing(seed: Topology, mixed: str, cfg: Path) -> None:
    before = full_dump(seed, mixed, ours=False)
    attempts = [
        (["weight", "-t", "198.18.50.1:80", "198.18.51.1:8080", "65536", "--yes"], 2, "0 to 65535"),
        (["weight", "--yes", "-t", "198.18.50.1:80", "198.18.51.1:8080", "--", "-1"], 2, "0 to"),
        (["weight", "-t", "198.18.50.1:80", "198.18.51.99:8080", "3", "--yes"], 2,
         "has no real server"),
        (["weight", "-t", "198.18.50.9:80", "198.18.51.1:8080", "3", "--yes"], 2,
         "no virtual service"),
        (["restore", "-t", "198.18.50.1:80", "198.18.51.1:8080", "--yes"], 2, "nothing to restore"),
        (["weight", "-t", "198.18.50.1:80", "198.18.51.1:8080", "5", "--yes", "--read-only"], 3,
         "read-only"),
        (["weight", "-t", "198.18.50.1:80", "198.18.51.1:8080", "5"], 3, "not confirmed"),
    ]  # fmt: skip
    out, codes = cli_batch(seed, mixed, [["--config", str(cfg), *a] for a, _c, _m in attempts],
                           stdin="n\n")  # fmt: skip
    assert codes == [c for _a, c, _m in attempts], out.stderr
    errors = out.stderr.splitlines()
    assert len(errors) == len(attempts), errors  # one line each
    for (args, _code, message), line in zip(attempts, errors, strict=True):
        assert message in line, (args, line)
    # Without CAP_NET_ADMIN (still uid 0), and with read_only in the config file.
    for verb in (["drain", "-t", "198.18.50.1:80", "198.18.51.1:8080"],):
        out = act(seed, mixed, cfg, *verb, "--yes", prefix=tuple(DROP_NET_ADMIN))
        assert out.returncode == 3 and "CAP_NET_ADMIN" in out.stderr, out.stderr
    ro = cfg.parent / "ro.yaml"
    ro.write_text(cfg.read_text() + "read_only: true\n")
    out = act(seed, mixed, ro, "weight", "-t", "198.18.50.1:80", "198.18.51.1:8080", "5", "--yes")
    assert out.returncode == 3 and "read_only: true" in out.stderr, out.stderr
    assert full_dump(seed, mixed, ours=False) == before
    records = audit_lines(cfg)
    assert len(records) == len(attempts) + 2
    assert [r["result"] for r in records].count("declined") == 1
    assert all(r["result"] in ("refused", "declined") for r in records)
    assert all(r["error"] for r in records)


def test_weight_all_services_on_the_seed(lab: Topology, cfg: Path) -> None:
    """--all-services on lvs1 changes RS .4 in both VIP services, and restore undoes it."""
    rs = f"198.18.23.4:{PORT}"
    out = act(lab, "lvs1", cfg, "weight", "--all-services", rs, "3", "--yes")
    assert out.returncode == 0, out.stderr
    table = lab.ipvs("lvs1", stats=False)
    for vip in (VIP1, VIP2):
        assert table[f"TCP {vip}:{PORT}"].dests[rs].weight == 3
        assert table[f"TCP {vip}:{PORT}"].dests[rs].forward == "Route"
    # keepalived manages it: the confirmation says how long a manual weight lasts.
    assert "until keepalived next touches" in out.stdout
    out = act(lab, "lvs1", cfg, "restore", "--all-services", rs, "--yes")
    assert out.returncode == 0, out.stderr
    table = lab.ipvs("lvs1", stats=False)
    assert all(table[f"TCP {v}:{PORT}"].dests[rs].weight == 1 for v in (VIP1, VIP2))


# ---------------------------------------------------------------- drain and restore

RS1 = f"198.18.23.4:{PORT}"
VIP1_SVC = ["-t", f"{VIP1}:{PORT}"]


def lvstop_popen(lab: Topology, ns: str, cfg: Path, *args: str) -> subprocess.Popen[str]:
    argv = ["ip", "netns", "exec", ns, str(REPO / ".venv/bin/lvstop"), "--config", str(cfg), *args]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def dest(lab: Topology, ns: str, vip: str, rs: str) -> Any:
    return lab.ipvs(ns, stats=False)[f"TCP {vip}:{PORT}"].dests[rs]


def test_drain_under_traffic_then_restore(lab: Topology, cfg: Path) -> None:
    held = lab.claim_sources(8)
    with lab.hold_connections(VIP1, 8, sources=held) as opened:
        assert opened == 8
        lab.wait_for(lambda: dest(lab, "lvs1", VIP1, RS1).active > 0, 20, 0.5, "held conns")
        active_before = dest(lab, "lvs1", VIP1, RS1).active
        drain = lvstop_popen(lab, "lvs1", cfg, "drain", *VIP1_SVC, RS1, "--yes", "--wait",
                             "--timeout", "120")  # fmt: skip
        try:
            lab.wait_for(lambda: dest(lab, "lvs1", VIP1, RS1).weight == 0, 60, 0.5, "weight 0")
            # New clients (no persistence template yet) all go to the other server...
            fresh = lab.traffic(VIP1, 16, sources=lab.claim_sources(8))
            assert fresh.ok == 16 and set(fresh.servers) == {"rs2"}, fresh
            # ...while established connections stay, so the drain is still waiting.
            assert dest(lab, "lvs1", VIP1, RS1).active == active_before
            assert drain.poll() is None
        except BaseException:
            drain.kill()
            raise
    out, err = drain.communicate(timeout=120)
    print(out)
    assert drain.returncode == 0, (out, err)
    assert "drain: done, no active connections left" in out
    assert f"from {active_before}" in out and "persistence template" in out
    assert "keep sending their clients here" in out  # the description's persistence warning
    assert dest(lab, "lvs1", VIP1, RS1).active == 0
    # A client whose template points at rs1 is still sent there (weight 0 is no block).
    pinned = lab.traffic(VIP1, 8, sources=held)
    assert pinned.ok == 8 and pinned.servers["rs1"] > 0, pinned
    out = act(lab, "lvs1", cfg, "restore", *VIP1_SVC, RS1, "--yes")
    assert out.returncode == 0, out.stderr
    assert dest(lab, "lvs1", VIP1, RS1).weight == 1
    back = lab.traffic(VIP1, 16, sources=lab.claim_sources(8))
    assert back.ok == 16 and set(back.servers) == {"rs1", "rs2"}, back
    results = [(r["action"], r["result"]) for r in audit_lines(cfg)]
    assert results == [("drain", "applied"), ("restore", "applied")]


# ---------------------------------------------------------------- failover and failback


def track_file(director: str, instance: str) -> Path:
    return Path(f"/run/lvstop-lab/{director}/maint_{instance}")


@pytest.fixture
def clean_track_files() -> Iterator[None]:
    yield
    for d in ("lvs1", "lvs2"):
        for vi in ("VI_1", "VI_2"):
            track_file(d, vi).unlink(missing_ok=True)


def test_failover_and_failback(lab: Topology, cfg: Path, clean_track_files: None) -> None:
    assert lab.vip_holders(VIP1) == ["lvs1"]
    out = act(lab, "lvs1", cfg, "failover", "VI_1", "--yes")
    print(out.stdout)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "peer 198.18.23.44 is advertising" in out.stdout
    assert "VRID 51: new master 198.18.23.44" in out.stdout
    assert lab.vip_holders(VIP1) == ["lvs2"]
    assert track_file("lvs1", "VI_1").read_text() == "1\n"
    served = lab.traffic(VIP1, 12, sources=lab.claim_sources(6))
    assert served.ok == 12, served
    # Failing over again is refused: it already is.
    again = act(lab, "lvs1", cfg, "failover", "VI_1", "--yes")
    assert again.returncode == 3 and "already failed over" in again.stderr
    out = act(lab, "lvs1", cfg, "failback", "VI_1", "--yes")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "are back on this node" in out.stdout
    assert lab.vip_holders(VIP1) == ["lvs1"]
    served = lab.traffic(VIP1, 12, sources=lab.claim_sources(6))
    assert served.ok == 12, served
    results = [(r["action"], r["result"]) for r in audit_lines(cfg)]
    assert results == [("failover", "applied"), ("failover", "refused"), ("failback", "applied")]
    applied = audit_lines(cfg)[0]
    assert applied["target"] == "vrrp_instance VI_1"
    assert applied["before"]["VI_1 (VRID 51) on this node"] == "MASTER"


def test_failover_with_no_peer_is_reverted(lab: Topology, cfg: Path,
                                           clean_track_files: None) -> None:  # fmt: skip
    with lab.keepalived_stopped("lvs2"):
        lab.wait_for(lambda: lab.vip_holders(VIP2) == ["lvs1"], 30, 0.3, "lvs1 to take VIP2")
        time.sleep(5)  # lvs2's last adverts are no longer fresh evidence of a peer
        # No peer known: --yes alone does not do; the typed name is asked for.
        out = act(lab, "lvs1", cfg, "failover", "VI_1", "--yes", stdin="yes\n")
        assert out.returncode == 3, (out.stdout, out.stderr)
        assert "no peer is known to be ready" in out.stdout and "Type VI_1" in out.stdout
        out = act(lab, "lvs1", cfg, "failover", "VI_1", "--yes", "--force")
        print(out.stdout, out.stderr)
        assert out.returncode == 1, (out.stdout, out.stderr)
        assert "no new master for VRID 51" in out.stderr and "reverted" in out.stderr
        assert not track_file("lvs1", "VI_1").exists()
        lab.wait_for(lambda: lab.vip_holders(VIP1) == ["lvs1"], 30, 0.3, "VIP1 back on lvs1")
    results = [(r["action"], r["result"]) for r in audit_lines(cfg)]
    assert results == [("failover", "declined"), ("failover", "failed")]


@pytest.fixture
def pub() -> Iterator[Path]:
    """A directory user nobody can reach and write (pytest's tmp_path is 0700 root)."""
    path = Path("/run/lvstop-act-pub")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_failover_refused_read_only_unprivileged_and_unknown(lab: Topology, pub: Path) -> None:
    (pub / "audit.jsonl").touch(mode=0o666)
    (pub / "audit.jsonl").chmod(0o666)
    cfg = pub / "config.yaml"
    cfg.write_text(f"actions:\n  audit_log: {pub}/audit.jsonl\n  state_file: {pub}/w.json\n")
    # The venv's interpreter lives under /root (0700): user nobody runs the system
    # Python 3.11 on the same sources and site-packages instead.
    nobody = ("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--",
              "env", f"PYTHONPATH={REPO}:{REPO}/.venv/lib/python3.11/site-packages",
              "/usr/bin/python3", "-m", "lvstop")  # fmt: skip
    out = act(lab, "lvs1", cfg, "failover", "VI_1", "--yes", prefix=nobody)
    assert out.returncode == 3 and "needs root" in out.stderr, (out.stdout, out.stderr)
    attempts = [
        (["failover", "VI_1", "--yes", "--read-only"], 3, "read-only"),
        (["failover", "VI_9", "--yes"], 2, "no vrrp_instance VI_9"),
        (["failback", "VI_1", "--yes"], 3, "not failed over"),
    ]
    out, codes = cli_batch(lab, "lvs1", [["--config", str(cfg), *a] for a, _c, _m in attempts])
    assert codes == [c for _a, c, _m in attempts], out.stderr
    for (args, _code, message), line in zip(attempts, out.stderr.splitlines(), strict=True):
        assert message in line, (args, line)
    assert lab.vip_holders(VIP1) == ["lvs1"] and not track_file("lvs1", "VI_1").exists()
    assert dest(lab, "lvs1", VIP1, RS1).weight == 1
    lines = (pub / "audit.jsonl").read_text().splitlines()
    assert len(lines) == len(attempts) + 1
    assert {json.loads(line)["result"] for line in lines} == {"refused"}
