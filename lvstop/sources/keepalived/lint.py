"""`lvstop lint`: what is wrong in a keepalived configuration, before it causes an outage.

Every rule is a small function that yields `Finding(file, line, severity, code, message,
hint)`. Rules work on the typed model (`config.py`), which already holds what keepalived
2.2.7 really does with the file (ignored keywords, inherited timings, defaults).

Severity scale (exit code 1 when anything of warning level or above is found):

- **error**: keepalived rejects, ignores or rewrites this part of the configuration, so it
  does not run what the file says (an unknown keyword, a truncated auth_pass, a DR real
  server port that keepalived resets), or parts contradict each other: one VIP in two
  instances, two MASTERs for one VRID, a virtual server only one director has.
- **warning**: keepalived runs it as written, but it is a known cause of outages or of
  slow failover, or almost certainly not what was meant (duplicate virtual servers,
  30+ s to notice a dead real server, no track_file to force a failover, manual
  ipvsadm rules next to keepalived's).
- **info**: legal and harmless today; cleanup (deprecated aliases, unexpanded `$NAME`).

Findings about the live IPVS table that have no place in a file (a service keepalived
does not manage) are reported as `ipvs:0`.
"""

from __future__ import annotations

import ipaddress
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from lvstop.model.ipvs import Family, Forward, RealServer, Service, ServiceKey
from lvstop.model.ipvs import Protocol as IpProtocol
from lvstop.model.snapshot import Snapshot
from lvstop.sources.keepalived.config import (
    MISPLACED_HINTS,
    Config,
    TrackRef,
    VirtualServer,
    VrrpInstance,
    check_timing,
    load,
    normalize_ip,
    where_valid,
)
from lvstop.sources.keepalived.config import RealServer as ConfRealServer
from lvstop.sources.keepalived.parser import ConfigUnusable, Finding, Severity

DEFAULT_DETECT_THRESHOLD_S = 30.0
IPVSADM_WEIGHT_MAX = 65535
AUTH_PASS_MAX = 8
LIVE_FILE = "ipvs"

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


@dataclass(frozen=True, slots=True)
class Rule:
    severity: Severity
    summary: str


# Every code lvstop lint can emit, with its usual severity (a few rules pick a lower or
# higher one case by case, as noted). Kept as data so docs and tests can list them.
RULES: dict[str, Rule] = {
    # reading the file (parser.py)
    "brace-unclosed": Rule(ERROR, "a block is never closed"),
    "brace-extra": Rule(ERROR, "a '}' with no open block"),
    "brace-unexpected": Rule(ERROR, "a '{' with no keyword before it"),
    "quote-unmatched": Rule(ERROR, "an unterminated double quote"),
    "continuation": Rule(ERROR, "a trailing '\\' on an ordinary line (keepalived does not join)"),
    "line-too-long": Rule(ERROR, "a line longer than keepalived's 1023-byte buffer"),
    "include-missing": Rule(WARNING, "an include that matches no file (error for include[rmwba])"),
    "include-unreadable": Rule(ERROR, "an included file that cannot be read"),
    "include-loop": Rule(ERROR, "a file that includes itself"),
    "definition-loop": Rule(ERROR, "$NAME definitions that expand into each other"),
    "definition-midline": Rule(WARNING, "a multi-line $NAME used before the end of a line"),
    "undefined-variable": Rule(INFO, "$NAME with no definition (kept literally)"),
    "unsupported": Rule(WARNING, "~SEQ/~LST lines, which lvstop does not expand"),
    "conditional-unmatched": Rule(INFO, "@ID lines, none of them for this config id"),
    # the model (config.py)
    "unknown-keyword": Rule(ERROR, "a keyword keepalived does not accept in that block"),
    "missing-block": Rule(ERROR, "a block keyword without its '{ ... }'"),
    "unexpected-block": Rule(ERROR, "a '{ ... }' after a keyword that takes none"),
    "missing-value": Rule(ERROR, "a keyword without its value"),
    "bad-value": Rule(ERROR, "a value keepalived rejects (range, number, choice)"),
    "extra-args": Rule(WARNING, "words after a value that keepalived ignores"),
    "deprecated": Rule(WARNING, "a deprecated keyword (info for plain aliases like lb_algo)"),
    # one director (lint_config)
    "auth-pass-truncated": Rule(ERROR, "auth_pass longer than 8 characters"),
    "auth-pass-missing": Rule(ERROR, "authentication without auth_pass"),
    "auth-ignored": Rule(ERROR, "authentication with VRRP version 3 or strict mode"),
    "vrid-missing": Rule(ERROR, "a vrrp_instance without virtual_router_id"),
    "vrid-duplicate": Rule(ERROR, "two instances with one VRID on one interface"),
    "vip-duplicate": Rule(ERROR, "one VIP in two instances"),
    "instance-no-vip": Rule(WARNING, "a vrrp_instance without virtual_ipaddress"),
    "preempt-ignored": Rule(ERROR, "nopreempt/preempt_delay that keepalived clears"),
    "track-undefined": Rule(ERROR, "a tracked script/file not defined (above the tracker)"),
    "track-unused": Rule(WARNING, "a track_file or vrrp_script no instance uses"),
    "sync-group-member": Rule(ERROR, "a sync group naming an instance that does not exist"),
    "sync-group-single": Rule(WARNING, "a sync group with a single instance"),
    "track-weight-ignored": Rule(ERROR, "tracking weights keepalived drops (sync group, prio 255)"),
    "script-security": Rule(WARNING, "scripts configured without enable_script_security"),
    "no-failover-handle": Rule(WARNING, "an instance with no track_file to force a failover"),
    "vs-duplicate": Rule(ERROR, "two virtual_server blocks for one service (warning if equal)"),
    "vs-no-real-servers": Rule(ERROR, "a virtual_server keepalived drops for having no RS"),
    "protocol-missing": Rule(ERROR, "an address virtual_server without protocol (UDP!)"),
    "default-used": Rule(WARNING, "no lvs_sched / lvs_method: keepalived picks wlc / NAT"),
    "vip-not-in-vrrp": Rule(WARNING, "a virtual_server address no vrrp_instance carries"),
    "rs-duplicate": Rule(ERROR, "one real server twice in a virtual_server"),
    "rs-port-mismatch": Rule(ERROR, "a DR/TUN real server port unlike the service's"),
    "rs-no-checker": Rule(WARNING, "a real server without health checker (never removed)"),
    "rs-set-mismatch": Rule(WARNING, "sibling services whose real servers overlap but differ"),
    "weight-range": Rule(WARNING, "a weight outside 0..65535 (ipvsadm's range)"),
    "quorum-too-high": Rule(ERROR, "quorum above the sum of weights, or hysteresis >= quorum"),
    "detect-slow": Rule(WARNING, "worst-case time to notice a dead real server above threshold"),
    # a pair of directors (lint_pair)
    "pair-vrid-missing": Rule(ERROR, "a VRID on one director only"),
    "pair-auth": Rule(ERROR, "different authentication for one VRID"),
    "pair-advert": Rule(ERROR, "different advert_int for one VRID"),
    "pair-version": Rule(ERROR, "different VRRP version for one VRID"),
    "pair-vips": Rule(ERROR, "different VIP lists for one VRID"),
    "pair-unicast": Rule(ERROR, "unicast on one director, multicast on the other"),
    "pair-master": Rule(ERROR, "not exactly one intended MASTER (warning if none)"),
    "pair-priority": Rule(ERROR, "equal priorities, or a MASTER not strictly highest"),
    "pair-vs-missing": Rule(ERROR, "a virtual_server on one director only"),
    "pair-rs-missing": Rule(ERROR, "a real server on one director only"),
    "pair-vs-settings": Rule(WARNING, "one service with different settings or weights"),
    # the running director (lint_live)
    "live-unmanaged-service": Rule(WARNING, "an IPVS service keepalived does not manage"),
    "live-unmanaged-rs": Rule(WARNING, "an IPVS real server keepalived does not manage"),
    "live-unknown-address": Rule(
        WARNING, "a real server address no config service on that VIP uses"
    ),
    "live-missing-service": Rule(ERROR, "a configured virtual_server absent from IPVS"),
    "live-missing-rs": Rule(WARNING, "a configured real server absent from IPVS"),
    "live-weight": Rule(WARNING, "IPVS weight differs from the configured one (info if inhibited)"),
    "live-method": Rule(WARNING, "IPVS forwarding method differs from the configured one"),
    "live-service-settings": Rule(WARNING, "IPVS scheduler or persistence differs"),
    "live-sorry-active": Rule(INFO, "the sorry server is in IPVS (quorum lost)"),
}


