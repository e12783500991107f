"""The five views: a caption line over one or two LiveTables each.

Column lists are declared here (label, width, priority for narrow terminals, tone,
↑/↓ marker); rows come from lvstop/ui/rows.py. A view's `refresh_from` is the whole
per-tick work for that view and only runs for the view on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Static

from lvstop.model.ipvs import ServiceKey
from lvstop.model.notation import service_label
from lvstop.model.vrrp import VrrpState
from lvstop.ui import format as fmt
from lvstop.ui import rows as R
from lvstop.ui.keys import VIEW_TITLES
from lvstop.ui.state import HISTORY_LENGTH, ConsoleState
from lvstop.ui.table import Column, LiveTable

READING = "…"
"""A cell whose value comes from keepalived, before keepalived was first read."""

_ROLE_TONE = {"MASTER": "good", "BACKUP": "dim", "FAULT": "bad", "-": "dim", READING: "dim"}

Awaiting = Callable[[], bool]
"""True while keepalived's first reading is still on its way (see LvstopApp)."""


def _not_yet(awaiting: Awaiting, value: str) -> str:
    """keepalived's "-" (no instance owns this, no checker reports it) means something
    only once keepalived was read; before that the cell says it is coming."""
    return READING if value == "-" and awaiting() else value


def _svc_columns(state: ConsoleState, awaiting: Awaiting) -> list[Column[R.ServiceRow]]:
    th = state.thresholds
    return [
        Column(
            "service",
            "Service",
            22,
            lambda r: r.label,
            align="left",
            tone=lambda r: None if r.managed else "accent",
            sort=lambda v: v,
        ),
        Column(
            "role",
            "Role",
            6,
            lambda r: _not_yet(awaiting, r.role),
            align="left",
            tone=lambda r: _ROLE_TONE.get(_not_yet(awaiting, r.role), "warn"),
        ),
        Column(
            "servers",
            "RS",
            5,
            lambda r: r.servers,
            fmt=lambda v: f"{v[0] + v[1]}/{v[1]}",
            tone=lambda r: "bad" if r.up == 0 and r.total else ("warn" if r.up < r.total else None),
        ),
        Column(
            "active",
            "Active",
            7,
            lambda r: r.active,
            fmt=fmt.count,
            marker=True,
            tone=lambda r: th.tone(r.active, th.active_warning, th.active_critical),
        ),
        Column(
            "cps",
            "CPS",
            6,
            lambda r: r.rates.cps,
            fmt=fmt.rate,
            marker=True,
            tone=lambda r: th.tone(r.rates.cps, th.cps_warning, th.cps_critical),
        ),
        Column(
            "inbps", "InB/s", 7, lambda r: r.rates.inbps, fmt=fmt.nbytes, marker=True, priority=1
        ),
        Column("inactive", "InAct", 6, lambda r: r.inactive, fmt=fmt.count, priority=2),
        Column("inpps", "InPPS", 7, lambda r: r.rates.inpps, fmt=fmt.rate, marker=True, priority=3),
        Column(
            "vip",
            "VIP",
            6,
            lambda r: r.vip,
            align="left",
            priority=3,
            tone=lambda r: "dim" if r.vip == "absent" else None,
        ),
        Column("scheduler", "Sched", 5, lambda r: r.scheduler, align="left", priority=4),
        Column("persist", "Persist", 7, lambda r: r.persist, align="left", priority=4),
        Column("outpps", "OutPPS", 7, lambda r: r.rates.outpps, fmt=fmt.rate, priority=5),
        Column("outbps", "OutB/s", 7, lambda r: r.rates.outbps, fmt=fmt.nbytes, priority=5),
        Column(
            "trend",
            "CPS trend",
            12,
            lambda r: r.trend,
            fmt=lambda v: fmt.sparkline(v, HISTORY_LENGTH),
            align="tail",
            priority=1,
            sort=lambda v: v[-1] if v else 0,
            tone=lambda r: "accent",
            flex=True,
        ),
    ]


def _health_tone(r: R.RealServerRow) -> str | None:
    if r.health == "down" or not r.in_ipvs:
        return "bad"
    if r.health == "up":
        return "good"
    return "dim"


def _drain_value(r: R.RealServerRow) -> tuple[float, str] | None:
    """(seconds left, words) for a server at weight 0; None when it is not draining."""
    if not r.draining:
        return None
    if r.active == 0:
        return (0.0, "drained")
    if r.drain_eta is None:
        return (float("inf"), "draining")
    return (r.drain_eta, f"ETA {fmt.duration(r.drain_eta)}")


