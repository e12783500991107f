"""The human-readable table of `lvstop snapshot`, laid out like `ipvsadm -Ln --stats`.

Plain text on purpose: it must work in a pipe, in a log and over a slow SSH session.
"""

from __future__ import annotations

from lvstop.model import Snapshot
from lvstop.model.diff import SnapshotDiff
from lvstop.model.ipvs import Counters, Rates
from lvstop.model.notation import hostport, service_label
from lvstop.model.serialize import rfc3339

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


def render(snap: Snapshot, d: SnapshotDiff | None = None, *, exact: bool = False) -> str:
    """The whole report; rates are the kernel's, or lvstop's own when `d` is given.

    One line per service and per real server. The three middle columns hold
    scheduler / persistence / VIP holder for a service and forwarding method /
    weight / active,inactive,persistent connections for a real server.
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
    lines = [
        f"{snap.host}  {rfc3339(snap.wall_time)}  source: {snap.source.value}  "
        f"{len(snap.services)} services, {nrs} real servers  ({rate_source})",
        f"{'Prot LocalAddress:Port':<34}{'Sched':<7}{'Persist':<8}{'VIP':<16}"
        + "".join(f"{h:>{width}}" for h in heads),
        f"{'  -> RemoteAddress:Port':<34}{'Fwd':<7}{'Weight':<8}{'Act/InAct/Pers':<16}",
    ]
    for svc in snap.services:
        persist = "-"
        if svc.persistent:
            default_mask = 128 if ":" in (svc.key.address or "") else 32
            persist = str(svc.timeout) + ("" if svc.netmask == default_mask else f"/{svc.netmask}")
        if svc.vip_present is None:
            vip = "-"
        else:
            vip = (svc.vip_interface or "here") if svc.vip_present else "absent"
        rates = d.service_rate(svc.key) if d is not None else svc.rates
        lines.append(
            f"{service_label(svc.key):<33} {svc.scheduler:<6} {persist:<7} {vip:<15}"
            + _nums(svc.stats, rates, exact)
        )
        extra = [f for f in svc.flag_names if f != "persistent"]
        if svc.pe_name:
            extra.append(f"pe {svc.pe_name}")
        if extra:
            lines.append(f"     flags: {' '.join(extra)}")
        for rs in svc.real_servers:
            rs_rates = d.real_server_rate(svc.key, rs.key) if d is not None else rs.rates
            conns = f"{rs.active_conns}/{rs.inactive_conns}/{rs.persistent_conns}"
            lines.append(
                f"  -> {hostport(rs.address, rs.port):<28} {rs.forward.ipvsadm:<6} "
                f"{rs.weight:<7} {conns:<15}" + _nums(rs.stats, rs_rates, exact)
            )
            if rs.u_threshold or rs.l_threshold:
                lines.append(f"     thresholds: lower {rs.l_threshold} upper {rs.u_threshold}")
    if snap.totals is not None:
        rates = d.totals_rates if d is not None else snap.totals.rates
        lines.append(f"{'Totals':<64}" + _nums(snap.totals.stats, rates, exact))
    if not snap.services:
        lines.append("(no virtual services configured)")
    lines.extend(f"warning: {e}" for e in snap.errors)
    return "\n".join(lines) + "\n"