# ---------------------------------------------------------------------------------------
# What the parser and builder noticed
# ---------------------------------------------------------------------------------------


def _read_findings(cfg: Config) -> Iterator[Finding]:
    yield from cfg.findings
    for u in cfg.unknown:
        block = "the top level" if u.block == "top" else f"a {u.block} block"
        extra = (
            "; its '{ ... }' block also upsets keepalived's nesting (the '}' closes the "
            "enclosing block)"
            if u.has_block
            else ""
        )
        places = [p for p in where_valid(u.keyword) if p != u.block]
        hint = MISPLACED_HINTS.get(u.keyword) or (
            f"'{u.keyword}' is valid in: {', '.join(places)}"
            if places
            else "check the spelling against keepalived.conf(5)"
        )
        yield Finding(
            u.file,
            u.line,
            ERROR,
            "unknown-keyword",
            f"keepalived does not accept '{u.keyword}' in {block}: it reports "
            f'"Unknown keyword" and ignores the line{extra}',
            hint,
        )
    for d in cfg.deprecated:
        yield Finding(
            d.file,
            d.line,
            WARNING if d.warn else INFO,
            "deprecated",
            f"'{d.keyword}' is deprecated ({d.note})",
            f"use '{d.replacement}' instead",
        )
    if cfg.conditional_ids and cfg.config_id not in cfg.conditional_ids:
        yield Finding(
            cfg.path,
            1,
            INFO,
            "conditional-unmatched",
            f"no @ID line is for config id '{cfg.config_id}' (ids used: "
            f"{', '.join(sorted(cfg.conditional_ids))}); lines were kept or dropped as on "
            "such a node",
            "pass --config-id with the director's name (keepalived's -i / host name)",
        )


# ---------------------------------------------------------------------------------------
# VRRP rules of one director
# ---------------------------------------------------------------------------------------


def _effective_version(cfg: Config, inst: VrrpInstance) -> int:
    if inst.version is not None:
        return inst.version
    if cfg.global_defs is not None and cfg.global_defs.vrrp_version is not None:
        return cfg.global_defs.vrrp_version
    return 2


def _auth_rules(cfg: Config) -> Iterator[Finding]:
    strict = cfg.global_defs is not None and cfg.global_defs.vrrp_strict
    for inst in cfg.vrrp_instances:
        auth = inst.authentication
        if auth is None:
            continue
        if auth.auth_pass is not None and len(auth.auth_pass) > AUTH_PASS_MAX:
            loc = auth.loc("auth_pass")
            yield Finding(
                loc.file,
                loc.line,
                ERROR,
                "auth-pass-truncated",
                f"{inst.name}: auth_pass is {len(auth.auth_pass)} characters; keepalived "
                f"silently uses only the first {AUTH_PASS_MAX} ('{auth.effective_pass}')",
                f"use at most {AUTH_PASS_MAX} characters, the same on both directors",
            )
        if auth.auth_type is not None and auth.auth_pass is None:
            yield Finding(
                auth.file,
                auth.line,
                ERROR,
                "auth-pass-missing",
                f"{inst.name}: authentication without auth_pass: keepalived reports an error",
                "add 'auth_pass SECRET' (at most 8 characters)",
            )
        if _effective_version(cfg, inst) == 3 or strict or inst.strict_mode:
            why = "VRRP version 3" if _effective_version(cfg, inst) == 3 else "strict mode"
            yield Finding(
                auth.file,
                auth.line,
                ERROR,
                "auth-ignored",
                f"{inst.name}: {why} does not support authentication; keepalived ignores it",
                "remove the authentication block (or use VRRP version 2 without strict mode)",
            )


def _instance_rules(cfg: Config) -> Iterator[Finding]:
    seen_vrid: dict[tuple[str, int, bool], VrrpInstance] = {}
    seen_vip: dict[str, VrrpInstance] = {}
    for inst in cfg.vrrp_instances:
        if inst.vrid is None:
            yield Finding(
                inst.file,
                inst.line,
                ERROR,
                "vrid-missing",
                f"{inst.name} has no virtual_router_id: keepalived's VRRP process exits with a "
                "configuration error, so no instance runs at all",
                "add 'virtual_router_id N' (1..255, the same on both directors)",
            )
        else:
            v6 = any(":" in v.address for v in inst.vips)
            key = (inst.interface or "", inst.vrid, v6)
            other = seen_vrid.get(key)
            if other is not None:
                loc = inst.loc("virtual_router_id")
                yield Finding(
                    loc.file,
                    loc.line,
                    ERROR,
                    "vrid-duplicate",
                    f"{inst.name} uses VRID {inst.vrid} on {inst.interface or '?'} like "
                    f"{other.name} ({other.file}:{other.line}): keepalived's VRRP process exits "
                    "with a configuration error",
                    "give each instance on an interface its own virtual_router_id",
                )
            else:
                seen_vrid[key] = inst
        if not inst.vips:
            yield Finding(
                inst.file,
                inst.line,
                WARNING,
                "instance-no-vip",
                f"{inst.name} has no virtual_ipaddress: failover moves nothing",
                "add 'virtual_ipaddress { VIP }'",
            )
        for vip in inst.vips:
            prev = seen_vip.get(vip.address)
            if prev is not None and prev is not inst:
                yield Finding(
                    vip.file,
                    vip.line,
                    ERROR,
                    "vip-duplicate",
                    f"VIP {vip.address} is in {prev.name} ({prev.file}:{prev.line}) and in "
                    f"{inst.name}: the two instances fight over it",
                    "keep each VIP in one instance only",
                )
            seen_vip.setdefault(vip.address, inst)
        if inst.state == "MASTER" and (inst.nopreempt or inst.preempt_delay):
            what = "nopreempt" if inst.nopreempt else "preempt_delay"
            loc = inst.loc(what)
            yield Finding(
                loc.file,
                loc.line,
                ERROR,
                "preempt-ignored",
                f"{inst.name}: {what} does not work with 'state MASTER'; keepalived clears it",
                "use 'state BACKUP' on every director when using nopreempt/preempt_delay",
            )
        elif inst.priority == 255 and inst.nopreempt:
            loc = inst.loc("nopreempt")
            yield Finding(
                loc.file,
                loc.line,
                ERROR,
                "preempt-ignored",
                f"{inst.name}: nopreempt is incompatible with priority 255; keepalived clears it",
                "use a priority below 255",
            )