def _drain_sort(v: tuple[float, str] | None) -> tuple[bool, float]:
    return (v is None, v[0] if v is not None else 0.0)


def _rs_columns(
    state: ConsoleState, all_services: bool, awaiting: Awaiting
) -> list[Column[R.RealServerRow]]:
    th = state.thresholds
    weight_tone: Any = lambda r: "warn" if r.weights_differ or r.draining else None  # noqa: E731
    cols: list[Column[R.RealServerRow]] = [
        Column("server", "Real server", 21, lambda r: r.server, align="left", sort=lambda v: v),
        Column(
            "health",
            "Health",
            7,
            lambda r: _not_yet(awaiting, r.health),
            align="left",
            tone=_health_tone,
        ),
        Column(
            "weight",
            "W",
            4,
            lambda r: r.weight,
            fmt=lambda v: "-" if v is None else str(v),
            tone=weight_tone,
            marker=True,
        ),
        Column(
            "active",
            "Active",
            7,
            lambda r: r.active,
            fmt=fmt.count,
            marker=True,
            tone=lambda r: th.tone(r.active, th.active_warning, th.active_critical),
        ),
        Column(
            "cps",
            "CPS",
            6,
            lambda r: r.rates.cps,
            fmt=fmt.rate,
            marker=True,
            priority=1,
            bulk=R.rate_values("cps"),
        ),
        Column(
            "share",
            "Share",
            5,
            lambda r: r.share,
            fmt=lambda v: "-" if v is None else f"{100 * v:.0f}%",
            priority=1,
            bulk=R.share_values,
        ),
        Column(
            "drain",
            "Drain",
            9,
            _drain_value,
            fmt=lambda v: "" if v is None else v[1],
            align="left",
            priority=1,
            tone=lambda r: "warn",
            sort=_drain_sort,
        ),
        Column(
            "detail",
            "Checker / last error",
            12,
            lambda r: r.detail,
            align="left",
            priority=1,
            flex=True,
            tone=lambda r: "bad" if r.detail else None,
        ),
        Column(
            "effective",
            "Eff",
            4,
            lambda r: r.effective,
            fmt=lambda v: "-" if v is None else str(v),
            priority=2,
            tone=weight_tone,
        ),
        Column(
            "configured",
            "Cfg",
            4,
            lambda r: r.configured,
            fmt=lambda v: "-" if v is None else str(v),
            priority=2,
            tone=weight_tone,
        ),
        Column("inactive", "InAct", 6, lambda r: r.inactive, fmt=fmt.count, priority=2),
        Column(
            "inbps",
            "InB/s",
            7,
            lambda r: r.rates.inbps,
            fmt=fmt.nbytes,
            marker=True,
            priority=3,
            bulk=R.rate_values("inbps"),
        ),
        Column("persistent", "Pers", 5, lambda r: r.persistent, fmt=fmt.count, priority=3),
        Column(
            "inpps",
            "InPPS",
            7,
            lambda r: r.rates.inpps,
            fmt=fmt.rate,
            priority=4,
            bulk=R.rate_values("inpps"),
        ),
        Column("forward", "Fwd", 6, lambda r: r.forward, align="left", priority=4),
    ]
    if all_services:
        cols.insert(
            0,
            Column(
                "service",
                "Service",
                22,
                lambda r: r.service,
                align="left",
                priority=0,
                sort=lambda v: v,
            ),
        )
    return cols


def _search_service(r: R.ServiceRow) -> str:
    return f"{r.label} {r.scheduler} {r.role} {r.vip}"


def _search_rs(r: R.RealServerRow) -> str:
    return f"{r.service} {r.server} {r.health} {r.forward} {r.detail}"


