"""`lvstop lint`: the seed's mistakes, one case per rule, the pair and live checks, the CLI.

Most cases start from tests/data/keepalived/good-lvs{1,2}.conf (the seed with its
mistakes fixed, which must stay clean) and change one line, so every rule is shown to
fire on exactly the mistake it is about. `test_every_rule_has_a_case` keeps it so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from lvstop.model import Forward, Protocol, RealServer, Service, ServiceKey, Snapshot, SourceKind
from lvstop.model.ipvs import SVC_F_PERSISTENT
from lvstop.sources.keepalived.config import Config, load, loads
from lvstop.sources.keepalived.lint import (
    RULES,
    LintReport,
    format_text,
    lint_config,
    lint_files,
    lint_live,
    lint_pair,
    to_json,
)
from lvstop.sources.keepalived.parser import ConfigUnusable, Finding, Severity
from lvstop.sources.procfs import parse_ip_vs

DATA = Path(__file__).resolve().parents[1] / "data" / "keepalived"
CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"
LAB = Path(__file__).resolve().parents[1] / "lab" / "seed"
GOOD1 = DATA / "good-lvs1.conf"
GOOD2 = DATA / "good-lvs2.conf"


def edit(path: Path, changes: dict[int, tuple[str, str]], append: str = "") -> str:
    """The file's text with line N's `old` replaced by `new` (line numbers kept)."""
    lines = path.read_text().split("\n")
    for n, (old, new) in changes.items():
        assert old in lines[n - 1], f"line {n} of {path.name} is {lines[n - 1]!r}"
        lines[n - 1] = lines[n - 1].replace(old, new)
    text = "\n".join(lines)
    return text + append


def found(findings: Iterable[Finding]) -> set[tuple[str, int]]:
    return {(f.code, f.line) for f in findings}


# --- the seed ---------------------------------------------------------------------------

# Everything wrong in the seed post's two directors, as lvstop reports it: (line, code).
SEED_LVS1 = [
    (5, "no-failover-handle"),  # VI_1: no track_file
    (19, "no-failover-handle"),  # VI_2
    (35, "vip-not-in-vrrp"),  # 10.0.0.100:80, a template left over: no VRRP carries it
    (37, "deprecated"),  # lb_algo
    (38, "deprecated"),  # lb_kind
    (45, "unknown-keyword"),  # nb_get_retry inside TCP_CHECK
    (53, "unknown-keyword"),
    (61, "deprecated"),
    (62, "deprecated"),
    (65, "detect-slow"),  # 10 + 4 x 5 + 3 x 3 = 39 s
    (73, "deprecated"),  # nb_get_retry in HTTP_GET
    (77, "detect-slow"),
    (85, "deprecated"),
    (93, "deprecated"),
    (94, "deprecated"),
    (97, "detect-slow"),
    (105, "deprecated"),
    (109, "detect-slow"),
    (117, "deprecated"),
    (122, "vs-duplicate"),  # 10.255.23.73:8765 again, delay_loop 6 instead of 10
    (124, "deprecated"),
    (125, "deprecated"),
    (128, "detect-slow"),  # 35 s
    (136, "deprecated"),
    (140, "detect-slow"),
    (148, "deprecated"),
    (154, "vs-duplicate"),  # 10.255.23.74:8765 again
    (156, "deprecated"),
    (157, "deprecated"),
    (160, "detect-slow"),
    (168, "deprecated"),
    (172, "detect-slow"),
    (180, "deprecated"),
]


def test_everything_wrong_in_the_seed_is_found() -> None:
    report = lint_files([str(DATA / "seed-lvs1.conf"), str(DATA / "seed-lvs2.conf")])
    lvs1 = sorted((f.line, f.code) for f in report.findings if f.file.endswith("seed-lvs1.conf"))
    lvs2 = sorted((f.line, f.code) for f in report.findings if f.file.endswith("seed-lvs2.conf"))
    assert lvs1 == sorted(SEED_LVS1)
    # the second director has the same mistakes, one line earlier after the VRRP part
    assert lvs2 == sorted((n if n < 20 else n - 1, c) for n, c in SEED_LVS1)
    assert len(report.findings) == 2 * len(SEED_LVS1)  # the pair itself is consistent
    assert report.exit_code == 1
    dup = next(f for f in report.findings if f.code == "vs-duplicate")
    assert dup.severity is Severity.ERROR and "delay_loop 10 vs 6" in dup.message
    tcp = next(f for f in report.findings if f.code == "unknown-keyword")
    assert "TCP_CHECK" in tcp.message and "retry" in tcp.hint
    slow = next(f for f in report.findings if f.code == "detect-slow")
    assert "39 s" in slow.message and "delay_loop 10" in slow.message


def test_the_clean_pair_has_no_findings() -> None:
    report = lint_files([str(GOOD1), str(GOOD2)])
    assert report.findings == ()
    assert report.exit_code == 0


def test_the_lab_pair_differs_from_clean_only_by_the_missing_failover_handle() -> None:
    report = lint_files([str(LAB / "keepalived-lvs1.conf"), str(LAB / "keepalived-lvs2.conf")])
    assert {f.code for f in report.findings} <= {"no-failover-handle", "deprecated"}
    assert not any(f.severity is Severity.ERROR for f in report.findings)


# --- one director: one case per rule ------------------------------------------------------


@dataclass(frozen=True)
class Case:
    code: str
    line: int
    changes: dict[int, tuple[str, str]] = field(default_factory=dict)
    append: str = ""
    severity: Severity | None = None


END = 120  # first line of text appended to good-lvs1.conf
SINGLE = [
    # the parser
    Case("brace-unclosed", END, append="vrrp_script x {\n"),
    Case("brace-extra", END, append="}\n"),
    Case("brace-unexpected", END, append="{\n}\n"),
    Case("quote-unmatched", 7, {7: ("/run/keepalived/vrrp.fifo", '"/run/k.fifo')}),
    Case("continuation", 6, {6: ("router_id lvs1", "router_id lvs1 \\")}),
    Case("line-too-long", END, append="# " + "x" * 1100 + "\n"),
    Case("include-missing", END, append="include /nonexistent/*.conf\n"),
    Case("include-unreadable", END, append="include /\n"),
    Case("include-loop", END, append="include good-lvs1.conf\n"),
    Case("definition-loop", END + 2, append="$A=$B\n$B=$A\nx $A\n", severity=Severity.ERROR),
    Case("definition-midline", END + 2, append="$M=a \\\n b\nrouter_id $M x\n"),
    Case("undefined-variable", END + 1, append="vrrp_script s {\n script /bin/kill -0 $PID\n}\n"),
    Case("unsupported", END, append="~SEQ(i,1,1,2)\n"),
    Case("conditional-unmatched", 1, append="@lvs2 global_defs {\n@lvs2 }\n"),
    # the model
    Case("unknown-keyword", 64, {64: ("weight 1", "wieght 1")}),
    Case("missing-block", 34, {34: ("track_file {", "track_file"), 36: ("}", "")}),
    Case("unexpected-block", 64, {64: ("weight 1", "weight 1 { }")}),
    Case("missing-value", 22, {22: ("state MASTER", "state")}),
    Case("bad-value", 25, {25: ("priority 100", "priority 256")}),
    Case("extra-args", 25, {25: ("priority 100", "priority 100 advert_int 2")}),
    Case("deprecated", 59, {59: ("lvs_sched", "lb_algo")}, severity=Severity.INFO),
    Case("deprecated", 71, {71: ("retry 2", "nb_get_retry 2")}, severity=Severity.WARNING),
    # VRRP
    Case("auth-pass-truncated", 29, {29: ("11112222", "1111222233")}),
    Case("auth-pass-missing", 27, {29: ("auth_pass 11112222", "")}),
    Case("auth-ignored", 27, {26: ("advert_int 1", "version 3")}),
    Case("vrid-missing", 21, {24: ("virtual_router_id 51", "")}),
    Case("vrid-duplicate", 42, {42: ("52", "51")}),
    Case("vip-duplicate", 50, {50: ("10.255.23.74", "10.255.23.73")}),
    Case("instance-no-vip", 39, {50: ("10.255.23.74", "")}),
    Case("preempt-ignored", 26, {26: ("advert_int 1", "nopreempt")}),
    Case("track-undefined", 35, {35: ("maint_VI_1", "maint_VI_9")}),
    # defined after the instance that tracks it: keepalived does not find it
    Case(
        "track-undefined",
        35,
        {11: ("maint_VI_1", "maint_old")},
        append="track_file maint_VI_1 {\n file /run/m\n weight 0\n}\n",
    ),
    Case("track-unused", END, append='vrrp_script chk {\n script "/bin/true"\n}\n'),
    Case(
        "sync-group-member",
        END + 3,
        append="vrrp_sync_group G {\n group {\n  VI_1\n  VI_9\n }\n}\n",
    ),
    Case("sync-group-single", END, append="vrrp_sync_group G {\n group {\n  VI_1\n }\n}\n"),
    Case(
        "track-weight-ignored",
        35,
        {13: ("weight 0", "weight -50")},
        append="vrrp_sync_group G {\n group {\n  VI_1\n  VI_2\n }\n}\n",
    ),
    Case("no-failover-handle", 21, {35: ("maint_VI_1", "")}),
    Case("script-security", 26, {26: ("advert_int 1", 'notify_master "/bin/true"')}),
    # LVS
    Case(
        "vs-duplicate", END, append=GOOD1.read_text().split("\n", 56)[56], severity=Severity.WARNING
    ),
    Case(
        "vs-duplicate",
        END,
        append=GOOD1.read_text().split("\n", 56)[56].replace("delay_loop 5", "delay_loop 6"),
        severity=Severity.ERROR,
    ),
    Case(
        "vs-no-real-servers",
        END,
        append="virtual_server 10.255.23.73 9000 {\n lvs_sched rr\n lvs_method DR\n"
        " protocol TCP\n}\n",
    ),
    Case("protocol-missing", 57, {62: ("protocol TCP", "")}),
    Case("default-used", 57, {59: ("lvs_sched rr", "")}),
    Case("default-used", 57, {60: ("lvs_method DR", "")}),
    Case("vip-not-in-vrrp", 57, {57: ("10.255.23.73", "10.255.23.99")}),
    Case("rs-duplicate", 75, {75: ("10.255.23.10", "10.255.23.4")}),
    Case("rs-port-mismatch", 75, {75: ("10.255.23.10 8765", "10.255.23.10 80")}),
    Case(
        "rs-no-checker",
        END + 4,
        append="virtual_server 10.255.23.73 9000 {\n lvs_sched rr\n lvs_method DR\n"
        " protocol TCP\n real_server 10.255.23.4 9000 {\n  weight 1\n }\n}\n",
    ),
    # the seed's .9/.10 kind of typo: VI_2's service lists another second server
    Case("rs-set-mismatch", 89, {107: ("10.255.23.10", "10.255.23.9")}),
    Case("weight-range", 64, {64: ("weight 1", "weight 70000")}),
    Case("quorum-too-high", 61, {61: ("persistence_timeout 120", "quorum 5")}),
    Case("quorum-too-high", 61, {61: ("persistence_timeout 120", "hysteresis 1")}),
    Case("detect-slow", 63, {58: ("delay_loop 5", "delay_loop 30")}),
]


@pytest.mark.parametrize("case", SINGLE, ids=lambda c: f"{c.code}:{c.line}")
def test_single_director_rule(case: Case) -> None:
    text = edit(GOOD1, case.changes, case.append)
    cfg = loads(text, str(GOOD1), config_id="lvs1")
    findings = lint_config(cfg)
    hits = [f for f in findings if f.code == case.code and f.line == case.line]
    assert hits, f"no {case.code} at line {case.line}; got {sorted(found(findings))}"
    if case.severity is not None:
        assert {f.severity for f in hits} == {case.severity}
    assert all(f.hint and f.message for f in findings)


def test_detect_threshold_is_configurable() -> None:
    text = edit(GOOD1, {58: ("delay_loop 5", "delay_loop 30")})
    cfg = loads(text, str(GOOD1))
    assert any(f.code == "detect-slow" for f in lint_config(cfg))
    assert not any(f.code == "detect-slow" for f in lint_config(cfg, detect_threshold_s=60))
    assert any(
        f.code == "detect-slow" for f in lint_config(load(str(GOOD1)), detect_threshold_s=10)
    )


def test_rules_stay_quiet_on_what_keepalived_accepts() -> None:
    # DR real server without a port, NAT with port mapping, fwmark service, a group
    text = (
        "vrrp_instance V {\n state MASTER\n interface eth0\n virtual_router_id 5\n"
        " virtual_ipaddress {\n  10.1.0.1\n }\n track_file {\n  m\n }\n}\n"
        "virtual_server 10.1.0.1 80 {\n lvs_sched rr\n lvs_method DR\n protocol TCP\n"
        " real_server 10.1.1.1 {\n  TCP_CHECK {\n   connect_timeout 2\n  }\n }\n}\n"
        "virtual_server 10.1.0.1 8080 {\n lvs_sched rr\n lvs_method NAT\n protocol TCP\n"
        " real_server 10.1.1.1 80 {\n  TCP_CHECK {\n   connect_timeout 2\n  }\n }\n}\n"
        "virtual_server fwmark 7 {\n lvs_sched rr\n lvs_method DR\n"
        " real_server 10.1.1.1 {\n  TCP_CHECK {\n   connect_port 80\n  }\n }\n}\n"
    )
    cfg = loads("track_file m {\n file /run/m\n weight 0\n}\n" + text)
    assert lint_config(cfg, detect_threshold_s=120) == []


# --- two directors ----------------------------------------------------------------------

PAIR = [
    Case("pair-vrid-missing", 39, {42: ("52", "53")}),
    Case("pair-auth", 29, {29: ("11112222", "11112223")}),
    Case("pair-advert", 26, {26: ("advert_int 1", "advert_int 2")}),
    Case("pair-version", 26, {26: ("advert_int 1", "version 3")}),
    Case("pair-vips", 31, {32: ("10.255.23.73", "10.255.23.75")}),
    Case("pair-unicast", 26, {26: ("advert_int 1", "unicast_peer { 10.255.23.42 }")}),
    Case("pair-master", 22, {22: ("BACKUP", "MASTER")}, severity=Severity.ERROR),
    Case("pair-priority", 25, {25: ("priority 90", "priority 100")}),
    Case("pair-priority", 25, {25: ("priority 90", "priority 110")}),
    Case("pair-vs-missing", 57, {57: ("8765", "8766")}),
    Case("pair-rs-missing", 75, {75: ("10.255.23.10", "10.255.23.11")}),
    Case("pair-rs-missing", 57, {75: ("10.255.23.10", "10.255.23.11")}),
    Case("pair-vs-settings", 57, {59: ("lvs_sched rr", "lvs_sched wrr")}),
    Case("pair-vs-settings", 57, {64: ("weight 1", "weight 2")}),
]


@pytest.mark.parametrize("case", PAIR, ids=lambda c: f"{c.code}:{c.line}")
def test_pair_rule(case: Case) -> None:
    """The change is made to lvs2; the finding points into lvs2 at `line`."""
    second = loads(edit(GOOD2, case.changes, case.append), str(GOOD2))
    findings = lint_pair(load(str(GOOD1)), second)
    hits = [f for f in findings if f.code == case.code and f.line == case.line]
    assert any(f.file == str(GOOD2) for f in hits), sorted(found(findings))
    if case.severity is not None:
        assert {f.severity for f in hits} == {case.severity}


def test_pair_without_any_master_is_a_warning_unless_all_use_nopreempt() -> None:
    first = loads(edit(GOOD1, {22: ("MASTER", "BACKUP")}), str(GOOD1))
    (f,) = [f for f in lint_pair(first, load(str(GOOD2))) if f.code == "pair-master"]
    assert f.severity is Severity.WARNING
    a = loads(edit(GOOD1, {22: ("MASTER", "BACKUP"), 23: ("interface bond0", "nopreempt")}))
    b = loads(edit(GOOD2, {23: ("interface bond0", "nopreempt")}))
    assert not [f for f in lint_pair(a, b) if f.code == "pair-master"]


def test_a_vrid_on_one_director_only_is_reported_on_both_sides() -> None:
    second = loads(edit(GOOD2, {42: ("52", "53")}), str(GOOD2))
    findings = lint_pair(load(str(GOOD1)), second)
    assert {(f.file, f.line) for f in findings if f.code == "pair-vrid-missing"} == {
        (str(GOOD1), 39),
        (str(GOOD2), 39),
    }


# --- the running director -------------------------------------------------------------------


def snapshot_of(
    cfg: Config, edit_services: Callable[[list[Service]], None] | None = None
) -> Snapshot:
    """The IPVS table keepalived would build from `cfg` (every real server up)."""
    services = []
    for vs in cfg.virtual_servers:
        assert vs.address is not None and vs.port is not None
        method = {"DR": Forward.ROUTE, "NAT": Forward.MASQ, "TUN": Forward.TUNNEL}[vs.method]
        services.append(
            Service(
                ServiceKey.inet(Protocol[vs.protocol or "UDP"], vs.address, vs.port),
                vs.lvs_sched or "wlc",
                flags=SVC_F_PERSISTENT if vs.persistence_timeout else 0,
                timeout=vs.persistence_timeout or 0,
                real_servers=tuple(
                    RealServer(r.address, vs.port, method, vs.rs_weight(r)) for r in vs.real_servers
                ),
            )
        )
    if edit_services is not None:
        edit_services(services)
    return Snapshot(0.0, 0.0, "lvs1", SourceKind.SIMULATED, tuple(services))


def _rs(svc: Service, fn: Callable[[tuple[RealServer, ...]], tuple[RealServer, ...]]) -> Service:
    return replace(svc, real_servers=fn(svc.real_servers))


MANUAL_PORT_80 = [  # the seed's `ipvsadm -A -t VIP:80 -s rr; ipvsadm -a ... -g`, section 5.6
    Service(
        ServiceKey.inet(Protocol.TCP, vip, 80),
        "rr",
        real_servers=(
            RealServer("10.255.23.4", 80, Forward.ROUTE, 1),
            RealServer("10.255.23.9", 80, Forward.ROUTE, 1),
        ),
    )
    for vip in ("10.255.23.73", "10.255.23.74")
]

LIVE: list[tuple[str, int, Callable[[list[Service]], None], Severity]] = [
    ("live-unmanaged-service", 0, lambda s: s.extend(MANUAL_PORT_80), Severity.WARNING),
    ("live-unknown-address", 0, lambda s: s.extend(MANUAL_PORT_80), Severity.WARNING),
    ("live-missing-service", 89, lambda s: s.pop(1), Severity.ERROR),
    (
        "live-missing-rs",
        75,
        lambda s: s.__setitem__(0, _rs(s[0], lambda r: r[:1])),
        Severity.WARNING,
    ),
    (
        "live-weight",
        63,
        lambda s: s.__setitem__(0, _rs(s[0], lambda r: (replace(r[0], weight=5), *r[1:]))),
        Severity.WARNING,
    ),
    (
        "live-method",
        63,
        lambda s: s.__setitem__(
            0, _rs(s[0], lambda r: (replace(r[0], forward=Forward.MASQ), *r[1:]))
        ),
        Severity.WARNING,
    ),
    (
        "live-service-settings",
        57,
        lambda s: s.__setitem__(0, replace(s[0], scheduler="wlc")),
        Severity.WARNING,
    ),
    (
        "live-service-settings",
        57,
        lambda s: s.__setitem__(0, replace(s[0], flags=0, timeout=0)),
        Severity.WARNING,
    ),
    (
        "live-unmanaged-rs",
        57,
        lambda s: s.__setitem__(
            0, _rs(s[0], lambda r: (*r, RealServer("10.255.23.11", 8765, Forward.ROUTE, 1)))
        ),
        Severity.WARNING,
    ),
]


def test_live_table_matching_the_config_is_clean() -> None:
    cfg = load(str(GOOD1))
    assert lint_live(cfg, snapshot_of(cfg)) == []


@pytest.mark.parametrize(("code", "line", "change", "severity"), LIVE, ids=lambda v: str(v))
def test_live_rule(
    code: str, line: int, change: Callable[[list[Service]], None], severity: Severity
) -> None:
    cfg = load(str(GOOD1))
    findings = lint_live(cfg, snapshot_of(cfg, change))
    hits = [f for f in findings if f.code == code and f.line == line]
    assert hits, sorted(found(findings))
    assert {f.severity for f in hits} == {severity}
    if line == 0:
        assert {f.file for f in hits} == {"ipvs"}


def test_live_inhibited_server_at_weight_zero_is_only_info() -> None:
    cfg = loads(edit(GOOD1, {64: ("weight 1", "inhibit_on_failure")}), str(GOOD1))
    snap = snapshot_of(
        cfg, lambda s: s.__setitem__(0, _rs(s[0], lambda r: (replace(r[0], weight=0), *r[1:])))
    )
    (f,) = lint_live(cfg, snap)
    assert (f.code, f.severity, f.line) == ("live-weight", Severity.INFO, 63)


def test_live_sorry_server_in_service() -> None:
    cfg = loads(
        edit(GOOD1, {61: ("persistence_timeout 120", "sorry_server 10.255.23.99 8765")}), str(GOOD1)
    )

    def quorum_lost(s: list[Service]) -> None:
        s[0] = replace(s[0], real_servers=(RealServer("10.255.23.99", 8765, Forward.ROUTE, 1),))

    findings = lint_live(cfg, snapshot_of(cfg, quorum_lost))
    assert ("live-sorry-active", 61) in found(findings)
    assert "live-unmanaged-rs" not in {f.code for f in findings}


def test_live_seed_director_with_the_posts_manual_rules() -> None:
    """seed-lvs1 against the table the post shows (sections 5.6 and 6.3)."""
    cfg = load(str(DATA / "seed-lvs1.conf"))
    rs = (
        RealServer("10.255.23.4", 8765, Forward.ROUTE, 1),
        RealServer("10.255.23.10", 8765, Forward.ROUTE, 1),
    )
    services = [
        Service(
            ServiceKey.inet(Protocol.TCP, vip, 8765), "rr", SVC_F_PERSISTENT, 120, real_servers=rs
        )
        for vip in ("10.255.23.73", "10.255.23.74")
    ] + MANUAL_PORT_80
    findings = lint_live(cfg, Snapshot(0.0, 0.0, "lvs1", SourceKind.SIMULATED, tuple(services)))
    assert sorted((f.code, f.line) for f in findings) == [
        ("live-missing-service", 35),  # 10.0.0.100:80 from section 5.3 is not in the table
        ("live-unknown-address", 0),  # .9 is not a real server of any 8765 service
        ("live-unknown-address", 0),
        ("live-unmanaged-service", 0),  # 10.255.23.73:80
        ("live-unmanaged-service", 0),  # 10.255.23.74:80
    ]
    assert any("10.255.23.9" in f.message for f in findings if f.code == "live-unknown-address")


def test_live_lab_capture_after_a_real_server_failed() -> None:
    """The lab's lvs1 with HTTP on .10 stopped: keepalived had removed .10 (captured)."""
    _size, services = parse_ip_vs((CAPTURES / "proc-ip_vs.txt").read_text(), hz=250)
    snap = Snapshot(0.0, 0.0, "lvs1", SourceKind.PROCFS, tuple(services))
    findings = lint_live(load(str(LAB / "keepalived-lvs1.conf")), snap)
    assert [(f.code, f.severity) for f in findings] == [("live-missing-rs", Severity.WARNING)] * 2
    assert all("198.18.23.10:8765" in f.message for f in findings)