class _Definition(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def file(self) -> str: ...
    @property
    def line(self) -> int: ...


_Named = TypeVar("_Named", bound=_Definition)


def _defined_before(defs: Sequence[_Named], ref: TrackRef) -> _Named | None:
    """The definition keepalived finds: it looks names up while reading the file."""
    found = [d for d in defs if d.name == ref.name and d.seq < ref.seq]
    return found[-1] if found else None


def _track_owners(cfg: Config) -> Iterator[tuple[str, Sequence[TrackRef], Sequence[TrackRef]]]:
    for inst in cfg.vrrp_instances:
        yield inst.name, inst.track_scripts, inst.track_files
    for group in cfg.sync_groups:
        yield f"sync group {group.name}", group.track_scripts, group.track_files


def _track_rules(cfg: Config) -> Iterator[Finding]:
    used: set[tuple[str, str]] = set()
    late: set[tuple[str, str]] = set()
    for owner, tscripts, tfiles in _track_owners(cfg):
        checks: list[tuple[str, Sequence[TrackRef], Sequence[_Definition], str]] = [
            ("script", tscripts, cfg.scripts, "vrrp_script {0} {{ ... }}"),
            ("file", tfiles, cfg.track_files, "track_file {0} {{ file PATH }}"),
        ]
        for kind, refs, defs, define in checks:
            for ref in refs:
                if _defined_before(defs, ref) is not None:
                    used.add((kind, ref.name))
                    continue
                later = next((d for d in defs if d.name == ref.name), None)
                if later is not None:
                    late.add((kind, ref.name))
                    yield Finding(
                        ref.file,
                        ref.line,
                        ERROR,
                        "track-undefined",
                        f"{owner} tracks {kind} '{ref.name}', which is defined only later "
                        f"({later.file}:{later.line}): keepalived looks names up while "
                        "reading, reports it not found and ignores it",
                        f"move the {kind} definition above the block that tracks it",
                    )
                else:
                    yield Finding(
                        ref.file,
                        ref.line,
                        ERROR,
                        "track-undefined",
                        f"{owner} tracks {kind} '{ref.name}', which is not defined: keepalived "
                        "ignores it",
                        f"define '{define.format(ref.name)}' above it, or fix the name",
                    )
    for vs in cfg.virtual_servers:
        for rs in vs.real_servers:
            used.update(("file", c.track_file) for c in rs.checkers if c.track_file)
    for script in cfg.scripts:
        if ("script", script.name) not in used | late:
            yield Finding(
                script.file,
                script.line,
                WARNING,
                "track-unused",
                f"vrrp_script {script.name} is not used by any instance or sync group: "
                "keepalived drops it, so it protects nothing",
                f"add 'track_script {{ {script.name} }}' to the instances it should guard, "
                "or remove it",
            )
    for tf in cfg.track_files:
        if ("file", tf.name) not in used | late:
            yield Finding(
                tf.file,
                tf.line,
                WARNING,
                "track-unused",
                f"{tf.keyword} {tf.name} is not used by any instance, sync group or "
                "FILE_CHECK: writing to it changes nothing",
                f"add 'track_file {{ {tf.name} }}' to the instances it should control",
            )


def _sync_group_rules(cfg: Config) -> Iterator[Finding]:
    names = {i.name for i in cfg.vrrp_instances}
    for group in cfg.sync_groups:
        for member in group.members:
            if member.name not in names:
                yield Finding(
                    member.file,
                    member.line,
                    ERROR,
                    "sync-group-member",
                    f"sync group {group.name} names '{member.name}', which is no vrrp_instance:"
                    " keepalived ignores it",
                    "fix the instance name",
                )
        real = [m for m in group.members if m.name in names]
        if len(real) == 1:
            yield Finding(
                group.file,
                group.line,
                WARNING,
                "sync-group-single",
                f"sync group {group.name} has only one instance: it synchronises nothing, "
                "yet its rules apply (tracking weights are dropped)",
                "add the instances that must fail over together, or remove the group",
            )


def _track_weight_rules(cfg: Config) -> Iterator[Finding]:
    for inst in cfg.vrrp_instances:
        group = cfg.sync_group_of(inst.name)
        if group is not None and not group.sync_group_tracking_weight:
            why = f"it is in sync group {group.name}"
        elif inst.priority == 255:
            why = "it has priority 255 (address owner)"
        else:
            continue
        for ref in inst.track_scripts:
            script = _defined_before(cfg.scripts, ref)
            weight = ref.weight if ref.weight is not None else (script.weight if script else 0)
            if weight:
                yield Finding(
                    ref.file,
                    ref.line,
                    ERROR,
                    "track-weight-ignored",
                    f"{inst.name}: keepalived drops weighted track_script {ref.name} "
                    f"(weight {weight}) because {why}",
                    "use weight 0 (failure means FAULT), or set sync_group_tracking_weight",
                )
        for ref in inst.track_files:
            tf = _defined_before(cfg.track_files, ref)
            weight = ref.weight if ref.weight is not None else (tf.weight if tf else 0)
            if weight:
                effect = (
                    f"treats track_file {ref.name} as weight 0 (FAULT when non-zero)"
                    if weight == 1
                    else f"drops track_file {ref.name} (weight {weight})"
                )
                yield Finding(
                    ref.file,
                    ref.line,
                    ERROR,
                    "track-weight-ignored",
                    f"{inst.name}: keepalived {effect} because {why}",
                    "write 'weight 0' explicitly, or set sync_group_tracking_weight",
                )


def _script_locations(cfg: Config) -> Iterator[tuple[str, int]]:
    """Where scripts are configured (keepalived runs them; lvstop never does)."""
    for script in cfg.scripts:
        if script.script:
            yield script.file, script.line
    for inst in cfg.vrrp_instances:
        for keyword, _command in inst.notify:
            loc = inst.loc(keyword)
            yield loc.file, loc.line
    for vs in cfg.virtual_servers:
        for kw in ("quorum_up", "quorum_down"):
            if getattr(vs, kw):
                yield vs.loc(kw).file, vs.loc(kw).line
        for rs in vs.real_servers:
            for kw in ("notify_up", "notify_down"):
                if getattr(rs, kw):
                    yield rs.loc(kw).file, rs.loc(kw).line
            for chk in rs.checkers:
                if chk.misc_path:
                    yield chk.loc("misc_path").file, chk.loc("misc_path").line


def _script_security_rules(cfg: Config) -> Iterator[Finding]:
    if cfg.global_defs is not None and cfg.global_defs.enable_script_security:
        return
    places = list(_script_locations(cfg))
    if places:
        file, line = places[0]
        yield Finding(
            file,
            line,
            WARNING,
            "script-security",
            f"{len(places)} script(s) configured but enable_script_security is not set: "
            "keepalived reports a SECURITY VIOLATION and runs them without checking who "
            "can modify them",
            "add 'enable_script_security' (and 'script_user USER') to global_defs",
        )


def _failover_rules(cfg: Config) -> Iterator[Finding]:
    for inst in cfg.vrrp_instances:
        group = cfg.sync_group_of(inst.name)
        refs = [*inst.track_files, *(group.track_files if group else ())]
        if any(_defined_before(cfg.track_files, r) for r in refs):
            continue
        name = f"maint_{inst.name}"
        yield Finding(
            inst.file,
            inst.line,
            WARNING,
            "no-failover-handle",
            f"{inst.name} tracks no file: the only ways to force a failover are stopping "
            "keepalived or editing the priority and reloading",
            f"define 'track_file {name} {{ file /etc/keepalived/{name} weight 0 }}' and add "
            f"'track_file {{ {name} }}' here; writing 1 to the file then fails over",
        )


# ---------------------------------------------------------------------------------------
# LVS rules of one director
# ---------------------------------------------------------------------------------------


def _rs_key(vs: VirtualServer, rs: ConfRealServer) -> tuple[str, int]:
    """The destination keepalived installs: DR/TUN ports are reset to the service's."""
    if vs.fwmark is not None and vs.rs_method(rs) != "NAT":
        return (rs.address, 0)
    if vs.rs_method(rs) != "NAT" or rs.port is None:
        return (rs.address, vs.port or 0)
    return (rs.address, rs.port)


def _settings(vs: VirtualServer) -> dict[str, object]:
    """What two blocks for the same service may disagree on."""
    return {
        "lvs_sched": vs.lvs_sched,
        "lvs_method": vs.lvs_method,
        "persistence_timeout": vs.persistence_timeout,
        "protocol": vs.protocol,
        "quorum": vs.quorum,
        "hysteresis": vs.hysteresis,
        "delay_loop": vs.delay_loop,
        "connect_timeout": vs.connect_timeout,
        "retry": vs.retry,
        "delay_before_retry": vs.delay_before_retry,
        "sorry_server": vs.sorry_server and (vs.sorry_server.address, vs.sorry_server.port),
    }


def _rs_weights(vs: VirtualServer, only: set[tuple[str, int]] | None = None) -> list[str]:
    """`address:port weight N` of the real servers (those in `only`, if given)."""
    return sorted(
        f"{_host(a)}:{p} weight {vs.rs_weight(r)}"
        for r in vs.real_servers
        for a, p in [_rs_key(vs, r)]
        if only is None or (a, p) in only
    )


def _fmt(value: object) -> str:
    if isinstance(value, list):
        return "{" + ", ".join(str(v) for v in value) + "}"
    if isinstance(value, float):
        return f"{value:g}"
    return "unset" if value is None else str(value)


def _differences(a: dict[str, object], b: dict[str, object]) -> list[str]:
    return [f"{k} {_fmt(a[k])} vs {_fmt(b[k])}" for k in a if a[k] != b[k]]


def _vs_rules(cfg: Config) -> Iterator[Finding]:
    first: dict[tuple[str, str, int, str], VirtualServer] = {}
    for vs in cfg.virtual_servers:
        prev = first.get(vs.identity)
        if prev is None:
            first[vs.identity] = vs
        else:
            a, b = _settings(prev), _settings(vs)
            a["real servers"], b["real servers"] = _rs_weights(prev), _rs_weights(vs)
            diffs = _differences(a, b)
            if diffs:
                yield Finding(
                    vs.file,
                    vs.line,
                    ERROR,
                    "vs-duplicate",
                    f"{vs.label} is defined again (first at {prev.file}:{prev.line}) with "
                    f"different settings: {'; '.join(diffs)}. keepalived makes one IPVS "
                    "service of both (the first block's scheduler and persistence win) and "
                    "runs both blocks' health checkers, each adding and removing the same "
                    "real servers on its own",
                    "merge the blocks into one virtual_server",
                )
            else:
                yield Finding(
                    vs.file,
                    vs.line,
                    WARNING,
                    "vs-duplicate",
                    f"{vs.label} is defined twice (first at {prev.file}:{prev.line}): every "
                    "real server is health-checked twice",
                    "delete one of the two blocks",
                )
        if not vs.real_servers:
            yield Finding(
                vs.file,
                vs.line,
                ERROR,
                "vs-no-real-servers",
                f"{vs.label} has no real servers: keepalived ignores the virtual server",
                "add real_server blocks (or a sorry_server and a real server)",
            )
        if vs.address is not None and vs.protocol is None:
            yield Finding(
                vs.file,
                vs.line,
                ERROR,
                "protocol-missing",
                f"{vs.label} sets no protocol: keepalived creates a UDP service",
                "add 'protocol TCP'",
            )
        if vs.lvs_sched is None:
            yield Finding(
                vs.file,
                vs.line,
                WARNING,
                "default-used",
                f"{vs.label} sets no lvs_sched: keepalived uses wlc and reports a config error",
                "add 'lvs_sched rr' (or the scheduler you mean)",
            )
        if vs.lvs_method is None and any(r.lvs_method is None for r in vs.real_servers):
            yield Finding(
                vs.file,
                vs.line,
                WARNING,
                "default-used",
                f"{vs.label} sets no lvs_method: keepalived uses NAT and reports a config "
                "error; with DR real servers (VIP on lo) nothing answers",
                "add 'lvs_method DR' (or NAT/TUN, as the real servers are set up)",
            )
        total = sum(vs.rs_weight(r) for r in vs.real_servers)
        if vs.real_servers and vs.quorum > total:
            loc = vs.loc("quorum")
            yield Finding(
                loc.file,
                loc.line,
                ERROR,
                "quorum-too-high",
                f"{vs.label}: quorum {vs.quorum} exceeds the total weight {total}; keepalived "
                f"lowers it to {total}",
                f"use a quorum of at most {total}",
            )
        elif vs.hysteresis and vs.hysteresis >= vs.quorum:
            loc = vs.loc("hysteresis")
            yield Finding(
                loc.file,
                loc.line,
                ERROR,
                "quorum-too-high",
                f"{vs.label}: hysteresis {vs.hysteresis} >= quorum {vs.quorum}; keepalived "
                f"sets it to {vs.quorum - 1}",
                "use a hysteresis below the quorum",
            )


def _vip_rules(cfg: Config) -> Iterator[Finding]:
    if not cfg.vrrp_instances:
        return
    vips = {v.address for i in cfg.vrrp_instances for v in (*i.vips, *i.excluded_vips)}
    for vs in cfg.virtual_servers:
        addresses = []
        if vs.address is not None:
            addresses.append(vs.address)
        elif vs.group is not None and (g := cfg.vs_group(vs.group)) is not None:
            addresses.extend(e.address for e in g.entries if e.address and not e.range_end)
        for addr in addresses:
            if addr not in vips:
                yield Finding(
                    vs.file,
                    vs.line,
                    WARNING,
                    "vip-not-in-vrrp",
                    f"{vs.label}: {addr} is not a virtual_ipaddress of any vrrp_instance, so "
                    "it does not move with a failover",
                    "add the address to the vrrp_instance that should carry it, or remove "
                    "this virtual_server",
                )


def _rs_rules(cfg: Config, threshold: float) -> Iterator[Finding]:
    for vs in cfg.virtual_servers:
        seen: dict[tuple[str, int], ConfRealServer] = {}
        for rs in vs.real_servers:
            key = _rs_key(vs, rs)
            if key in seen:
                prev = seen[key]
                yield Finding(
                    rs.file,
                    rs.line,
                    ERROR,
                    "rs-duplicate",
                    f"{vs.label}: real server {rs.label} is listed twice (first at "
                    f"{prev.file}:{prev.line}); keepalived removes the second one",
                    "delete one of them",
                )
            seen.setdefault(key, rs)
            method = vs.rs_method(rs)
            if method in ("DR", "TUN") and rs.port is not None:
                if vs.fwmark is not None:
                    yield Finding(
                        rs.file,
                        rs.line,
                        WARNING,
                        "rs-port-mismatch",
                        f"{vs.label}: real server {rs.label} has a port, but a {method} "
                        "fwmark service cannot map ports; keepalived clears it",
                        f"write 'real_server {rs.address} {{' without a port",
                    )
                else:
                    ports = _vs_ports(cfg, vs)
                    if ports and rs.port not in ports:
                        yield Finding(
                            rs.file,
                            rs.line,
                            ERROR,
                            "rs-port-mismatch",
                            f"{vs.label}: real server {rs.label} uses port {rs.port}, but "
                            f"{method} cannot map ports: keepalived resets it to "
                            f"{'/'.join(str(p) for p in sorted(ports))}",
                            "use the virtual server's port, or lvs_method NAT to map ports",
                        )
            weight = vs.rs_weight(rs)
            if weight > IPVSADM_WEIGHT_MAX:
                loc = rs.loc("weight")
                yield Finding(
                    loc.file,
                    loc.line,
                    WARNING,
                    "weight-range",
                    f"{vs.label}: real server {rs.label} weight {weight} is above "
                    f"{IPVSADM_WEIGHT_MAX}: the kernel takes it, but ipvsadm cannot set or "
                    "restore it and schedulers' arithmetic may overflow",
                    f"scale the weights into 0..{IPVSADM_WEIGHT_MAX}",
                )
            timings = [(c, t) for c in rs.checkers if (t := check_timing(vs, rs, c)) is not None]
            if not rs.checkers:
                yield Finding(
                    rs.file,
                    rs.line,
                    WARNING,
                    "rs-no-checker",
                    f"{vs.label}: real server {rs.label} has no health checker: keepalived "
                    "keeps it in service even when it is dead",
                    "add a TCP_CHECK or HTTP_GET block",
                )
            elif timings:
                chk, fastest = min(timings, key=lambda ct: ct[1].worst_case)
                if fastest.worst_case > threshold:
                    yield Finding(
                        rs.file,
                        rs.line,
                        WARNING,
                        "detect-slow",
                        f"{vs.label}: a dead real server {rs.label} is noticed only after up "
                        f"to {fastest.worst_case:g} s ({chk.kind}: {fastest.formula()})",
                        f"lower delay_loop, connect_timeout or retry to get under "
                        f"{threshold:g} s (--detect-threshold)",
                    )
        if vs.weight is not None and vs.weight > IPVSADM_WEIGHT_MAX:
            loc = vs.loc("weight")
            yield Finding(
                loc.file,
                loc.line,
                WARNING,
                "weight-range",
                f"{vs.label}: default weight {vs.weight} is above {IPVSADM_WEIGHT_MAX}",
                f"scale the weights into 0..{IPVSADM_WEIGHT_MAX}",
            )


def _vs_ports(cfg: Config, vs: VirtualServer) -> set[int]:
    if vs.group is not None:
        group = cfg.vs_group(vs.group)
        return {e.port for e in group.entries if e.port} if group else set()
    return {vs.port} if vs.port else set()


def _vrrp_vips(cfg: Config) -> set[str]:
    return {v.address for i in cfg.vrrp_instances for v in i.vips}


def _sibling_rules(cfg: Config) -> Iterator[Finding]:
    """Services on one port of different VRRP VIPs whose real servers overlap but differ.

    Partial overlap is the tell: unrelated services share no server, while mirrored
    active/active services (the seed's two VIPs) should list the very same ones.
    """
    vips = _vrrp_vips(cfg)
    by_port: dict[tuple[int, str], list[VirtualServer]] = defaultdict(list)
    for vs in cfg.virtual_servers:
        if vs.address in vips and vs.port is not None:
            by_port[(vs.port, vs.protocol or "")].append(vs)
    for group in by_port.values():
        reported: set[tuple[int, int]] = set()
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a.address == b.address:
                    continue  # duplicates have their own rule
                ra = {r.address for r in a.real_servers}
                rb = {r.address for r in b.real_servers}
                if ra == rb or not ra & rb or (id(a), id(b)) in reported:
                    continue
                reported.add((id(a), id(b)))
                only_a = ", ".join(sorted(ra - rb)) or "-"
                only_b = ", ".join(sorted(rb - ra)) or "-"
                yield Finding(
                    b.file,
                    b.line,
                    WARNING,
                    "rs-set-mismatch",
                    f"{b.label} and {a.label} ({a.file}:{a.line}) share real servers but "
                    f"not all: only in {a.label}: {only_a}; only in {b.label}: {only_b}",
                    "list the same real servers in both (or check for a typo in an address)",
                )


def lint_config(
    cfg: Config, *, detect_threshold_s: float = DEFAULT_DETECT_THRESHOLD_S
) -> list[Finding]:
    """Every single-director finding for one configuration, in file order."""
    findings: list[Finding] = []
    for rule in (
        _read_findings(cfg),
        _auth_rules(cfg),
        _instance_rules(cfg),
        _track_rules(cfg),
        _sync_group_rules(cfg),
        _track_weight_rules(cfg),
        _failover_rules(cfg),
        _script_security_rules(cfg),
        _vs_rules(cfg),
        _vip_rules(cfg),
        _rs_rules(cfg, detect_threshold_s),
        _sibling_rules(cfg),
    ):
        findings.extend(rule)
    order = {f: i for i, f in enumerate(cfg.files)}
    return sorted(findings, key=lambda f: (order.get(f.file, len(order)), f.line, f.code))


# ---------------------------------------------------------------------------------------
# Two (or more) directors of one VRRP cluster
# ---------------------------------------------------------------------------------------


def _where(cfg: Config) -> str:
    return os.path.basename(cfg.path)


def _vip_set(inst: VrrpInstance) -> list[str]:
    return sorted(
        f"{v.address}/{v.prefix}" if v.prefix is not None else v.address for v in inst.vips
    )


def lint_group(configs: Sequence[Config]) -> list[Finding]:
    """Cross-checks between the directors of one cluster (usually a pair)."""
    findings: list[Finding] = []
    findings.extend(_pair_vrrp(configs))
    findings.extend(_pair_lvs(configs))
    return findings


def lint_pair(a: Config, b: Config) -> list[Finding]:
    """Cross-checks between two directors meant to back each other up."""
    return lint_group([a, b])


def _pair_vrrp(configs: Sequence[Config]) -> Iterator[Finding]:
    by_vrid: dict[int, list[tuple[Config, VrrpInstance]]] = defaultdict(list)
    for cfg in configs:
        for inst in cfg.vrrp_instances:
            if inst.vrid is not None:
                by_vrid[inst.vrid].append((cfg, inst))
    for vrid in sorted(by_vrid):
        members = by_vrid[vrid]
        present = {id(c) for c, _ in members}
        for _cfg, inst in members:
            missing = [_where(c) for c in configs if id(c) not in present]
            if missing:
                yield Finding(
                    inst.file,
                    inst.line,
                    ERROR,
                    "pair-vrid-missing",
                    f"VRID {vrid} ({inst.name}) is configured here but not in "
                    f"{', '.join(missing)}: no director takes over its VIPs",
                    "configure the same vrrp_instance on every director",
                )
                break
        if len(members) < 2:
            continue
        (c0, i0), rest = members[0], members[1:]
        for cfg, inst in rest:
            yield from _pair_instance(vrid, c0, i0, cfg, inst)
        yield from _pair_roles(vrid, members)


def _pair_instance(
    vrid: int, c0: Config, i0: VrrpInstance, c1: Config, i1: VrrpInstance
) -> Iterator[Finding]:
    ref = f"{_where(c0)} ({i0.file}:{i0.line})"
    a0, a1 = i0.authentication, i1.authentication
    auth0 = (a0.auth_type, a0.effective_pass) if a0 else None
    auth1 = (a1.auth_type, a1.effective_pass) if a1 else None
    if auth0 != auth1:
        loc = a1.loc("auth_pass") if a1 else i1.loc("authentication")
        yield Finding(
            loc.file,
            loc.line,
            ERROR,
            "pair-auth",
            f"VRID {vrid}: authentication differs from {ref}: the directors drop each "
            "other's adverts and both become MASTER (split brain)",
            "use the same auth_type and auth_pass (first 8 characters) on both",
        )
    if i0.advert_int != i1.advert_int:
        loc = i1.loc("advert_int")
        yield Finding(
            loc.file,
            loc.line,
            ERROR,
            "pair-advert",
            f"VRID {vrid}: advert_int {i1.advert_int:g} here, {i0.advert_int:g} in {ref}: "
            "VRRPv2 drops adverts with another interval, so both become MASTER",
            "use the same advert_int on both directors",
        )
    v0, v1 = _effective_version(c0, i0), _effective_version(c1, i1)
    if v0 != v1:
        loc = i1.loc("version")
        yield Finding(
            loc.file,
            loc.line,
            ERROR,
            "pair-version",
            f"VRID {vrid}: VRRP version {v1} here, {v0} in {ref}: they cannot hear each other",
            "use the same VRRP version on both directors",
        )
    if _vip_set(i0) != _vip_set(i1):
        loc = i1.loc("virtual_ipaddress")
        yield Finding(
            loc.file,
            loc.line,
            ERROR,
            "pair-vips",
            f"VRID {vrid}: VIPs {_fmt(_vip_set(i1))} here, {_fmt(_vip_set(i0))} in {ref}: "
            "a failover moves a different set of addresses",
            "list the same virtual_ipaddress entries on both directors",
        )
    if bool(i0.unicast_peers) != bool(i1.unicast_peers):
        loc = i1.loc("unicast_peer")
        mode = "unicast" if i1.unicast_peers else "multicast"
        other = "unicast" if i0.unicast_peers else "multicast"
        yield Finding(
            loc.file,
            loc.line,
            ERROR,
            "pair-unicast",
            f"VRID {vrid}: {mode} here, {other} in {ref}: adverts do not reach the peer",
            "use unicast_peer on both directors (each listing the other) or on neither",
        )


def _pair_roles(vrid: int, members: Sequence[tuple[Config, VrrpInstance]]) -> Iterator[Finding]:
    masters = [(c, i) for c, i in members if i.state == "MASTER"]
    last = members[-1][1]
    if len(masters) > 1:
        names = ", ".join(f"{_where(c)}" for c, _ in masters)
        for _cfg, inst in masters[1:]:
            loc = inst.loc("state")
            yield Finding(
                loc.file,
                loc.line,
                ERROR,
                "pair-master",
                f"VRID {vrid}: 'state MASTER' on more than one director ({names})",
                "set 'state MASTER' on one director and 'state BACKUP' on the others",
            )
    elif not masters and not all(i.nopreempt for _, i in members):
        yield Finding(
            last.file,
            last.line,
            WARNING,
            "pair-master",
            f"VRID {vrid}: no director is 'state MASTER'; the highest priority wins only "
            "after a master-down timeout at start-up",
            "set 'state MASTER' on the director meant to hold the VIPs",
        )
    prios = Counter(i.priority for _, i in members)
    for prio, count in prios.items():
        if count > 1:
            same = [(c, i) for c, i in members if i.priority == prio]
            inst = same[-1][1]
            loc = inst.loc("priority")
            yield Finding(
                loc.file,
                loc.line,
                ERROR,
                "pair-priority",
                f"VRID {vrid}: priority {prio} on {count} directors "
                f"({', '.join(_where(c) for c, _ in same)}): the winner depends on IP "
                "addresses, not on the configuration",
                "give every director a different priority, the intended MASTER the highest",
            )
    if len(masters) == 1:
        mcfg, master = masters[0]
        for _cfg, inst in members:
            if inst is not master and inst.priority > master.priority:
                loc = inst.loc("priority")
                yield Finding(
                    loc.file,
                    loc.line,
                    ERROR,
                    "pair-priority",
                    f"VRID {vrid}: BACKUP priority {inst.priority} is above the MASTER's "
                    f"{master.priority} ({_where(mcfg)}): this director takes the VIPs",
                    "give the intended MASTER the strictly highest priority",
                )


def _pair_lvs(configs: Sequence[Config]) -> Iterator[Finding]:
    index: list[dict[tuple[str, str, int, str], VirtualServer]] = []
    for cfg in configs:
        seen: dict[tuple[str, str, int, str], VirtualServer] = {}
        for vs in cfg.virtual_servers:
            seen.setdefault(vs.identity, vs)
        index.append(seen)
    for n, services in enumerate(index):
        for ident, vs in services.items():
            missing = [_where(c) for c, s in zip(configs, index, strict=True) if ident not in s]
            if missing:
                yield Finding(
                    vs.file,
                    vs.line,
                    ERROR,
                    "pair-vs-missing",
                    f"{vs.label} is configured here but not in {', '.join(missing)}: the "
                    "service disappears when that director takes over",
                    "configure the same virtual_server blocks on every director",
                )
            if n == 0:
                continue
            ref_vs = index[0].get(ident)
            if ref_vs is None:
                continue
            ref = f"{_where(configs[0])} ({ref_vs.file}:{ref_vs.line})"
            mine = {_rs_key(vs, r): r for r in vs.real_servers}
            theirs = {_rs_key(ref_vs, r): r for r in ref_vs.real_servers}
            for key, rs in mine.items():
                if key not in theirs:
                    yield Finding(
                        rs.file,
                        rs.line,
                        ERROR,
                        "pair-rs-missing",
                        f"{vs.label}: real server {rs.label} is here but not in {ref}",
                        "list the same real servers on every director",
                    )
            for key, rs in theirs.items():
                if key not in mine:
                    yield Finding(
                        vs.file,
                        vs.line,
                        ERROR,
                        "pair-rs-missing",
                        f"{vs.label}: real server {rs.label} of {ref} is missing here",
                        "list the same real servers on every director",
                    )
            a, b = _settings(ref_vs), _settings(vs)
            both = set(mine) & set(theirs)  # the others are reported one by one above
            a["weights"], b["weights"] = _rs_weights(ref_vs, both), _rs_weights(vs, both)
            diffs = _differences(a, b)
            if diffs:
                yield Finding(
                    vs.file,
                    vs.line,
                    WARNING,
                    "pair-vs-settings",
                    f"{vs.label} differs from {ref}: {'; '.join(diffs)}",
                    "use the same settings on every director, so a failover changes nothing",
                )


# ---------------------------------------------------------------------------------------
# The running director
# ---------------------------------------------------------------------------------------

_FORWARD = {"NAT": Forward.MASQ, "DR": Forward.ROUTE, "TUN": Forward.TUNNEL}
_LiveKey = tuple[str, str, str, int]


def _live_key(service: Service) -> _LiveKey:
    k = service.key
    if k.is_fwmark:
        return ("fwmark", "", "", k.fwmark)
    proto = k.protocol.name if k.protocol is not None else ""
    return ("inet", proto, normalize_ip(k.address or ""), k.port)


def _config_keys(cfg: Config, vs: VirtualServer) -> list[_LiveKey]:
    """The IPVS services keepalived creates for one virtual_server."""
    proto = vs.protocol or "UDP"  # keepalived's default, see protocol-missing
    if vs.fwmark is not None:
        return [("fwmark", "", "", vs.fwmark)]
    if vs.group is not None:
        group = cfg.vs_group(vs.group)
        keys: list[_LiveKey] = []
        for e in group.entries if group else ():
            if e.fwmark is not None:
                keys.append(("fwmark", "", "", e.fwmark))
            elif e.address is not None:
                for addr in _expand_range(e.address, e.range_end):
                    keys.append(("inet", proto, addr, e.port or 0))
        return keys
    return [("inet", proto, normalize_ip(vs.address or ""), vs.port or 0)]


def _expand_range(first: str, last: str | None) -> list[str]:
    """`10.0.0.1-5`: the last part of the address runs up to `last` (at most 256)."""
    if not last:
        return [first]
    try:
        start = ipaddress.ip_address(first)
        end_part = int(last, 16 if start.version == 6 else 10)
    except ValueError:
        return [first]
    mask = 0xFFFF if start.version == 6 else 0xFF
    base = int(start) & ~mask
    lo = int(start) & mask
    return [str(ipaddress.ip_address(base + n)) for n in range(lo, min(end_part, mask) + 1)][:256]


def _svc_label(service: Service) -> str:
    k = service.key
    if k.is_fwmark:
        return f"FWM {k.fwmark}"
    proto = k.protocol.name if k.protocol is not None else "?"
    return f"{proto} {_host(k.address or '?')}:{k.port}"


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _rs_label(rs: RealServer) -> str:
    return f"{_host(rs.address)}:{rs.port}"


@dataclass(frozen=True, slots=True)
class LiveRealServer:
    """A configured real server and its IPVS destination (`kernel` None: not in IPVS).

    `address`/`port` are what keepalived installs (DR/TUN ports reset to the service's).
    """

    conf: ConfRealServer
    address: str
    port: int
    kernel: RealServer | None


@dataclass(frozen=True, slots=True)
class LiveService:
    """One IPVS service a virtual_server stands for, matched with the live table.

    `service` is None when it is not in IPVS; `key` is then built from the
    configuration. `sorry` holds the sorry server when it is in service, `unmanaged`
    the destinations neither configured nor the sorry server.
    """

    vs: VirtualServer
    key: ServiceKey
    service: Service | None
    real_servers: tuple[LiveRealServer, ...] = ()
    sorry: tuple[RealServer, ...] = ()
    unmanaged: tuple[RealServer, ...] = ()

    def inhibit(self, rs: ConfRealServer) -> bool:
        if rs.inhibit_on_failure is not None:
            return rs.inhibit_on_failure
        return self.vs.inhibit_on_failure


@dataclass(frozen=True, slots=True)
class LiveMatch:
    """One director's configuration lined up with its IPVS table.

    The single place that decides what a configuration explains: `lvstop lint --live`
    turns it into findings, the live director into absent / unexplained entries.
    """

    services: tuple[LiveService, ...]
    unmanaged: tuple[Service, ...]


def match_live(cfg: Config, services: Iterable[Service]) -> LiveMatch:
    """Match every IPVS service keepalived creates for `cfg` with the live table (pure)."""
    live = {_live_key(s): s for s in services}
    managed: dict[_LiveKey, VirtualServer] = {}
    for vs in cfg.virtual_servers:
        for key in _config_keys(cfg, vs):
            managed.setdefault(key, vs)
    matched = tuple(_match_service(vs, key, live.get(key)) for key, vs in managed.items())
    unmanaged = tuple(s for key, s in live.items() if key not in managed)
    return LiveMatch(matched, unmanaged)


def _match_service(vs: VirtualServer, key: _LiveKey, service: Service | None) -> LiveService:
    configured: dict[tuple[str, int], ConfRealServer] = {}
    for r in vs.real_servers:
        a, p = _rs_key(vs, r)
        configured[(normalize_ip(a), p)] = r
    if service is None:
        rss = tuple(LiveRealServer(r, a, p, None) for (a, p), r in configured.items())
        return LiveService(vs, _service_key(vs, key), None, rss)
    live_rs = {(normalize_ip(r.address), r.port): r for r in service.real_servers}
    rss = tuple(LiveRealServer(r, a, p, live_rs.get((a, p))) for (a, p), r in configured.items())
    sorry_addr = normalize_ip(vs.sorry_server.address) if vs.sorry_server is not None else None
    extra = [krs for k, krs in live_rs.items() if k not in configured]
    return LiveService(
        vs,
        service.key,
        service,
        rss,
        sorry=tuple(r for r in extra if normalize_ip(r.address) == sorry_addr),
        unmanaged=tuple(r for r in extra if normalize_ip(r.address) != sorry_addr),
    )


def config_service_keys(cfg: Config, vs: VirtualServer) -> list[ServiceKey]:
    """The IPVS identities keepalived creates for one virtual_server (several for a group)."""
    return [_service_key(vs, key) for key in _config_keys(cfg, vs)]


def _service_key(vs: VirtualServer, key: _LiveKey) -> ServiceKey:
    """The IPVS identity keepalived would create for a configured key."""
    if key[0] == "fwmark":
        v6 = any(":" in r.address for r in vs.real_servers)
        return ServiceKey.mark(key[3], Family.INET6 if v6 else Family.INET)
    return ServiceKey.inet(IpProtocol.__members__.get(key[1], IpProtocol.UDP), key[2], key[3])


def lint_live(cfg: Config, snapshot: Snapshot) -> list[Finding]:
    """Compare one director's configuration with its IPVS table (pure: no I/O).

    keepalived never reads IPVS back (reference section 7): manual ipvsadm rules and
    manual weights stay until keepalived next touches that entry, so they are worth
    pointing out. A configured real server missing from IPVS is what keepalived does
    with a failed health check (without inhibit_on_failure), hence only a warning.
    """
    findings: list[Finding] = []
    match = match_live(cfg, snapshot.services)
    for ls in match.services:
        vs = ls.vs
        if ls.service is None:
            findings.append(
                Finding(
                    vs.file,
                    vs.line,
                    ERROR,
                    "live-missing-service",
                    f"{vs.label} is configured but not in IPVS: keepalived's checker is not "
                    "running, failed to add it, or runs another configuration",
                    "check `systemctl status keepalived` and its log; reload keepalived",
                )
            )
            continue
        findings.extend(_live_service(ls, ls.service))
    vs_by_address: dict[str, list[VirtualServer]] = defaultdict(list)
    for ls in match.services:
        if ls.key.address is not None:
            vs_by_address[normalize_ip(ls.key.address)].append(ls.vs)
    for service in match.unmanaged:
        key = _live_key(service)
        rs_list = ", ".join(_rs_label(r) for r in service.real_servers) or "no real servers"
        findings.append(
            Finding(
                LIVE_FILE,
                0,
                WARNING,
                "live-unmanaged-service",
                f"IPVS service {_svc_label(service)} ({service.scheduler}; {rs_list}) is not "
                f"in {cfg.path}: a manual ipvsadm rule that keepalived neither checks nor "
                "fails over",
                "add it to keepalived.conf as a virtual_server, or delete it "
                f"(ipvsadm -D {_ipvsadm_service(service)})",
            )
        )
        siblings = vs_by_address.get(key[2], []) if key[0] == "inet" else []
        if siblings:
            known = {r.address for vs in siblings for r in vs.real_servers}
            for rs in service.real_servers:
                if normalize_ip(rs.address) not in known:
                    findings.append(
                        Finding(
                            LIVE_FILE,
                            0,
                            WARNING,
                            "live-unknown-address",
                            f"real server {rs.address} (IPVS {_svc_label(service)}) is not a "
                            f"real server of any keepalived service on {key[2]} (those use "
                            f"{', '.join(sorted(known))}): a typo or a retired host?",
                            "check which address is right and fix the rule or the config",
                        )
                    )
    return findings


def _ipvsadm_service(service: Service) -> str:
    k = service.key
    if k.is_fwmark:
        return f"-f {k.fwmark}"
    flag = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service"}.get(
        k.protocol.name if k.protocol else "", "-t"
    )
    return f"{flag} {_host(k.address or '')}:{k.port}"


