"""The keepalived parser and lint never crash: property-based, over mutated real configs.

Inputs are keepalived's own sample configurations (tests/data/keepalived/samples, from
Debian's keepalived 2.2.7) and lvstop's test configurations, mutated the way real
files go wrong: lines deleted, duplicated, swapped or cut; stray braces and quotes;
`include`s of missing files, of globs and of the file itself; `@id` prefixes; `$NAME`
definitions (also self-referencing ones) and uses; `~SEQ`; random text and bytes.
Whatever comes out, `load` + `lint_config` (+ `lint_pair`) must give a model and
findings that point at a file and line, and never raise, except the one clear
`ConfigUnusable` for a file with NUL bytes (binary data, not a configuration).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lvstop.sources.keepalived import lint
from lvstop.sources.keepalived.config import Config, load
from lvstop.sources.keepalived.parser import ConfigUnusable, Finding

DATA = Path(__file__).resolve().parents[1] / "data" / "keepalived"
SOURCES = sorted(
    [*(DATA / "samples").glob("keepalived.conf.*"), *DATA.glob("*.conf")], key=lambda p: p.name
)
MAIN = "keepalived.conf"

SNIPPETS = (
    "{",
    "}",
    "{ }",
    '"',
    "'",
    '"unterminated quote',
    "include missing.conf",
    "include /nonexistent/dir/*.conf",
    "include inc/*.conf",
    f"include {MAIN}",
    "include *",
    "include",
    "@lvs1 ",
    "@^lvs2 ",
    "@",
    "@^",
    "$VAR=198.18.23.73",
    "$VAR",
    "${VAR}",
    "$LOOP=${LOOP}${LOOP}",
    "$A=${B}",
    "$B=${A}",
    "$EMPTY=",
    "${UNDEFINED}",
    "~SEQ(i,1,3) real_server 198.18.23.${i} 8765",
    "\\",
    "#",
    "!",
    "vrrp_instance",
    "virtual_server",
    "virtual_server 198.18.23.73",
    "real_server 198.18.23.4 99999999999999999999",
    "weight -1",
    "priority 300",
    "virtual_router_id 0",
    "advert_int 0",
    "delay_loop nan",
    "lb_kind",
    "auth_pass",
    "virtual_ipaddress {",
    "198.18.23.73/33 dev",
    "track_script {",
    "}}}}",
    "{{{{",
    "a {" * 40,
    "include " + "{a,b}" * 12 + ".conf",
    "router_id ${LOOP}",
    "$M=a \\",
    "${M} ${M} \\",
)

text_line = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
).map(lambda t: t.replace("\0", ""))


@st.composite
def mutation(draw: st.DrawFn, n_lines: int) -> tuple[str, int, int, bytes]:
    op = draw(
        st.sampled_from(
            ("delete", "duplicate", "swap", "insert", "prefix", "cut", "replace", "bytes")
        )
    )
    i = draw(st.integers(0, max(0, n_lines - 1)))
    j = draw(st.integers(0, max(0, n_lines - 1)))
    if op == "bytes":
        payload = draw(st.binary(min_size=1, max_size=24))
    elif op in ("insert", "prefix", "replace"):
        payload = draw(st.one_of(st.sampled_from(SNIPPETS), text_line)).encode()
    else:
        payload = b""
    return op, i, j, payload


def mutate(lines: list[bytes], ops: list[tuple[str, int, int, bytes]]) -> bytes:
    for op, i, j, payload in ops:
        if not lines:
            lines = [payload]
            continue
        i, j = i % len(lines), j % len(lines)
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            lines.insert(i, payload)
        elif op == "prefix":
            lines[i] = payload + lines[i]
        elif op == "cut":
            lines[i] = lines[i][: j % (len(lines[i]) + 1)]
        elif op == "replace":
            lines[i] = payload
        else:  # raw bytes somewhere in a line
            cut = j % (len(lines[i]) + 1)
            lines[i] = lines[i][:cut] + payload + lines[i][cut:]
    return b"\n".join(lines) + b"\n"


@st.composite
def configs(draw: st.DrawFn) -> bytes:
    source = draw(st.sampled_from(SOURCES))
    lines = source.read_bytes().split(b"\n")
    ops = draw(st.lists(mutation(len(lines)), min_size=1, max_size=8))
    return mutate(lines, ops)


def check_findings(findings: list[Finding] | tuple[Finding, ...], files: set[str]) -> None:
    for f in findings:
        assert isinstance(f, Finding)
        assert isinstance(f.line, int) and f.line >= 0, f
        assert f.file and f.message and f.severity in ("error", "warning", "info"), f
        assert f.file in files or f.file.startswith("<"), (f, files)


def parse_and_lint(directory: str, data: bytes, config_id: str | None) -> Config | None:
    path = os.path.join(directory, MAIN)
    with open(path, "wb") as fh:
        fh.write(data)
    try:
        cfg = load(path, config_id=config_id)
    except ConfigUnusable as exc:
        assert b"\0" in data, exc  # the only input refused outright: binary data
        assert path in str(exc)
        return None
    assert isinstance(cfg, Config)
    files = {*cfg.files, path}
    check_findings(lint.lint_config(cfg), files)
    return cfg


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    a=configs(),
    b=configs(),
    config_id=st.sampled_from((None, "lvs1", "lvs2")),
)
def test_mutated_configs_parse_and_lint_without_crashing(
    a: bytes, b: bytes, config_id: str | None
) -> None:
    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
        inc = Path(d1) / "inc"
        inc.mkdir()
        (inc / "tracks.conf").write_bytes((DATA / "inc" / "tracks.conf").read_bytes())
        first = parse_and_lint(d1, a, config_id)
        second = parse_and_lint(d2, b, config_id)
        if first is not None and second is not None:
            files = {*first.files, *second.files}
            check_findings(lint.lint_pair(first, second), files)


def test_sources_are_there() -> None:
    samples = [p for p in SOURCES if p.parent.name == "samples"]
    assert len(samples) >= 20 and len(SOURCES) > len(samples)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_unmutated_sources_parse_and_lint(source: Path, tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "tracks.conf").write_bytes((DATA / "inc" / "tracks.conf").read_bytes())
    assert parse_and_lint(str(tmp_path), source.read_bytes(), None) is not None


# Crashes and hangs the property test and its probes found (fixed in the parser).
PATHOLOGICAL = {
    # RecursionError: 5000 nested blocks
    "deep-nesting": "vrrp_instance X {\n" + "a {\n" * 5000 + "}\n" * 5000 + "}\n",
    "deep-unexpected-braces": "{\n" * 5000 + "}\n" * 5000,
    # exponential: each use of $A doubles it, 32 rounds
    "self-doubling-definition": "$A=x\n$A=${A}${A}\nrouter_id ${A}\n",
    "multi-line-self-reference": "$M=a \\\n${M} \\\n${M}\nrouter_id ${M}\n",
    # 2^20 brace expansions, each globbed
    "brace-bomb-include": "include " + "{a,b}" * 20 + "\n",
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_inputs_are_findings_not_crashes(name: str, tmp_path: Path) -> None:
    began = time.monotonic()
    cfg = parse_and_lint(str(tmp_path), PATHOLOGICAL[name].encode(), None)
    assert cfg is not None
    assert time.monotonic() - began < 10
    codes = {f.code for f in lint.lint_config(cfg)}
    expected = {
        "deep-nesting": "nesting-too-deep",
        "deep-unexpected-braces": "nesting-too-deep",
        "self-doubling-definition": "definition-explodes",
        "multi-line-self-reference": "definition-explodes",
        "brace-bomb-include": "include-pattern",
    }[name]
    assert expected in codes