# --- every rule is tested -------------------------------------------------------------------


def test_every_rule_has_a_case() -> None:
    codes = {c.code for c in SINGLE} | {c.code for c in PAIR} | {c for c, *_ in LIVE}
    codes |= {"live-sorry-active"}
    assert codes == set(RULES), f"untested: {set(RULES) - codes}; unknown: {codes - set(RULES)}"


def test_every_code_emitted_on_the_fixtures_is_documented() -> None:
    paths = [str(p) for p in sorted(DATA.glob("*.conf"))]
    report = lint_files(paths, config_id="lvs1")
    assert {f.code for f in report.findings} <= set(RULES)


# --- files, output, CLI ---------------------------------------------------------------------


def test_config_ids_per_file() -> None:
    with pytest.raises(ConfigUnusable):
        lint_files([str(GOOD1), str(GOOD2)], config_id=["a", "b", "c"])
    report = lint_files([str(DATA / "bad-syntax.conf")], config_id=["lvs1"])
    assert report.configs[0].global_defs is not None
    assert report.configs[0].global_defs.router_id == "lvs1"


def test_a_file_without_keepalived_configuration_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "empty.conf"
    path.write_text("# nothing here\n")
    with pytest.raises(ConfigUnusable, match="no keepalived configuration"):
        lint_files([str(path)])