def _live_service(ls: LiveService, service: Service) -> Iterator[Finding]:
    vs = ls.vs
    sched = vs.lvs_sched or "wlc"
    diffs = []
    if service.scheduler != sched:
        diffs.append(f"scheduler {service.scheduler} (configured {sched})")
    want_pto = vs.persistence_timeout or 0
    have_pto = service.timeout if service.persistent else 0
    if want_pto != have_pto:
        diffs.append(f"persistence {have_pto} s (configured {want_pto} s)")
    if diffs:
        yield Finding(
            vs.file,
            vs.line,
            WARNING,
            "live-service-settings",
            f"{vs.label} in IPVS has {', '.join(diffs)}: changed by hand, or keepalived was "
            "not reloaded after the edit",
            "reload keepalived (or undo the manual ipvsadm -E)",
        )
    for lrs in ls.real_servers:
        rs, krs = lrs.conf, lrs.kernel
        inhibit = ls.inhibit(rs)
        if krs is None:
            yield Finding(
                rs.file,
                rs.line,
                WARNING,
                "live-missing-rs",
                f"{vs.label}: real server {rs.label} is not in IPVS"
                + (
                    ": with inhibit_on_failure keepalived should keep it at weight 0, so "
                    "it was removed by hand"
                    if inhibit
                    else ": its health check is failing (keepalived removed it) or it was "
                    "removed by hand"
                ),
                "check the server and its health check; reload keepalived to re-add it",
            )
            continue
        weight = vs.rs_weight(rs)
        dynamic = any(c.misc_dynamic for c in rs.checkers)
        if krs.weight != weight and not dynamic:
            if krs.weight == 0 and inhibit:
                yield Finding(
                    rs.file,
                    rs.line,
                    INFO,
                    "live-weight",
                    f"{vs.label}: real server {rs.label} has weight 0 in IPVS: down, and kept "
                    "by inhibit_on_failure (or drained by hand)",
                    "check the server and its health check",
                )
            else:
                yield Finding(
                    rs.file,
                    rs.line,
                    WARNING,
                    "live-weight",
                    f"{vs.label}: real server {rs.label} has weight {krs.weight} in IPVS, "
                    f"{weight} configured: changed by hand (keepalived keeps a manual weight "
                    "until it next touches the server)",
                    "restore the weight, or change it in keepalived.conf and reload",
                )
        want = _FORWARD.get(vs.rs_method(rs))
        if want is not None and krs.forward != want:
            yield Finding(
                rs.file,
                rs.line,
                WARNING,
                "live-method",
                f"{vs.label}: real server {rs.label} forwards by {krs.forward.ipvsadm} in "
                f"IPVS, {vs.rs_method(rs)} configured (a forgotten flag to ipvsadm -e?)",
                "reload keepalived or fix it with ipvsadm -e and the right -g/-m/-i",
            )
    sorry = vs.sorry_server
    for krs in service.real_servers:
        if sorry is not None and krs in ls.sorry:
            yield Finding(
                sorry.file,
                sorry.line,
                INFO,
                "live-sorry-active",
                f"{vs.label}: the sorry server {_rs_label(krs)} is in service: the quorum "
                "of real servers is lost",
                "bring real servers back up",
            )
            continue
        if krs not in ls.unmanaged:
            continue
        yield Finding(
            vs.file,
            vs.line,
            WARNING,
            "live-unmanaged-rs",
            f"{vs.label}: real server {_rs_label(krs)} is in IPVS but not in the "
            "configuration: added by hand, not health-checked",
            "add it as a real_server, or remove it with ipvsadm -d",
        )


