"""The action verbs of the command line: weight, drain, restore (failover/failback).

Parsing, prompting and printing only; the actions themselves live in lvstop/actions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lvstop.actions.base import (
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Action,
    BadTarget,
    Confirm,
    Description,
)
from lvstop.errors import LvstopError
from lvstop.model.ipvs import RealServerKey, ServiceKey
from lvstop.model.notation import NotationError, parse_real_server, parse_service, parse_weight

if TYPE_CHECKING:
    from lvstop.actions.context import ActionContext
    from lvstop.actions.drain import Drain
    from lvstop.config import Config
    from lvstop.model.ipvs import Service
    from lvstop.model.keepalived import KeepalivedState

ACTIONS_EPILOG = """\
SERVICE is ipvsadm's notation: -t VIP:PORT, -u VIP:PORT, --sctp-service VIP:PORT or
-f FWMARK (with -6 for an IPv6 fwmark service); IPv6 addresses as [ADDR]:PORT.
RS is RIP:PORT. --all-services acts on every service RS belongs to: all or nothing.

Every action shows what it will do and asks; --yes answers a plain yes. An action whose
outcome lvstop cannot vouch for (a failover with no peer known to be ready, stopping
keepalived) needs the typed word even with --yes, unless --force is also given.
Each attempt is one JSON line in the audit log (config actions.audit_log) and syslog.

exit codes: 0 done and verified (or --dry-run shown); 1 failed (changes rolled back);
2 bad input (unknown service or real server, bad weight); 3 refused (read-only, no
privileges, preflight, not confirmed); 4 drain --wait timed out; 5 failed and the
rollback failed too (fix by hand).
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", "-y", action="store_true", help="do not ask (scripts)")
    p.add_argument(
        "--force", action="store_true", help="with --yes: skip even a typed confirmation"
    )
    p.add_argument("--dry-run", action="store_true", help="show what would happen; change nothing")
    p.add_argument("--read-only", action="store_true", help="refuse every change (for testing)")


def _service_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("-t", "--tcp-service", metavar="VIP:PORT", dest="tcp")
    group.add_argument("-u", "--udp-service", metavar="VIP:PORT", dest="udp")
    group.add_argument("--sctp-service", metavar="VIP:PORT", dest="sctp")
    group.add_argument("-f", "--fwmark-service", metavar="FWMARK", dest="fwmark")
    p.add_argument("-6", "--ipv6", action="store_true", help="with -f: an IPv6 fwmark service")
    p.add_argument(
        "--all-services",
        action="store_true",
        help="every service the real server belongs to (all or nothing)",
    )
    p.add_argument("rs", metavar="RS", help="real server, RIP:PORT")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=ACTIONS_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(action_verb=name)
        return p

    weight = verb("weight", "set a real server's weight (only the weight changes)")
    _service_args(weight)
    weight.add_argument("weight", metavar="WEIGHT", help="0..65535")
    _common(weight)
    drain = verb("drain", "weight 0: new connections go elsewhere; watch active ones fall")
    _service_args(drain)
    drain.add_argument("--wait", action="store_true", help="return when active connections are 0")
    drain.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="with --wait (default 300)"
    )
    _common(drain)
    restore = verb("restore", "set the weight back to what it was before lvstop changed it")
    _service_args(restore)
    _common(restore)
    failover = verb("failover", "hand a VRRP instance (and its sync group) to the peer")
    failover.add_argument("instance", metavar="INSTANCE", help="vrrp_instance name, e.g. VI_1")
    failover.add_argument(
        "--stop-keepalived",
        action="store_true",
        help="last resort: stop keepalived here instead (drops every instance and checker)",
    )
    _common(failover)
    failback = verb("failback", "clear lvstop's fault on a VRRP instance so it can return")
    failback.add_argument("instance", metavar="INSTANCE", help="vrrp_instance name")
    _common(failback)


def _service(args: argparse.Namespace) -> ServiceKey | None:
    for kind in ("tcp", "udp", "sctp", "fwmark"):
        value = getattr(args, kind)
        if value is not None:
            return parse_service(kind, value, ipv6=args.ipv6)
    return None


