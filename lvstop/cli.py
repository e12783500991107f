"""Command line: argument parsing and dispatch only; the work lives in the layers below."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lvstop import __version__
from lvstop.director import Director
from lvstop.errors import LvstopError
from lvstop.model.snapshot import Snapshot


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value > 3600:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= 3600 seconds: {text!r}")
    return value


def _add_source_args(p: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """--demo/--seed on the main parser and again on each subcommand.

    On subcommands the defaults are suppressed so `lvstop --demo snapshot` and
    `lvstop snapshot --demo` mean the same thing.
    """
    unset: dict[str, object] = {"default": argparse.SUPPRESS} if sub else {}
    p.add_argument(
        "--demo",
        action="store_true",
        help="use the built-in simulated director instead of this host",
        **unset,  # type: ignore[arg-type]
    )
    p.add_argument(
        "--seed",
        type=int,
        help="random seed of the simulated director (with --demo; default 1)",
        **({"default": 1} | unset),  # type: ignore[arg-type]
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lvstop",
        description="top for Linux LVS/IPVS directors running keepalived",
    )
    parser.add_argument("--version", action="version", version=f"lvstop {__version__}")
    _add_source_args(parser)
    parser.add_argument(
        "--interval",
        type=_positive_float,
        default=None,
        help="seconds between refreshes of the console (default: config, else 1)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="config file (default ~/.config/lvstop/config.yaml, else /etc/lvstop/config.yaml)",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="console: offer no action that changes the director",
    )
    parser.add_argument(
        "--theme",
        default=None,
        metavar="NAME",
        help="console colours: lvstop-dark (default), lvstop-light, lvstop-ansi (16 colours)",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="FILE",
        help="console: play back a recording (lvstop record) instead of reading this host",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    snap = sub.add_parser(
        "snapshot",
        help="print the IPVS table once (human table or --json)",
        description="Print the IPVS table once: services, real servers, counters, rates "
        "and whether each VIP is present on this node.",
    )
    _add_source_args(snap, sub=True)
    snap.add_argument("--json", action="store_true", help="one JSON document (lvstop.snapshot/1)")
    snap.add_argument(
        "--interval",
        type=_positive_float,
        default=None,
        metavar="S",
        help="take two samples S seconds apart and add lvstop's own rates",
    )
    snap.add_argument(
        "--conns",
        action="store_true",
        help="add the connection table aggregated by real server and state",
    )
    snap.add_argument("--exact", action="store_true", help="exact numbers (no K/M/G units)")
    snap.add_argument(
        "--keepalived-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="keepalived configuration to join with the table (default: the running "
        "keepalived's -f, else /etc/keepalived/keepalived.conf)",
    )
    snap.add_argument(
        "--no-keepalived",
        action="store_true",
        help="leave keepalived alone: no dumps, no VRRP listener (JSON keepalived: null)",
    )
    _add_record_parser(sub)
    _add_lint_parser(sub)
    from lvstop import cli_actions

    cli_actions.add_parsers(sub)
    return parser


def _add_record_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rec = sub.add_parser(
        "record",
        help="write snapshots to a file, one JSON line each (play back with --replay)",
        description="Poll the director and append one lvstop.snapshot/1 document per line "
        "to FILE ('-': standard output), for `lvstop --replay FILE`.",
    )
    _add_source_args(rec, sub=True)
    rec.add_argument("file", metavar="FILE", help="recording to write ('-': standard output)")
    rec.add_argument(
        "--interval",
        type=_positive_float,
        default=1.0,
        metavar="S",
        help="seconds between snapshots (default 1)",
    )
    rec.add_argument(
        "--count",
        type=int,
        default=None,
        metavar="N",
        help="stop after N snapshots (default: until Ctrl-C)",
    )
    rec.add_argument("--conns", action="store_true", help="include the connection table")
    rec.add_argument(
        "--no-keepalived",
        action="store_true",
        help="leave keepalived alone: no dumps, no VRRP listener",
    )


LINT_EPILOG = """\
severity: error = keepalived rejects, ignores or rewrites it, or the pair cannot agree;
warning = runs as written but is a known outage cause; info = cleanup.
output: file:line: severity: message, then '  hint: ...'; ipvs:0 = the live IPVS table.
exit codes: 0 clean (info only), 1 warnings or errors, 2 unusable input.
"""


def _add_lint_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lint = sub.add_parser(
        "lint",
        help="check keepalived configuration files (and this director's IPVS table)",
        description="Check keepalived.conf files as keepalived 2.2.7 reads them.\n"
        "Given two files (both directors of a pair), also check them against each other.",
        epilog=LINT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lint.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        default=["/etc/keepalived/keepalived.conf"],
        help="configuration files, one per director (default /etc/keepalived/keepalived.conf)",
    )
    lint.add_argument("--json", action="store_true", help="one JSON document (lvstop.lint/1)")
    lint.add_argument(
        "--live",
        action="store_true",
        help="also compare the first FILE with this director's IPVS table",
    )
    lint.add_argument(
        "--config-id",
        action="append",
        metavar="ID",
        help="id for @ID lines (default: this host's name, like keepalived); "
        "repeat once per FILE to give each file its own",
    )
    lint.add_argument(
        "--detect-threshold",
        type=_positive_float,
        metavar="S",
        help="warn when a dead real server may go unnoticed longer than S seconds (default 30)",
    )


def open_director(
    demo: bool,
    seed: int,
    *,
    keepalived: bool = True,
    keepalived_config: Path | None = None,
    one_shot: bool = False,
) -> Director:
    """The simulated director for --demo, else this host's.

    `one_shot` lets the first snapshot wait for the VRRP listener to hear one advert
    interval, so a single snapshot has a wire view.
    """
    if demo:
        from lvstop.sources.simulated import SimulatedDirector

        return SimulatedDirector(seed=seed, keepalived=keepalived)
    from lvstop.director import LiveDirector

    return LiveDirector(
        keepalived=keepalived, keepalived_config=keepalived_config, wire_warmup=one_shot
    )


def cmd_snapshot(args: argparse.Namespace) -> int:
    from lvstop.model.diff import diff
    from lvstop.model.serialize import snapshot_json
    from lvstop.report import render

    director = open_director(
        args.demo,
        args.seed,
        keepalived=not args.no_keepalived,
        keepalived_config=args.keepalived_config,
        # With --interval the listener hears the wire while the interval runs; waiting
        # before the first sample would only push it away from the traffic measured.
        one_shot=args.interval is None,
    )
    try:
        first = director.snapshot(connections=args.conns)
        d = None
        snap = first
        if args.interval is not None:
            time.sleep(args.interval)
            snap = director.snapshot(connections=args.conns)
            d = diff(first, snap)
    finally:
        director.close()
    if args.json:
        json.dump(snapshot_json(snap, d), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(snap, d, exact=args.exact))
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """Poll every --interval (re-armed after each poll) and append one JSON line each."""
    from lvstop.model.diff import diff
    from lvstop.sources.replay import write_snapshot

    if args.count is not None and args.count < 1:
        raise LvstopError(f"--count must be at least 1, not {args.count}", exit_code=2)
    director = open_director(args.demo, args.seed, keepalived=not args.no_keepalived)
    out = sys.stdout if args.file == "-" else open(args.file, "a", encoding="utf-8")  # noqa: SIM115
    try:
        prev: Snapshot | None = None
        n = 0
        while args.count is None or n < args.count:
            if n:
                time.sleep(args.interval)
            snap = director.snapshot(connections=args.conns)
            write_snapshot(out, snap, None if prev is None else diff(prev, snap))
            out.flush()
            prev, n = snap, n + 1
    finally:
        director.close()
        if out is not sys.stdout:
            out.close()
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    """The live console (lvstop/ui); config problems are shown inside it, not fatal."""
    from lvstop import config
    from lvstop.ui.launch import run_console

    cfg = config.load(args.config)
    director: Director
    if args.replay is not None:
        if args.demo:
            raise LvstopError("--replay and --demo exclude each other", exit_code=2)
        from lvstop.sources.replay import ReplayDirector

        director = ReplayDirector.open(args.replay)
    else:
        director = open_director(
            args.demo,
            args.seed,
            keepalived=cfg.keepalived,
            keepalived_config=cfg.keepalived_config,
        )
    try:
        return run_console(
            director, cfg, interval=args.interval, read_only=args.read_only, theme=args.theme
        )
    finally:
        director.close()


def cmd_lint(args: argparse.Namespace) -> int:
    """Lint keepalived files; with --live also this director's IPVS table against the first."""
    from lvstop.sources.keepalived import lint

    report = lint.lint_files(
        args.files, config_id=args.config_id, detect_threshold_s=args.detect_threshold
    )
    if args.live:
        from lvstop.director import LiveDirector

        director = LiveDirector(keepalived=False)
        try:
            snap = director.snapshot()
        finally:
            director.close()
        report = report.with_findings(lint.lint_live(report.configs[0], snap))
    if args.json:
        json.dump(lint.to_json(report), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(lint.format_text(report.findings))
    print(lint.summary_line(report), file=sys.stderr)
    return report.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "snapshot":
            return cmd_snapshot(args)
        if args.command == "record":
            return cmd_record(args)
        if args.command == "lint":
            return cmd_lint(args)
        if getattr(args, "action_verb", None) is not None:
            from lvstop import cli_actions

            return cli_actions.run(args)
        return cmd_console(args)
    except LvstopError as exc:
        print(f"lvstop: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a message.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        if os.environ.get("LVSTOP_DEBUG"):
            raise
        print(
            f"lvstop: internal error: {exc!r} (set LVSTOP_DEBUG=1 for a traceback)", file=sys.stderr
        )
        return 1