# ---------------------------------------------------------------------------------------
# Files, output, exit codes
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LintReport:
    """The configurations read and everything found in and between them."""

    configs: tuple[Config, ...]
    findings: tuple[Finding, ...]

    def with_findings(self, more: Iterable[Finding]) -> LintReport:
        return LintReport(self.configs, self.findings + tuple(more))

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(f.severity.value for f in self.findings)
        return {s.value: c.get(s.value, 0) for s in Severity}

    @property
    def exit_code(self) -> int:
        return 1 if any(f.severity.rank >= WARNING.rank for f in self.findings) else 0


def default_config_id() -> str:
    """keepalived's default config id: the node name up to the first dot."""
    return os.uname().nodename.split(".")[0]


def lint_files(
    paths: Sequence[str],
    *,
    config_id: str | Sequence[str] | None = None,
    detect_threshold_s: float | None = None,
) -> LintReport:
    """Lint each file as one director's configuration, and the files against each other.

    `config_id` resolves @ID lines: one id for all files, one per file, or None for
    this host's name; `detect_threshold_s` None means the default (30 s). Raises
    ConfigUnusable (exit code 2) for a file that cannot be read, or that holds no
    keepalived configuration at all.
    """
    threshold = DEFAULT_DETECT_THRESHOLD_S if detect_threshold_s is None else detect_threshold_s
    if isinstance(config_id, str) or config_id is None:
        ids = [config_id or default_config_id()] * len(paths)
    else:
        if len(config_id) not in (1, len(paths)):
            raise ConfigUnusable(
                f"{len(config_id)} config ids for {len(paths)} files: give one, or one per file"
            )
        ids = list(config_id) * len(paths) if len(config_id) == 1 else list(config_id)
    configs = []
    findings: list[Finding] = []
    for path, cid in zip(paths, ids, strict=True):
        cfg = load(path, config_id=cid)
        if not cfg.has_content:
            raise ConfigUnusable(
                f"{path}: no keepalived configuration in it (no known top-level block)"
            )
        configs.append(cfg)
        findings.extend(lint_config(cfg, detect_threshold_s=threshold))
    if len(configs) > 1:
        findings.extend(lint_group(configs))
    return LintReport(tuple(configs), tuple(findings))


def format_text(findings: Iterable[Finding]) -> str:
    """`file:line: severity: message` and an indented hint line per finding."""
    out = []
    for f in findings:
        out.append(f"{f.file}:{f.line}: {f.severity.value}: {f.message}\n  hint: {f.hint}\n")
    return "".join(out)


def summary_line(report: LintReport) -> str:
    c = report.counts
    files = len(report.configs)
    return (
        f"lvstop lint: {files} file{'s' if files != 1 else ''}: {c['error']} error(s), "
        f"{c['warning']} warning(s), {c['info']} info"
    )


def to_json(report: LintReport) -> dict[str, Any]:
    """The report as a JSON-ready document (format "lvstop.lint/1")."""
    return {
        "format": "lvstop.lint/1",
        "files": [list(c.files) for c in report.configs],
        "findings": [
            {
                "file": f.file,
                "line": f.line,
                "severity": f.severity.value,
                "code": f.code,
                "message": f.message,
                "hint": f.hint,
            }
            for f in report.findings
        ],
        "counts": report.counts,
        "exit_code": report.exit_code,
    }