class View(Vertical):
    """A caption line and the view's tables; the first table gets sort/filter keys."""

    DEFAULT_CSS = """
    View { height: 1fr; }
    View > .caption { height: 1; padding: 0 1; background: $boost; color: $text-muted;
                      text-wrap: nowrap; text-overflow: ellipsis; }
    View > .subtitle { height: 1; padding: 0 1; color: $text; text-style: bold;
                       text-wrap: nowrap; text-overflow: ellipsis; }
    """

    name_: str = ""

    def __init__(self, state: ConsoleState, *, id: str, awaiting: Awaiting = lambda: False) -> None:
        super().__init__(id=id)
        self.state = state
        self.awaiting = awaiting
        self.caption = Static("", classes="caption")
        self._caption_markup = ""

    def show_caption(self, markup: str) -> None:
        """Set the caption line; the same text again (most seconds) is neither parsed
        nor repainted."""
        if markup != self._caption_markup:
            self._caption_markup = markup
            self.caption.update(markup, layout=False)

    @property
    def title(self) -> str:
        return VIEW_TITLES[self.name_]

    def tables(self) -> list[LiveTable[Any]]:
        return list(self.query(LiveTable))

    def refresh_from(self, state: ConsoleState) -> None:
        raise NotImplementedError

    def caption_markup(self, table: LiveTable[Any], extra: str = "") -> str:
        shown, total = len(table.rows), len(table.all_rows)
        parts = [f"[b]{escape(self.title)}[/]"]
        if self.awaiting():
            parts.append("[$warning]reading keepalived…[/]")
        if extra:
            parts.append(extra)
        parts.append(f"{shown} of {total}" if table.filter_text else f"{total} rows")
        if table.filter_text:
            parts.append(f"filter [$accent b]/{escape(table.filter_text)}[/]")
        if table.sort_key:
            label = table.column(table.sort_key).label
            parts.append(f"sort {escape(label)} {'▼' if table.reverse else '▲'}")
        return " · ".join(parts)


class ServicesView(View):
    name_ = "services"

    def compose(self) -> ComposeResult:
        yield self.caption
        yield LiveTable(
            _svc_columns(self.state, self.awaiting),
            search=_search_service,
            id="services-table",
            empty="no virtual services configured",
        )

    def refresh_from(self, state: ConsoleState) -> None:
        table: LiveTable[R.ServiceRow] = self.query_one("#services-table", LiveTable)
        table.set_rows(R.service_rows(state))
        self.show_caption(self.caption_markup(table, "[$text-muted]Enter: real servers[/]"))


class ServersView(View):
    """All real servers, or those of one service (`service` set by drilling in)."""

    name_ = "servers"

    def __init__(self, state: ConsoleState, *, id: str, awaiting: Awaiting = lambda: False) -> None:
        super().__init__(state, id=id, awaiting=awaiting)
        self.service: ServiceKey | None = None

    def compose(self) -> ComposeResult:
        yield self.caption
        yield LiveTable(
            _rs_columns(self.state, True, self.awaiting),
            search=_search_rs,
            id="servers-table",
            empty="no real servers",
        )

    @property
    def table(self) -> LiveTable[R.RealServerRow]:
        return self.query_one("#servers-table", LiveTable)

    def scope(self, service: ServiceKey | None) -> None:
        """Show one service's servers (drill-in) or all of them; columns follow."""
        if service == self.service:
            return
        self.service = service
        self.table.set_columns(_rs_columns(self.state, service is None, self.awaiting))

    def refresh_from(self, state: ConsoleState) -> None:
        table = self.table
        table.set_rows(R.real_server_rows(state, self.service))
        where = (
            f"of [$accent b]{escape(service_label(self.service))}[/] · Esc: all services"
            if self.service is not None
            else "all services"
        )
        self.show_caption(self.caption_markup(table, where))


def _state_tone(r: R.InstanceRow) -> str | None:
    return {VrrpState.MASTER: "good", VrrpState.BACKUP: None}.get(r.instance.state, "bad")


def _instance_columns() -> list[Column[R.InstanceRow]]:
    return [
        Column("name", "Instance", 10, lambda r: r.instance.name, align="left", sort=lambda v: v),
        Column("vrid", "VRID", 4, lambda r: r.instance.vrid),
        Column(
            "state", "State", 7, lambda r: r.instance.state.value, align="left", tone=_state_tone
        ),
        Column(
            "priority",
            "Prio",
            8,
            lambda r: r.instance.effective_priority,
            fmt=lambda v: str(v),
            tone=lambda r: (
                "warn" if r.instance.effective_priority != r.instance.base_priority else None
            ),
        ),
        Column("base", "Base", 4, lambda r: r.instance.base_priority, priority=2),
        Column("master", "Master (prio)", 20, lambda r: _master(r), align="left", priority=1),
        Column(
            "vips",
            "VIPs",
            4,
            lambda r: r.vips,
            align="left",
            priority=1,
            tone=lambda r: _vips_tone(r),
        ),
        Column("age", "Since", 9, lambda r: r.age, fmt=fmt.duration, priority=1),
        Column("iface", "Iface", 6, lambda r: r.instance.interface, align="left", priority=2),
        Column(
            "errors",
            "Errors",
            6,
            lambda r: r.instance.counters.packet_errors + r.instance.counters.auth_errors,
            priority=2,
            tone=lambda r: (
                "bad"
                if r.instance.counters.packet_errors + r.instance.counters.auth_errors
                else None
            ),
        ),
        Column(
            "changed",
            "At (UTC)",
            8,
            lambda r: r.instance.last_transition,
            fmt=lambda v: "-" if v is None else fmt.clock_time(v),
            priority=3,
        ),
        Column(
            "rx",
            "Adv rx",
            8,
            lambda r: r.instance.counters.adverts_received,
            fmt=fmt.count,
            priority=3,
            marker=True,
        ),
        Column(
            "tx",
            "Adv tx",
            8,
            lambda r: r.instance.counters.adverts_sent,
            fmt=fmt.count,
            priority=3,
            marker=True,
        ),
        Column("masters", "Became M", 8, lambda r: r.instance.counters.became_master, priority=4),
        Column(
            "vip_list",
            "VIPs (✓ here)",
            16,
            lambda r: _vip_list(r),
            align="left",
            priority=3,
            flex=True,
        ),
    ]


