"""The human-readable table of `lvstop snapshot`, laid out like `ipvsadm -Ln --stats`.

Plain text on purpose: it must work in a pipe, in a log and over a slow SSH session.
"""

from __future__ import annotations

from lvstop.model import Snapshot
from lvstop.model.diff import SnapshotDiff
from lvstop.model.ipvs import Counters, Rates, ServiceKey
from lvstop.model.keepalived import KeepalivedState, RealServerStatus
from lvstop.model.notation import hostport, service_label
from lvstop.model.serialize import rfc3339
from lvstop.model.vrrp import Health, VrrpInstance, VrrpState

_UNITS = ("", "K", "M", "G", "T", "P")


def human(n: float, exact: bool) -> str:
    """ipvsadm-style scaling (K, M, G by 1000) unless exact output was asked for."""
    if exact:
        return str(round(n))
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 100000 or unit == _UNITS[-1]:
            return f"{round(value)}{unit}"
        value /= 1000
    return str(int(n))  # pragma: no cover - loop always returns


def _nums(stats: Counters, rates: Rates, exact: bool) -> str:
    values = (
        stats.conns,
        stats.inpkts,
        stats.outpkts,
        stats.inbytes,
        stats.outbytes,
        rates.cps,
        rates.inpps,
        rates.outpps,
        rates.inbps,
        rates.outbps,
    )
    return "".join(f"{human(v, exact):>{12 if exact else 9}}" for v in values)


def _instance(i: VrrpInstance) -> str:
    prio = str(i.effective_priority)
    if i.effective_priority != i.base_priority:
        prio += f" (base {i.base_priority})"
    text = f"{i.name} {i.state.value} prio {prio}"
    if i.state is VrrpState.BACKUP and i.master_router:
        text += f", master {i.master_router}"
        if i.master_priority is not None:
            text += f" prio {i.master_priority}"
    return text


def keepalived_summary(k: KeepalivedState) -> list[str]:
    """One line on keepalived and its instances; one more on the wire when it was heard."""
    if not k.running:
        head = "keepalived: not running"
    else:
        pids = ", ".join(f"{p.role} {p.pid}" for p in k.processes.processes if p.alive)
        checker = "checker alive" if k.processes.alive("checker") else "checker NOT running"
        head = f"keepalived: running ({pids}; {checker})"
    lines = [" | ".join([head, *(_instance(i) for i in k.instances)])]
    if k.wire:
        heard = ", ".join(f"vrid {sp.vrid} {sp.source} prio {sp.priority}" for sp in k.wire)
        lines.append(f"VRRP on the wire: {heard}")
    lines.extend(f"VRRP alarm ({a.severity}): {a.message}" for a in k.alarms)
    return lines


def _health(st: RealServerStatus) -> str:
    """ " up (eff 1, cfg 1)" / " DOWN, 1 failing: why (eff 1, cfg 1)": keepalived's side."""
    word = {Health.UP: "up", Health.DOWN: "DOWN", Health.UNKNOWN: "health unknown"}[st.health]
    if st.health is Health.DOWN and st.failed_checkers:
        word += f", {st.failed_checkers} failing"
        if st.last_error:
            word += f": {st.last_error}"
    weights = ", ".join(
        f"{name} {w}"
        for name, w in (("eff", st.effective_weight), ("cfg", st.configured_weight))
        if w is not None
    )
    return f"  {word}" + (f" ({weights})" if weights else "")


def _role(k: KeepalivedState | None, key: ServiceKey) -> str:
    owner = k.service(key) if k is not None else None
    if owner is None:
        return ""
    return " " + (owner.role.value if owner.role is not None else f"{owner.instance}?")