def _targets(args: argparse.Namespace) -> tuple[ServiceKey | None, RealServerKey]:
    try:
        service = _service(args)
        rs = parse_real_server(args.rs)
    except NotationError as exc:
        raise BadTarget(str(exc)) from None
    if service is not None and args.all_services:
        raise BadTarget("give either a service or --all-services, not both")
    if service is None and not args.all_services:
        raise BadTarget("give a service (-t/-u/--sctp-service/-f VALUE) or --all-services")
    return service, rs


def _out(line: str) -> None:
    print(line, flush=True)


def _err(line: str) -> None:
    print(f"lvstop: {line}", file=sys.stderr, flush=True)


def prompt_confirm(args: argparse.Namespace) -> Callable[[Description], bool] | None:
    """The confirmation callback for execute(); None when --yes settles it up front."""

    def ask(desc: Description) -> bool:
        for line in desc.lines():
            _out(line)
        if desc.confirm is Confirm.TYPED:
            if args.yes and args.force:
                return True
            word = desc.typed_word or "yes"
            if args.yes:
                _out("--yes does not cover this one (add --force to skip it).")
            answer = _read(f"Type {word} to confirm: ")
            return answer == word
        if args.yes:
            return True
        return _read("Apply? [y/N] ").lower() in ("y", "yes")

    return ask


def _read(question: str) -> str:
    sys.stdout.write(question)
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line or not sys.stdin.isatty():
        _out("")  # nobody's typing echoed a newline: end the prompt's line ourselves
    return line.strip()


def run(args: argparse.Namespace) -> int:
    """Dispatch one action verb; returns the exit code."""
    from lvstop import config
    from lvstop.actions.drain import Drain
    from lvstop.actions.run import execute

    if getattr(args, "demo", False):
        _err("actions need a live director (not --demo)")
        return EXIT_USAGE
    cfg = config.load(args.config)
    for warning in cfg.warnings:
        _err(warning)
    vrrp = args.action_verb in ("failover", "failback")
    ctx = _context(args, cfg, ipvs=not vrrp)
    try:
        try:
            action = _build_vrrp(args, ctx) if vrrp else _build(args, ctx)
        except BadTarget as exc:
            _audit_bad_input(ctx, args, str(exc))
            raise
        outcome = execute(action, ctx.audit, prompt_confirm(args), dry_run=args.dry_run, warn=_err)
        if outcome.result == "dry-run":
            for line in outcome.description.lines():
                _out(line)
            _out("dry run: nothing changed")
            return EXIT_OK
        for fact in outcome.verified.facts:
            _out(fact)
        if isinstance(action, Drain) and args.wait:
            return _wait_drain(action, ctx, args.timeout)
        return EXIT_OK
    finally:
        if ctx.table is not None:
            ctx.table.close()


def _context(args: argparse.Namespace, cfg: Config, *, ipvs: bool) -> ActionContext:
    from lvstop.actions.audit import AuditLog
    from lvstop.actions.context import ActionContext
    from lvstop.actions.guard import ReadOnlyGuard
    from lvstop.actions.ipvs_write import NetlinkIpvsTable
    from lvstop.actions.memory import WeightMemory

    return ActionContext(
        table=NetlinkIpvsTable() if ipvs else None,
        guard=ReadOnlyGuard(flag=args.read_only, config=cfg.read_only),
        memory=WeightMemory(cfg.actions.state_file),
        audit=AuditLog(cfg.actions.audit_log),
        keepalived_source=_keepalived_state,
    )


def _keepalived_state(services: Sequence[Service]) -> KeepalivedState | None:
    """Which of these real servers keepalived manages, from its configuration only.

    The checker's dumps (effective weights, health) take a signal and a file write by
    keepalived; a description does not need them. The UI passes its full snapshot.
    """
    from lvstop.sources import rtnl
    from lvstop.sources.keepalived import lint
    from lvstop.sources.keepalived.config import load
    from lvstop.sources.keepalived.runtime.processes import local_daemon
    from lvstop.sources.keepalived.state import join

    try:
        daemon = local_daemon()
        if daemon is None:
            return None
        cfg = load(daemon.path(daemon.config_file), config_id=lint.default_config_id())
        return join(
            services=services,
            processes=daemon.processes,
            config=cfg,
            config_file=daemon.config_file,
            addresses=rtnl.read_addresses(),
        )
    except (LvstopError, OSError):
        return None