def _master(r: R.InstanceRow) -> str:
    i = r.instance
    if i.state is VrrpState.MASTER:
        return "this node"
    if i.master_router is None:
        return "-"
    return f"{i.master_router} ({i.master_priority})" if i.master_priority else i.master_router


def _vip_list(r: R.InstanceRow) -> str:
    here = set(r.instance.vips_present)
    return " ".join(f"{v}{'✓' if v in here else '✗'}" for v in r.instance.vips)


def _vips_tone(r: R.InstanceRow) -> str | None:
    i = r.instance
    holds = len(i.vips_present)
    if i.state is VrrpState.MASTER and holds < len(i.vips):
        return "bad"
    if i.state is not VrrpState.MASTER and holds:
        return "bad"
    return None


def _speaker_columns() -> list[Column[R.SpeakerRow]]:
    return [
        Column("vrid", "VRID", 4, lambda r: r.speaker.vrid),
        Column("source", "Speaker", 15, lambda r: r.speaker.source, align="left", sort=lambda v: v),
        Column("priority", "Prio", 4, lambda r: r.speaker.priority),
        Column(
            "alarm",
            "Alarm",
            12,
            lambda r: r.alarm or "",
            align="left",
            tone=lambda r: "bad" if r.alarm else None,
        ),
        Column(
            "seen",
            "Seen",
            6,
            lambda r: r.seen_ago,
            fmt=lambda v: f"{fmt.duration(v)}",
            priority=1,
            tone=lambda r: "warn" if r.seen_ago > 3 * r.speaker.advert_int else None,
        ),
        Column(
            "vips",
            "VIPs",
            16,
            lambda r: " ".join(r.speaker.vips),
            align="left",
            priority=1,
            flex=True,
        ),
        Column(
            "adverts",
            "Adverts",
            8,
            lambda r: r.speaker.adverts,
            fmt=fmt.count,
            priority=2,
            marker=True,
        ),
        Column("iface", "Iface", 6, lambda r: r.speaker.interface, align="left", priority=2),
        Column(
            "interval",
            "Int",
            4,
            lambda r: r.speaker.advert_int,
            fmt=lambda v: f"{v:g}s",
            priority=3,
        ),
    ]