def render(snap: Snapshot, d: SnapshotDiff | None = None, *, exact: bool = False) -> str:
    """The whole report; rates are the kernel's, or lvstop's own when `d` is given.

    One line per service and per real server. The three middle columns hold
    scheduler / persistence / VIP holder and this node's VRRP role for a service, and
    forwarding method / kernel weight / active,inactive,persistent connections for a
    real server, which ends with keepalived's health and its effective and
    configured weights.
    """
    width = 12 if exact else 9
    heads = (
        "Conns",
        "InPkts",
        "OutPkts",
        "InBytes",
        "OutBytes",
        "CPS",
        "InPPS",
        "OutPPS",
        "InBPS",
        "OutBPS",
    )
    nrs = sum(len(s.real_servers) for s in snap.services)
    rate_source = (
        f"rates over the last {d.interval:.2f} s" if d is not None else "kernel estimator rates"
    )
    ka = snap.keepalived
    lines = [
        f"{snap.host}  {rfc3339(snap.wall_time)}  source: {snap.source.value}  "
        f"{len(snap.services)} services, {nrs} real servers  ({rate_source})",
        *(keepalived_summary(ka) if ka is not None else ()),
        f"{'Prot LocalAddress:Port':<34}{'Sched':<7}{'Persist':<8}{'VIP Role':<19}"
        + "".join(f"{h:>{width}}" for h in heads),
        f"{'  -> RemoteAddress:Port':<34}{'Fwd':<7}{'Weight':<8}{'Act/InAct/Pers':<19}"
        + ("" if ka is None else " " * (10 * width) + "  keepalived: health (eff, cfg weight)"),
    ]
    unexplained = {(u.service, u.real_server) for u in ka.unexplained} if ka is not None else set()
    absent = ka.absent_real_servers if ka is not None else ()
    for svc in snap.services:
        persist = "-"
        if svc.persistent:
            default_mask = 128 if ":" in (svc.key.address or "") else 32
            persist = str(svc.timeout) + ("" if svc.netmask == default_mask else f"/{svc.netmask}")
        if svc.vip_present is None:
            vip = "-"
        else:
            vip = (svc.vip_interface or "here") if svc.vip_present else "absent"
        vip += _role(ka, svc.key)
        rates = d.service_rate(svc.key) if d is not None else svc.rates
        lines.append(
            f"{service_label(svc.key):<33} {svc.scheduler:<6} {persist:<7} {vip:<19}"
            + _nums(svc.stats, rates, exact)
        )
        extra = [f for f in svc.flag_names if f != "persistent"]
        if svc.pe_name:
            extra.append(f"pe {svc.pe_name}")
        if extra:
            lines.append(f"     flags: {' '.join(extra)}")
        if (svc.key, None) in unexplained:
            lines.append("     not in keepalived's configuration (a manual ipvsadm rule)")
        for rs in svc.real_servers:
            rs_rates = d.real_server_rate(svc.key, rs.key) if d is not None else rs.rates
            conns = f"{rs.active_conns}/{rs.inactive_conns}/{rs.persistent_conns}"
            status = ka.real_server(svc.key, rs.key) if ka is not None else None
            tail = _health(status) if status is not None else ""
            if (svc.key, rs.key) in unexplained:
                tail = "  not in keepalived's configuration"
            lines.append(
                f"  -> {hostport(rs.address, rs.port):<28} {rs.forward.ipvsadm:<6} "
                f"{rs.weight:<7} {conns:<19}" + _nums(rs.stats, rs_rates, exact) + tail
            )
            if rs.u_threshold or rs.l_threshold:
                lines.append(f"     thresholds: lower {rs.l_threshold} upper {rs.u_threshold}")
        for a in absent:
            if a.service == svc.key:
                where = hostport(a.address, a.port)
                lines.append(f"  -- {where:<28} not in IPVS ({a.reason})" + _health(a.status))
    if snap.totals is not None:
        rates = d.totals_rates if d is not None else snap.totals.rates
        lines.append(f"{'Totals':<68}" + _nums(snap.totals.stats, rates, exact))
    if not snap.services:
        lines.append("(no virtual services configured)")
    for a in absent:
        if not a.service_in_ipvs:
            lines.append(
                f"configured but not in IPVS: {service_label(a.service).replace('  ', ' ')} "
                f"-> {hostport(a.address, a.port)} ({a.reason})"
            )
    lines.extend(f"warning: {e}" for e in snap.errors)
    if ka is not None:
        lines.extend(f"note: keepalived: {n}" for n in ka.notes)
        lines.extend(f"warning: keepalived: {e}" for e in ka.errors)
    return "\n".join(lines) + "\n"