def test_text_format() -> None:
    f = Finding("k.conf", 3, Severity.WARNING, "x", "msg", "do this")
    assert format_text([f]) == "k.conf:3: warning: msg\n  hint: do this\n"


def test_exit_code_ignores_info() -> None:
    info = Finding("k.conf", 3, Severity.INFO, "deprecated", "m", "h")
    assert LintReport((), (info,)).exit_code == 0
    assert LintReport((), (replace(info, severity=Severity.WARNING),)).exit_code == 1


def test_json_document() -> None:
    doc = to_json(lint_files([str(DATA / "bad-vrrp.conf")]))
    assert doc["format"] == "lvstop.lint/1" and doc["exit_code"] == 1
    first = doc["findings"][0]
    assert set(first) == {"file", "line", "severity", "code", "message", "hint"}
    assert doc["counts"]["error"] == sum(1 for f in doc["findings"] if f["severity"] == "error")
    json.dumps(doc)


LVSTOP = [sys.executable, "-m", "lvstop", "lint"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LVSTOP, *args], capture_output=True, text=True, timeout=60)


def test_cli_clean_pair_exits_0() -> None:
    out = run(str(GOOD1), str(GOOD2))
    assert (out.returncode, out.stdout) == (0, "")
    assert out.stderr.strip() == "lvstop lint: 2 files: 0 error(s), 0 warning(s), 0 info"