class VrrpView(View):
    name_ = "vrrp"

    DEFAULT_CSS = """
    VrrpView #vrrp-instances { height: auto; max-height: 45%; }
    VrrpView #vrrp-alarms { height: auto; max-height: 5; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield self.caption
        yield LiveTable(
            _instance_columns(),
            search=lambda r: r.instance.name,
            id="vrrp-instances",
            empty="no VRRP instances reported by keepalived",
        )
        yield Static("", classes="subtitle", id="vrrp-wire-title")
        yield LiveTable(
            _speaker_columns(),
            search=lambda r: r.speaker.source,
            id="vrrp-wire",
            sort_key="vrid",
            empty="no VRRP adverts heard",
        )
        yield Static("", id="vrrp-alarms")

    def refresh_from(self, state: ConsoleState) -> None:
        instances: LiveTable[R.InstanceRow] = self.query_one("#vrrp-instances", LiveTable)
        wire: LiveTable[R.SpeakerRow] = self.query_one("#vrrp-wire", LiveTable)
        instances.set_rows(R.instance_rows(state))
        instances.styles.height = max(2, len(instances.rows) + 1)
        wire.set_rows(R.speaker_rows(state))
        snap = state.snapshot
        ka = snap.keepalived if snap is not None else None
        listening = ""
        if ka is not None and ka.wire_since is not None and snap is not None:
            listening = f" (listening for {fmt.duration(snap.monotonic - ka.wire_since)})"
        self.query_one("#vrrp-wire-title", Static).update(
            f"On the wire: every VRRP speaker per VRID{escape(listening)}"
        )
        lines = []
        for a in R.alarms(state):
            style = "$error" if a.severity == "critical" else "$warning"
            lines.append(f"[{style} b]⚠ {escape(a.kind)}[/] vrid {a.vrid}: {escape(a.message)}")
        if not lines and wire.all_rows:
            lines.append("[$success]✓ one master per VRID, no mismatches[/]")
        self.query_one("#vrrp-alarms", Static).update("\n".join(lines))
        self.show_caption(self.caption_markup(instances, "instances on this node"))


def _conn_columns() -> list[Column[R.ConnRow]]:
    return [
        Column("service", "Service", 22, lambda r: r.service, align="left", sort=lambda v: v),
        Column("server", "Real server", 21, lambda r: r.server, align="left", sort=lambda v: v),
        Column("state", "State", 11, lambda r: r.state, align="left", sort=lambda v: v),
        Column("count", "Entries", 9, lambda r: r.count, fmt=fmt.count, marker=True),
    ]


def _client_columns() -> list[Column[R.ClientRow]]:
    return [
        Column("client", "Client", 39, lambda r: r.client, align="left", sort=lambda v: v),
        Column("count", "Entries", 9, lambda r: r.count, fmt=fmt.count, marker=True),
    ]


class ConnsView(View):
    """The connection table, aggregated; it is read only while this view is shown."""

    name_ = "conns"

    DEFAULT_CSS = """
    ConnsView #conns-groups { height: 2fr; }
    ConnsView #conns-clients { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield self.caption
        yield LiveTable(
            _conn_columns(),
            search=lambda r: f"{r.service} {r.server} {r.state}",
            sort_key="count",
            reverse=True,
            id="conns-groups",
            empty="connection table not read yet",
        )
        yield Static("", classes="subtitle", id="conns-clients-title")
        yield LiveTable(
            _client_columns(),
            search=lambda r: r.client,
            sort_key="count",
            reverse=True,
            id="conns-clients",
            empty="no clients",
        )

    def refresh_from(self, state: ConsoleState) -> None:
        groups: LiveTable[R.ConnRow] = self.query_one("#conns-groups", LiveTable)
        clients: LiveTable[R.ClientRow] = self.query_one("#conns-clients", LiveTable)
        snap = state.snapshot
        table = snap.connections if snap is not None else None
        if table is None:
            groups.set_rows([])
            clients.set_rows([])
            self.show_caption(self.caption_markup(groups, "reading the connection table…"))
            self.query_one("#conns-clients-title", Static).update("Top clients")
            return
        groups.set_rows(R.conn_rows(table))
        clients.set_rows(R.client_rows(table))
        extra = f"{fmt.count(table.entries)} entries ({fmt.count(table.templates)} templates)"
        if table.truncated:
            extra += " · [$warning b]CAPPED: only part of the table was read[/]"
        self.show_caption(self.caption_markup(groups, extra))
        exact = (
            "exact"
            if table.clients_exact
            else f"[$warning]estimated[/] (counts are upper bounds, ±{table.clients_error})"
        )
        self.query_one("#conns-clients-title", Static).update(f"Top clients · {exact}")


_SEVERITY_TONE = {"critical": "bad", "warning": "warn", "info": "dim"}


def _event_columns() -> list[Column[R.EventRow]]:
    return [
        Column("time", "Time UTC", 8, lambda r: r.wall_time, fmt=fmt.clock_time),
        Column(
            "severity",
            "Sev",
            4,
            lambda r: r.severity,
            fmt=lambda v: v[:4],
            align="left",
            tone=lambda r: _SEVERITY_TONE.get(r.severity),
        ),
        Column("kind", "Kind", 14, lambda r: r.kind, align="left", priority=1),
        Column("subject", "Subject", 22, lambda r: r.subject, align="left", priority=1),
        Column("message", "What happened", 20, lambda r: r.message, align="left", flex=True),
    ]


class EventsView(View):
    name_ = "events"

    def compose(self) -> ComposeResult:
        yield self.caption
        yield LiveTable(
            _event_columns(),
            search=lambda r: f"{r.kind} {r.subject} {r.message}",
            sort_key="time",
            reverse=True,
            id="events-table",
            empty="no events yet",
        )

    def refresh_from(self, state: ConsoleState) -> None:
        table: LiveTable[R.EventRow] = self.query_one("#events-table", LiveTable)
        events = tuple(state.events)
        table.set_rows(R.event_rows(events, state.events_seen - len(events)), markers=False)
        self.show_caption(self.caption_markup(table, "newest first"))
