"""The three header lines: where am I, is keepalived sane, how fresh is this data.

An operator glances here first, so the alarming facts (split brain, no master,
stale data, a failing poll) replace the quiet third line instead of hiding in a view.
"""

from __future__ import annotations

from textual.markup import escape
from textual.widgets import Static

from lvstop.model.keepalived import KeepalivedState
from lvstop.model.vrrp import VrrpInstance, VrrpState
from lvstop.ui import format as fmt
from lvstop.ui.state import ConsoleState

_STATE_STYLE = {
    VrrpState.MASTER: "$success bold",
    VrrpState.BACKUP: "$primary",
    VrrpState.FAULT: "$error bold",
}


def _keepalived(ka: KeepalivedState | None) -> str:
    if ka is None:
        return "[$text-muted]keepalived not read[/]"
    if not ka.running:
        return "[$warning bold]keepalived not running[/]"
    checker = ka.processes.alive("checker")
    vrrp = ka.processes.alive("vrrp")
    parts = ["[$success]keepalived ✓[/]"]
    parts.append("checker ✓" if checker else "[$error bold]checker DEAD[/]")
    if not vrrp:
        parts.append("[$error bold]vrrp DEAD[/]")
    return " ".join(parts)


def instance_summary(i: VrrpInstance) -> str:
    """'VI_1 MASTER 100' / 'VI_2 BACKUP 90 ← 198.18.23.44 (100)' / effective (base)."""
    style = _STATE_STYLE.get(i.state, "$warning bold")
    prio = str(i.effective_priority)
    if i.effective_priority != i.base_priority:
        prio = f"[$warning]{i.effective_priority}[/] (base {i.base_priority})"
    text = f"{escape(i.name)} [{style}]{i.state.value}[/] {prio}"
    if i.state is VrrpState.BACKUP and i.master_router:
        text += f" ← {escape(i.master_router)}"
        if i.master_priority is not None:
            text += f" ({i.master_priority})"
    return text


def header_markup(
    state: ConsoleState, *, read_only: bool, paused: bool, awaiting: bool = False
) -> str:
    """All three lines as Textual markup (theme variables, so every theme colours it).
    `awaiting`: keepalived is read but its first reading has not arrived yet."""
    snap = state.snapshot
    host = escape(snap.host) if snap is not None else "…"
    ka = snap.keepalived if snap is not None else None
    age = state.age
    age_text = f"age {fmt.duration(age)}" if age is not None else "waiting for data"
    if state.stale:
        age_text = f"[$warning bold reverse] STALE {age_text} [/]"
    badges = []
    if paused:
        badges.append("[$accent bold reverse] PAUSED [/]")
    if read_only:
        badges.append("[$warning reverse] READ-ONLY [/]")
    line1 = f"[b]{host}[/]"
    if badges:
        line1 += " " + " ".join(badges)
    keepalived = _keepalived(ka) if snap is not None else "…"
    if awaiting:
        keepalived = "[$warning]keepalived: reading…[/]"
    line1 += f" │ every {state.interval:g}s · {age_text} │ {keepalived}"
    if ka is not None and ka.instances:
        line2 = " │ ".join(instance_summary(i) for i in ka.instances)
    elif ka is not None:
        line2 = "[$text-muted]no VRRP instances reported[/]"
    elif awaiting:
        line2 = "[$text-muted]VRRP: reading keepalived… (roles and health follow)[/]"
    else:
        line2 = "[$text-muted]VRRP: not read[/]"
    return "\n".join((line1, line2, _third_line(state)))


def _third_line(state: ConsoleState) -> str:
    """Alarms first (critical ones), then a failing poll, then the quiet totals."""
    snap = state.snapshot
    ka = snap.keepalived if snap is not None else None
    if ka is not None and ka.alarms:
        worst = sorted(ka.alarms, key=lambda a: a.severity != "critical")
        style = "$error" if worst[0].severity == "critical" else "$warning"
        text = " │ ".join(escape(a.message) for a in worst)
        return f"[{style} bold reverse] ⚠ {escape(worst[0].kind.upper())} [/] [{style}]{text}[/]"
    if state.error is not None:
        return f"[$error bold reverse] POLL FAILED [/] [$error]{escape(state.error)}[/]"
    if snap is None:
        return ""
    services = len(snap.services)
    servers = sum([len(s.real_servers) for s in snap.services])
    active = sum([rs.active_conns for s in snap.services for rs in s.real_servers])
    rates = [state.service_rates(s.key, s.rates) for s in snap.services]
    cps = sum([r.cps for r in rates])
    inbps = sum([r.inbps for r in rates])
    absent = len(ka.absent_real_servers) if ka is not None else 0
    down = f", [$error]{absent} out of IPVS[/]" if absent else ""
    errors = len(snap.errors) + (len(ka.errors) if ka is not None else 0)
    err = f" │ [$warning]{errors} source warning{'s' if errors != 1 else ''}[/]" if errors else ""
    return (
        f"{snap.source.value}: {services} services, {servers} real servers{down} │ "
        f"{fmt.count(active)} active │ {fmt.rate(cps)} conn/s │ {fmt.nbytes(inbps)}B/s in{err}"
    )


class HeaderBar(Static):
    """Three fixed lines at the top; cut, never wrapped, on a narrow terminal."""

    DEFAULT_CSS = """
    HeaderBar { height: 3; background: $panel; color: $text; padding: 0 1; text-wrap: nowrap;
                text-overflow: ellipsis; }
    """

    _shown: str | None = None
    """The markup on screen: the same text again is neither parsed nor repainted."""

    def show(
        self, state: ConsoleState, *, read_only: bool, paused: bool, awaiting: bool = False
    ) -> None:
        # Three fixed lines: no layout pass (a whole-screen reflow, every second).
        markup = header_markup(state, read_only=read_only, paused=paused, awaiting=awaiting)
        if markup != self._shown:
            self._shown = markup
            self.update(markup, layout=False)