def test_cli_findings_exit_1_in_the_documented_format() -> None:
    out = run(str(DATA / "seed-lvs1.conf"))
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert len(lines) == 2 * len(SEED_LVS1)
    for finding, hint in zip(lines[::2], lines[1::2], strict=True):
        path, line, rest = finding.split(":", 2)
        assert path.endswith("seed-lvs1.conf") and int(line) > 0
        assert rest.split(":", 1)[0] in (" error", " warning", " info")
        assert hint.startswith("  hint: ")
    assert "error(s)" in out.stderr and len(out.stderr.splitlines()) == 1


def test_cli_json_and_options() -> None:
    out = run(
        "--json", "--detect-threshold", "40", "--config-id", "lvs1", str(DATA / "seed-lvs1.conf")
    )
    doc = json.loads(out.stdout)
    assert out.returncode == 1 == doc["exit_code"]
    assert not [f for f in doc["findings"] if f["code"] == "detect-slow"]


@pytest.mark.parametrize(
    "args", [["/nonexistent/keepalived.conf"], [str(DATA)], ["--detect-threshold", "0"]]
)
def test_cli_unusable_input_exits_2_with_one_line(args: list[str]) -> None:
    out = run(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 or "usage:" in out.stderr
    assert "Traceback" not in out.stderr


def test_lint_imports_no_ui_and_no_kernel_library() -> None:
    code = "import sys, lvstop.sources.keepalived.lint; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = {m.split(".")[0] for m in out.stdout.split()}
    assert not loaded & {"textual", "rich", "pyroute2", "psutil"}


@pytest.mark.skipif(Path("/proc/net/ip_vs").exists(), reason="this host has IPVS loaded")
def test_cli_live_needs_a_director() -> None:
    out = run("--live", str(GOOD1))
    assert out.returncode == 2 and "not an LVS director" in out.stderr