def _audit_bad_input(ctx: ActionContext, args: argparse.Namespace, error: str) -> None:
    """Input that names no valid action is an attempt too: one refused line."""
    from lvstop.actions import audit

    if "instance" in args:
        target = f"vrrp_instance {args.instance}"
        rec = audit.record(args.action_verb, target, None, None, "refused", error)
        try:
            ctx.audit.write(rec)
        except audit.AuditError as exc:
            _err(f"{exc.strerror}; this refused action is NOT in the audit file")
        return
    spec = next((f"{k} {getattr(args, k)}" for k in ("tcp", "udp", "sctp", "fwmark")
                 if getattr(args, k, None) is not None), "all services")  # fmt: skip
    target = f"{spec} {args.rs}" + (f" weight {args.weight}" if "weight" in args else "")
    rec = audit.record(args.action_verb, target, None, None, "refused", error)
    try:
        ctx.audit.write(rec)
    except audit.AuditError as exc:
        _err(f"{exc.strerror}; this refused action is NOT in the audit file")


def _build(args: argparse.Namespace, ctx: ActionContext) -> Action:
    from lvstop.actions.drain import Drain
    from lvstop.actions.weight import Restore, SetWeight

    service, rs = _targets(args)
    every = bool(args.all_services)
    if args.action_verb == "weight":
        try:
            weight = parse_weight(args.weight)
        except NotationError as exc:
            raise BadTarget(str(exc)) from None
        return SetWeight(ctx, service, rs, weight, all_services=every)
    if args.action_verb == "drain":
        return Drain(ctx, service, rs, all_services=every)
    if args.action_verb == "restore":
        return Restore(ctx, service, rs, all_services=every)
    raise BadTarget(f"unknown action {args.action_verb!r}")


def _build_vrrp(args: argparse.Namespace, ctx: ActionContext) -> Action:
    """Failover/failback need keepalived's config and one snapshot with the wire view."""
    from lvstop.actions.failover import Failback, Failover, StopKeepalived, VrrpEnv
    from lvstop.director import LiveDirector
    from lvstop.model.keepalived import KeepalivedState
    from lvstop.sources.keepalived import lint
    from lvstop.sources.keepalived.config import load

    if ctx.guard.read_only or os.geteuid() != 0:
        # Refused before looking at keepalived at all; execute() audits the refusal.
        env = VrrpEnv(config=load("/dev/null"), state=KeepalivedState())
    else:
        director = LiveDirector(netlink=False, wire_warmup=True) if _has_ipvs() else None
        if director is None:
            raise BadTarget("IPVS is not loaded here: this host is not an LVS director")
        try:
            snap = director.snapshot()
        finally:
            director.close()
        state = snap.keepalived or KeepalivedState()
        if not state.config_file:
            raise BadTarget("no keepalived configuration found on this node")
        env = VrrpEnv(config=load(state.config_file, config_id=lint.default_config_id()),
                      state=state, wire_at=snap.monotonic)  # fmt: skip
    if args.action_verb == "failback":
        return Failback(ctx, env, args.instance)
    if args.stop_keepalived:
        return StopKeepalived(ctx, env, args.instance)
    return Failover(ctx, env, args.instance)


def _has_ipvs() -> bool:
    return os.path.exists("/proc/net/ip_vs")


def _wait_drain(action: Drain, ctx: ActionContext, timeout: float) -> int:
    """Print progress every second until active connections reach 0 or `timeout`."""
    from lvstop.actions.drain import DrainWatch

    watch = DrainWatch([s.target for s in action.plan()])
    deadline = time.monotonic() + timeout
    while True:
        progress = watch.observe(ctx.ipvs().services())
        _out(f"drain: {progress.line()}")
        if progress.done:
            _out("drain: done, no active connections left")
            return EXIT_OK
        if time.monotonic() >= deadline:
            _err(f"drain: timed out after {timeout:.0f} s: {progress.line()}")
            return EXIT_TIMEOUT
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
