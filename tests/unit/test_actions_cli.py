"""The action verbs' argument handling and confirmation prompts (no kernel needed)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from lvstop.actions.base import BadTarget, Change, Confirm, Description
from lvstop.cli import build_parser
from lvstop.cli_actions import _targets, prompt_confirm
from lvstop.model.ipvs import Family, Protocol, RealServerKey, ServiceKey

PLAIN = Description("Drain x", (Change("t", "weight 1", "weight 0"),))
TYPED = Description("Fail over VI_1", (), warnings=("no peer",), confirm=Confirm.TYPED,
                    typed_word="VI_1")  # fmt: skip


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize(
    ("flags", "typed", "want"),
    [
        ([], "y\n", True),
        ([], "n\n", False),
        ([], "", False),  # end of input is a no
        (["--yes"], "", True),
    ],
)
def test_plain_confirmation(
    flags: list[str], typed: str, want: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    confirm = prompt_confirm(args("drain", "-t", "198.18.23.73:8765", "198.18.23.4:8765", *flags))
    assert confirm is not None and confirm(PLAIN) is want


@pytest.mark.parametrize(
    ("flags", "typed", "want"),
    [
        (["--yes"], "yes\n", False),  # --yes alone does not answer a typed confirmation
        (["--yes"], "VI_1\n", True),
        (["--yes", "--force"], "", True),
        (["--force"], "", False),  # --force without --yes skips nothing
    ],
)
def test_typed_confirmation(
    flags: list[str],
    typed: str,
    want: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    confirm = prompt_confirm(args("failover", "VI_1", *flags))
    assert confirm is not None and confirm(TYPED) is want
    out = capsys.readouterr().out
    assert "Fail over VI_1" in out and "! no peer" in out
    if not ("--force" in flags and "--yes" in flags):
        assert "Type VI_1 to confirm:" in out


def test_service_and_real_server_arguments() -> None:
    assert _targets(args("weight", "-u", "[2001:db8::1]:53", "[2001:db8::2]:53", "3")) == (
        ServiceKey(Family.INET6, Protocol.UDP, "2001:db8::1", 53),
        RealServerKey("2001:db8::2", 53),
    )
    assert _targets(args("restore", "--all-services", "198.18.23.4:8765")) == (
        None,
        RealServerKey("198.18.23.4", 8765),
    )
    got = _targets(args("drain", "-f", "7", "-6", "[2001:db8::2]:0"))
    assert got[0] == ServiceKey.mark(7, Family.INET6)
    for bad in (
        ["weight", "198.18.23.4:8765", "3"],
        ["weight", "-t", "198.18.23.73:8765", "--all-services", "198.18.23.4:8765", "3"],
        ["weight", "-t", "198.18.23.73", "198.18.23.4:8765", "3"],
        ["drain", "-t", "198.18.23.73:8765", "198.18.23.4"],
    ):
        with pytest.raises(BadTarget):
            _targets(args(*bad))


def test_service_options_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        args("weight", "-t", "198.18.23.73:8765", "-u", "198.18.23.73:8765", "1.2.3.4:1", "3")
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_drain_wait_times_out_with_the_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_actions import RS1, VIP1, seed_table

    from lvstop.actions import guard
    from lvstop.actions.audit import AuditLog
    from lvstop.actions.context import ActionContext
    from lvstop.actions.drain import Drain
    from lvstop.actions.guard import ReadOnlyGuard
    from lvstop.actions.memory import WeightMemory
    from lvstop.actions.run import execute
    from lvstop.cli_actions import _wait_drain

    monkeypatch.setattr(guard, "has_net_admin", lambda: True)
    ctx = ActionContext(
        guard=ReadOnlyGuard(),
        memory=WeightMemory(tmp_path / "w.json"),
        audit=AuditLog(tmp_path / "a.jsonl", use_syslog=False),
        table=seed_table(),
    )
    drain = Drain(ctx, VIP1, RS1)
    execute(drain, ctx.audit, None)
    assert _wait_drain(drain, ctx, 0.0) == 4
    captured = capsys.readouterr()
    assert "drain: active 3 (from 3)" in captured.out
    assert "timed out after 0 s: active 3" in captured.err
