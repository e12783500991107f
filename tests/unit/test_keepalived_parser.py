"""keepalived.conf parser and model: keepalived 2.2.7's reading rules, checked against it.

The last tests run the real `keepalived -t` on the fixtures and require that every
problem keepalived reports is also reported by lvstop (at the same file:line where
keepalived gives one).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lvstop.sources.keepalived.config import (
    Checker,
    Config,
    RealServer,
    VirtualServer,
    check_timing,
    load,
    loads,
)
from lvstop.sources.keepalived.lint import lint_config
from lvstop.sources.keepalived.parser import (
    ConfigUnusable,
    Node,
    ParsedConfig,
    Severity,
    command_words,
    decomment,
    expand_braces,
    iter_nodes,
    parse_file,
    parse_text,
    split_words,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "keepalived"
LAB = Path(__file__).resolve().parents[1] / "lab" / "seed"


def codes(parsed: ParsedConfig | Config) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in parsed.findings]


def tree(parsed: ParsedConfig) -> list[tuple[int, tuple[str, ...]]]:
    """(line, words) of every statement, depth first."""
    return [(n.line, n.words) for n in iter_nodes(parsed.nodes)]


# --- lexical rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "text", "continued"),
    [
        ("  router_id lvs1  # the name", "router_id lvs1", False),
        ("router_id lvs1 ! bang comment", "router_id lvs1", False),
        ('script "/bin/echo #1 !2"  # real comment', 'script "/bin/echo #1 !2"', False),
        (r"auth_pass ab\#cd\!", "auth_pass ab#cd!", False),
        ("priority 100 \\", "priority 100", True),
        ("# a comment ending in a backslash \\", "", True),
        ("! only a comment", "", False),
    ],
)
def test_decomment(line: str, text: str, continued: bool) -> None:
    assert decomment(line)[:2] == (text, continued)


def test_decomment_reports_an_unterminated_quote() -> None:
    assert decomment('script "/bin/true')[2] is True


def test_words_keep_double_quoted_blanks_and_drop_the_quotes() -> None:
    assert split_words('script "/usr/bin/check  two"  x') == (
        ("script", "/usr/bin/check  two", "x"),
        False,
    )
    assert split_words('a "open') == (("a",), True)


def test_command_words_follow_keepalived_quoting_and_escapes() -> None:
    assert command_words(r"""/bin/sh -c 'echo $1' "a b" c\tx \x41\101""") == (
        "/bin/sh",
        "-c",
        "echo $1",
        "a b",
        "c\tx",
        "AA",
    )


def test_brace_expansion_like_glob_brace() -> None:
    assert expand_braces("conf.d/{a,b{1,2}}.conf") == [
        "conf.d/a.conf",
        "conf.d/b1.conf",
        "conf.d/b2.conf",
    ]
    assert expand_braces("x{y}z") == ["x{y}z"]


# --- structure --------------------------------------------------------------------------


def test_blocks_nest_and_braces_are_tokens_anywhere() -> None:
    text = (
        "vrrp_instance VI_1 {\n"
        "    virtual_ipaddress { 10.0.0.1\n"
        "        10.0.0.2 }\n"
        "    authentication\n"
        "    {\n"
        "        auth_pass x\n"
        "    }\n"
        "}\n"
    )
    p = parse_text(text)
    assert p.findings == ()
    assert tree(p) == [
        (1, ("vrrp_instance", "VI_1")),
        (2, ("virtual_ipaddress",)),
        (2, ("10.0.0.1",)),
        (3, ("10.0.0.2",)),
        (4, ("authentication",)),
        (6, ("auth_pass", "x")),
    ]
    inst = p.nodes[0]
    assert inst.block is not None and inst.block[1].block == (
        Node(("auth_pass", "x"), "<string>", 6, None, 5),
    )


def test_brace_errors_are_reported_not_raised() -> None:
    p = parse_text("global_defs {\n router_id a\n}\n}\nvrrp_instance X {\n state BACKUP\n")
    assert codes(p) == [("brace-extra", 4), ("brace-unclosed", 5)]
    q = parse_text("{\n a\n}\n")
    assert codes(q) == [("brace-unexpected", 1)]


def test_every_statement_has_file_line_and_read_order(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("vrrp_script s {\n  script /bin/true\n}\n")
    main = tmp_path / "main.conf"
    main.write_text("global_defs {\n router_id a\n}\ninclude inc.conf\nvrrp_instance I {\n}\n")
    p = parse_file(str(main))
    got = [(os.path.basename(n.file), n.line, n.seq, n.keyword) for n in iter_nodes(p.nodes)]
    assert got == [
        ("main.conf", 1, 0, "global_defs"),
        ("main.conf", 2, 1, "router_id"),
        ("inc.conf", 1, 2, "vrrp_script"),
        ("inc.conf", 2, 3, "script"),
        ("main.conf", 5, 4, "vrrp_instance"),
    ]


# --- includes, conditionals, definitions ----------------------------------------------------


def test_include_globs_relative_to_the_including_file(tmp_path: Path) -> None:
    sub = tmp_path / "conf.d"
    sub.mkdir()
    (sub / "b.conf").write_text("vrrp_script b {\n}\n")
    (sub / "a.conf").write_text("include ../more/{x,y}.conf\nvrrp_script a {\n}\n")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "y.conf").write_text("vrrp_script y {\n}\n")
    main = tmp_path / "keepalived.conf"
    main.write_text("include conf.d/*.conf\ninclude nothing/*.conf\n")
    p = parse_file(str(main))
    assert [n.args[0] for n in p.nodes] == ["y", "a", "b"]
    assert [os.path.relpath(f, tmp_path) for f in p.files] == [
        "keepalived.conf",
        "conf.d/a.conf",
        "more/y.conf",
        "conf.d/b.conf",
    ]
    assert codes(p) == [("include-missing", 2)]
    assert p.findings[0].severity is Severity.WARNING


def test_strict_include_variants_make_a_missing_file_an_error(tmp_path: Path) -> None:
    main = tmp_path / "k.conf"
    main.write_text("includea missing.conf\n")
    (f,) = parse_file(str(main)).findings
    assert (f.code, f.severity) == ("include-missing", Severity.ERROR)


def test_include_loops_and_unreadable_includes_are_findings(tmp_path: Path) -> None:
    main = tmp_path / "k.conf"
    main.write_text("include k.conf\ninclude sub\n")
    (tmp_path / "sub").mkdir()
    assert codes(parse_file(str(main))) == [("include-loop", 1), ("include-unreadable", 2)]


def test_conditional_lines_follow_the_config_id() -> None:
    text = "@lvs1 vrrp_script one {\n@lvs1 }\n@^lvs1 vrrp_script other {\n@^lvs1 }\n@lvs1\n"
    on_lvs1 = parse_text(text, config_id="lvs1")
    assert [n.args for n in on_lvs1.nodes] == [("one",)]
    assert on_lvs1.conditional_ids == {"lvs1"}
    assert [n.args for n in parse_text(text, config_id="lvs2").nodes] == [("other",)]
    assert [n.args for n in parse_text(text).nodes] == [("other",)]


def test_definitions_plain_braced_multiline_and_builtins() -> None:
    text = (
        "$PRIO=150\n"
        "$BLOCK=state BACKUP \\\n"
        "    priority 90\n"
        "x prio_is_$PRIO ${PRIO}0 $PRIO,1\n"
        "y ${_HASH}not-a-comment\n"
        "vrrp_instance I {\n"
        "    $BLOCK\n"
        "}\n"
        "z $UNDEFINED $BLOCK tail\n"
    )
    p = parse_text(text)
    assert tree(p) == [
        (4, ("x", "prio_is_150", "1500", "150,1")),
        (5, ("y", "#not-a-comment")),
        (6, ("vrrp_instance", "I")),
        (7, ("state", "BACKUP")),
        (7, ("priority", "90")),
        (9, ("z", "$UNDEFINED", "$BLOCK", "tail")),
    ]
    assert codes(p) == [("undefined-variable", 9), ("definition-midline", 9)]


def test_a_backslash_does_not_continue_an_ordinary_line() -> None:
    # keepalived 2.2.7 reads "router_id\" and then "lvs1" as two statements
    p = parse_text("global_defs {\n    router_id \\\n      lvs1\n}\n")
    assert codes(p) == [("continuation", 2)]
    assert tree(p)[1:] == [(2, ("router_id",)), (3, ("lvs1",))]


def test_unsupported_generators_and_long_lines_do_not_stop_the_parser() -> None:
    text = "~SEQ(i,1,1,3) vrrp_script s$i {\n}\n" + "x " + "y" * 1100 + "\nlast line\n"
    p = parse_text(text)
    assert codes(p) == [("unsupported", 1), ("brace-extra", 2), ("line-too-long", 3)]
    assert tree(p)[-1] == (4, ("last", "line"))


def test_definition_loops_end() -> None:
    assert codes(parse_text("$A=$B\n$B=$A\nx $A\n")) == [("definition-loop", 3)]


@pytest.mark.parametrize("content", [None, "dir", b"\x7fELF\x00\x00"])
def test_unusable_main_files_raise(tmp_path: Path, content: bytes | str | None) -> None:
    path = tmp_path / "k.conf"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(ConfigUnusable) as err:
        parse_file(str(path))
    assert err.value.exit_code == 2 and str(path) in str(err.value)


def test_non_utf8_comments_are_read() -> None:
    p = parse_text(b"# \xbd\xa1\xbf\xb5\n router_id x\n".decode("utf-8", "replace"))
    assert tree(p) == [(2, ("router_id", "x"))]


# --- the model --------------------------------------------------------------------------


def test_seed_model() -> None:
    cfg = load(str(DATA / "seed-lvs1.conf"))
    vi1, vi2 = cfg.vrrp_instances
    assert (vi1.name, vi1.state, vi1.interface, vi1.vrid, vi1.priority, vi1.advert_int) == (
        "VI_1",
        "MASTER",
        "bond0",
        51,
        100,
        1.0,
    )
    assert vi1.authentication is not None and vi1.authentication.auth_pass == "11112222"
    assert [v.address for v in vi2.vips] == ["10.255.23.74"]
    assert vi2.loc("priority").line == 24
    assert [vs.label for vs in cfg.virtual_servers] == [
        "TCP 10.0.0.100:80",
        "TCP 10.255.23.73:8765",
        "TCP 10.255.23.74:8765",
        "TCP 10.255.23.73:8765",
        "TCP 10.255.23.74:8765",
    ]
    tcp = cfg.virtual_servers[0]
    assert (tcp.lvs_sched, tcp.lvs_method, tcp.persistence_timeout, tcp.delay_loop) == (
        "rr",
        "DR",
        120,
        6.0,
    )
    rs = tcp.real_servers[0]
    (chk,) = rs.checkers
    # nb_get_retry is not a TCP_CHECK keyword: keepalived ignores it, so does the model
    assert (chk.kind, chk.connect_timeout, chk.retry, chk.delay_before_retry) == (
        "TCP_CHECK",
        5.0,
        None,
        3.0,
    )
    assert [(u.keyword, u.block, u.line) for u in cfg.unknown] == [
        ("nb_get_retry", "TCP_CHECK", 45),
        ("nb_get_retry", "TCP_CHECK", 53),
    ]
    http = cfg.virtual_servers[1].real_servers[0].checkers[0]
    assert (http.kind, http.retry, http.urls[0].path, http.urls[0].status_code) == (
        "HTTP_GET",
        3,
        "/index.html",
        "200",
    )
    assert {(d.keyword, d.warn) for d in cfg.deprecated} == {
        ("lb_algo", False),
        ("lb_kind", False),
        ("nb_get_retry", True),
    }


def _walk(value: object) -> list[object]:
    out: list[object] = []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out.append(value)
        for f in dataclasses.fields(value):
            out.extend(_walk(getattr(value, f.name)))
    elif isinstance(value, tuple):
        for v in value:
            out.extend(_walk(v))
    return out


@pytest.mark.parametrize(
    "name", ["seed-lvs1.conf", "good-lvs1.conf", "bad-vrrp.conf", "bad-lvs.conf"]
)
def test_every_item_carries_file_and_line(name: str) -> None:
    cfg = load(str(DATA / name))
    items = [v for v in _walk(cfg) if not isinstance(v, Config)]
    assert items
    for item in items:
        assert getattr(item, "file", "").endswith(".conf"), item
        assert getattr(item, "line", 0) >= 1, item


def test_global_defs_and_tracking_model() -> None:
    cfg = loads(
        "global_defs {\n"
        "  router_id lvs1\n"
        "  vrrp_notify_fifo /run/k.fifo root\n"
        "  vrrp_notify_fifo_script /bin/reader\n"
        "  enable_dbus\n"
        "  enable_snmp_vrrp\n"
        "  data_use_instance\n"
        "}\n"
        "instance nodeA\n"
        "track_file maint {\n  file /run/maint\n  weight -60 reverse\n  init_file 0 overwrite\n}\n"
        "vrrp_instance I {\n"
        "  virtual_router_id 7\n"
        "  nopreempt\n"
        "  preempt_delay 5\n"
        "  unicast_peer {\n    10.0.0.2\n  }\n"
        "  track_file {\n    maint weight -100 reverse\n  }\n"
        '  notify_master "/bin/notify master"\n'
        "}\n"
    )
    gd = cfg.global_defs
    assert gd is not None and gd.router_id == "lvs1" and gd.enable_dbus and gd.enable_snmp_vrrp
    assert gd.vrrp_notify_fifo is not None
    assert (gd.vrrp_notify_fifo.path, gd.vrrp_notify_fifo.user) == ("/run/k.fifo", "root")
    assert gd.vrrp_notify_fifo.script == "/bin/reader" and gd.data_use_instance
    assert cfg.instance == "nodeA"
    (tf,) = cfg.track_files
    assert (tf.path, tf.weight, tf.reverse, tf.init_file) == (
        "/run/maint",
        -60,
        True,
        "0 overwrite",
    )
    (inst,) = cfg.vrrp_instances
    assert inst.nopreempt and inst.preempt_delay == 5.0 and inst.state is None
    assert [(r.name, r.weight, r.reverse) for r in inst.track_files] == [("maint", -100, True)]
    assert [p.address for p in inst.unicast_peers] == ["10.0.0.2"]
    assert inst.notify == (("notify_master", "/bin/notify master"),)


def test_scripts_are_kept_as_text_and_split_like_keepalived_would() -> None:
    cfg = loads("vrrp_script chk {\n  script \"/bin/sh -c 'kill -0 $(cat /run/x.pid)'\"\n}\n")
    (script,) = cfg.scripts
    assert script.script == "/bin/sh -c 'kill -0 $(cat /run/x.pid)'"
    assert script.argv == ("/bin/sh", "-c", "kill -0 $(cat /run/x.pid)")


def _timing(vs_lines: str, rs_lines: str, chk: str) -> float:
    cfg = loads(
        f"virtual_server 10.0.0.1 80 {{\n{vs_lines}\n"
        f" real_server 10.0.0.2 80 {{\n{rs_lines}\n  {chk}\n }}\n}}\n"
    )
    vs = cfg.virtual_servers[0]
    rs = vs.real_servers[0]
    t = check_timing(vs, rs, rs.checkers[0])
    assert t is not None
    return t.worst_case


@pytest.mark.parametrize(
    ("vs_lines", "rs_lines", "checker", "worst"),
    [
        ("", "", "TCP_CHECK {\n}", 60 + 2 * 5 + 1),  # all defaults
        ("", "", "HTTP_GET {\n}", 60 + 2 * 5 + 3),  # HTTP's default delay_before_retry 3
        ("delay_loop 10\nretry 2", "connect_timeout 2", "TCP_CHECK {\n}", 10 + 3 * 2 + 2 * 1),
        ("delay_loop 10", "delay_loop 4", "TCP_CHECK {\n delay_loop 1\n}", 1 + 2 * 5 + 1),
        ("delay_loop 6", "", "TCP_CHECK {\n nb_get_retry 3\n}", 6 + 2 * 5 + 1),  # ignored
        ("delay_loop 6", "", "HTTP_GET {\n nb_get_retry 3\n}", 6 + 4 * 5 + 3 * 3),
        ("delay_loop 6", "", "MISC_CHECK {\n misc_path /bin/true\n}", 6 + 6),  # retry 0
        ("delay_loop 6", "", "MISC_CHECK {\n misc_timeout 2\n retry 1\n}", 6 + 2 * 2 + 1),
        ("delay_loop 6", "", "DNS_CHECK {\n}", 6 + 4 * 5 + 3 * 6),  # retry 3, dbr=delay
    ],
)
def test_check_timing_inherits_like_keepalived(
    vs_lines: str, rs_lines: str, checker: str, worst: float
) -> None:
    assert _timing(vs_lines, rs_lines, checker) == pytest.approx(worst)


def test_checkers_without_timing() -> None:
    vs = VirtualServer("f", 1, address="10.0.0.1", port=80)
    rs = RealServer("10.0.0.2", "f", 2)
    assert check_timing(vs, rs, Checker("BFD_CHECK", "f", 3)) is None


def test_values_keepalived_rejects_become_findings() -> None:
    cfg = loads(
        "vrrp_instance I {\n"
        "  priority 300\n"
        "  virtual_router_id 9 priority 50\n"
        "  state PRIMARY\n"
        "  advert_int fast\n"
        "  virtual_ipaddress {\n    not-an-ip\n  }\n"
        "  authentication\n"
        "}\n"
        "virtual_server 10.0.0.1 80 {\n  lb_algo roundrobin\n  protocol tcp\n"
        "  real_server 10.0.0.300 80 {\n  }\n}\n"
    )
    assert codes(cfg) == [
        ("bad-value", 2),
        ("extra-args", 3),
        ("bad-value", 4),
        ("bad-value", 5),
        ("bad-value", 7),
        ("missing-block", 9),
        ("bad-value", 12),
        ("bad-value", 14),
    ]
    (inst,) = cfg.vrrp_instances
    assert (inst.priority, inst.vrid, inst.state, inst.advert_int) == (100, 9, None, 1.0)
    vs = cfg.virtual_servers[0]
    assert vs.protocol == "TCP" and vs.lvs_sched is None and vs.real_servers == ()


def test_unknown_keywords_are_recorded_with_their_block() -> None:
    cfg = loads(
        "vrrp_instanc VI_1 {\n  state MASTER\n}\n"
        "virtual_server 10.0.0.1 80 {\n  real_server 10.0.0.2 80 {\n"
        "    TCP_CHECK {\n      connect_timeout 3\n      nb_get_retry 3\n    }\n"
        "    weigth 5\n  }\n}\n"
    )
    assert [(u.keyword, u.block, u.line, u.has_block) for u in cfg.unknown] == [
        ("vrrp_instanc", "top", 1, True),
        ("nb_get_retry", "TCP_CHECK", 8, False),
        ("weigth", "real_server", 10, False),
    ]
    rs = cfg.virtual_servers[0].real_servers[0]
    assert rs.weight is None and rs.checkers[0].connect_timeout == 3.0


# --- cross-check with the real keepalived ---------------------------------------------------

KEEPALIVED = shutil.which("keepalived") or (
    "/usr/sbin/keepalived" if os.path.exists("/usr/sbin/keepalived") else None
)
MSG = re.compile(r"^\((?:(?P<file>[^:()]+): )?Line (?P<line>\d+)\) (?P<msg>.*)$")
# Host-specific checks lvstop deliberately leaves to keepalived.
IGNORED = re.compile(
    r"interface \S+ for vrrp_instance \S+ doesn't exist|Non-existent interface|"
    r"Unknown interface|cannot use a loopback interface"
)
# keepalived messages without a line number, and the lvstop code that covers each.
WITHOUT_LINE = {
    r"real server .* is duplicated": "rs-duplicate",
    r"no protocol set": "protocol-missing",
    r"no forwarding method set": "default-used",
    r"has no real servers": "vs-no-real-servers",
    r"ports don't match": "rs-port-mismatch",
    r"the virtual router id must be set": "vrid-missing",
    r"missing '}'s or extra '{'s": "brace-unclosed",
    r"SECURITY VIOLATION": "script-security",
}
FIXTURES = sorted(p.name for p in DATA.glob("*.conf"))


def keepalived_messages(path: Path, config_id: str) -> list[str]:
    assert KEEPALIVED is not None
    out = subprocess.run(
        [KEEPALIVED, "-t", "-f", path.name, "-i", config_id],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return sorted({line.strip() for line in (out.stdout + out.stderr).splitlines() if line.strip()})


@pytest.mark.skipif(KEEPALIVED is None, reason="keepalived is not installed")
@pytest.mark.parametrize("path", [DATA / n for n in FIXTURES] + sorted(LAB.glob("*.conf")), ids=str)
def test_what_keepalived_calls_a_problem_lvstop_reports_too(path: Path) -> None:
    cfg = load(str(path), config_id="lvs1")
    findings = lint_config(cfg)
    at = {(os.path.realpath(f.file), f.line) for f in findings if f.severity is not Severity.INFO}
    found_codes = {f.code for f in findings}
    missed = []
    for msg in keepalived_messages(path, "lvs1"):
        if IGNORED.search(msg):
            continue
        m = MSG.match(msg)
        if m is not None:
            file = (
                os.path.realpath(path.parent / m.group("file"))
                if m.group("file")
                else str(path.resolve())
            )
            if (file, int(m.group("line"))) not in at:
                missed.append(msg)
            continue
        code = next((c for pat, c in WITHOUT_LINE.items() if re.search(pat, msg)), None)
        if code is None or code not in found_codes:
            missed.append(msg)
    assert not missed, "keepalived reports what lvstop does not:\n" + "\n".join(missed)


@pytest.mark.skipif(KEEPALIVED is None, reason="keepalived is not installed")
def test_keepalived_itself_finds_the_fixture_mistakes() -> None:
    """Guard against fixtures drifting into configs keepalived accepts silently."""
    assert any(
        "Unknown keyword 'nb_get_retry'" in m
        for m in keepalived_messages(DATA / "seed-lvs1.conf", "x")
    )
    assert any(
        "Truncating auth_pass" in m for m in keepalived_messages(DATA / "bad-vrrp.conf", "x")
    )
