"""The live console: header, five views, filter and command lines, help and palette.

Data flow: a thread worker runs `feed.run`, which polls one at a time and hands each
Update to `_from_feed`; updates queue in an inbox and one message wakes the UI, which
applies everything queued in order and redraws the visible view once. The UI thread
never touches the director. Tests pass `live=False` and call `poll_now()`, which polls
synchronously: no threads, no timers, a frozen clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.screen import ModalScreen
from textual.theme import Theme
from textual.widgets import ContentSwitcher, Input, Static

from lvstop.actions.base import ActionRefused, Confirm, Description
from lvstop.actions.run import execute
from lvstop.errors import LvstopError
from lvstop.feed import Feed, Update
from lvstop.model.events import Event, EventKind
from lvstop.ui.header import HeaderBar
from lvstop.ui.keybar import KeyBar, KeyHint
from lvstop.ui.keys import ACTIONS, VIEW_TITLES, VIEWS, KeyAction, find_command
from lvstop.ui.operate import VRRP_ACTIONS, WEIGHT_ACTIONS, Operator
from lvstop.ui.rows import InstanceRow, RealServerRow
from lvstop.ui.state import ConsoleState, Thresholds
from lvstop.ui.table import LiveTable
from lvstop.ui.themes import DEFAULT_THEME, FALLBACK_THEME
from lvstop.ui.views import (
    ConnsView,
    EventsView,
    ServersView,
    ServicesView,
    View,
    VrrpView,
)

TABLE_KEYS = (
    ("↑ ↓ / j k", "move the cursor"),
    ("PgUp PgDn Home End", "page, first, last row"),
    ("click a column title", "sort by it (again: reverse)"),
)


LINE_KEYS = frozenset({"back", "poll"})
"""The only actions whose keys act while the filter/command line is open (Esc cancels,
ctrl+r polls); every other key is typed into the line."""


TICK_SKIP_S = 0.9
"""The age tick skips its repaint when the header was painted this recently."""


class _Arrived(Message):
    """The feed queued at least one update in the inbox."""


class HelpScreen(ModalScreen[None]):
    """Every key of the current view (and what read-only mode hides)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: auto; max-width: 90%; height: auto; max-height: 90%;
                                  border: round $primary; background: $surface; padding: 0 1; }
    HelpScreen Static { width: auto; }
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        # Scrolls (↑↓, PgUp/PgDn) when the terminal is shorter than the list.
        with VerticalScroll(can_focus=True):
            yield Static(self.text, id="help-text")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()


class ConfirmScreen(ModalScreen[bool]):
    """What an action will do (lvstop.actions Description); y/Enter runs it, n/Esc not.

    A TYPED confirmation (lvstop cannot vouch for the outcome) needs the word typed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: auto; max-width: 90%; height: auto;
                               border: thick $warning; background: $surface; padding: 0 1; }
    ConfirmScreen Static { width: auto; }
    ConfirmScreen Input { width: 40; }
    """

    def __init__(self, description: Description) -> None:
        super().__init__()
        self.description = description
        self.typed = description.confirm is Confirm.TYPED and bool(description.typed_word)

    def compose(self) -> ComposeResult:
        d = self.description
        lines = [f"[b]{escape(d.title)}[/]", ""]
        lines += [f"  {escape(c.target)}: {escape(c.before)} → [b]{escape(c.after)}[/]"
                  for c in d.changes]  # fmt: skip
        lines += [f"  [$warning]! {escape(w)}[/]" for w in d.warnings]
        lines += [f"  - {escape(e)}" for e in d.side_effects]
        lines.append("")
        if self.typed:
            lines.append(f"Type [b]{escape(d.typed_word or '')}[/] and Enter to go ahead, Esc not")
        else:
            lines.append("[b]y[/] / Enter: do it    [b]n[/] / Esc: cancel")
        with Vertical():
            yield Static("\n".join(lines), id="confirm-text")
            if self.typed:
                yield Input(id="confirm-word")

    def on_key(self, event: Any) -> None:
        if event.key == "enter" and not self.typed:
            event.stop()
            self.dismiss(True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() == (self.description.typed_word or ""))

    def action_answer(self, yes: bool) -> None:
        if self.typed and yes:
            return  # "y" is not the word
        self.dismiss(yes)


class ActionCommands(Provider):
    """The palette: every action allowed in the current view, every view, every theme."""

    def _entries(self) -> list[tuple[str, Callable[[], Any], str]]:
        app = self.app
        if not isinstance(app, LvstopApp):
            return []
        out: list[tuple[str, Callable[[], Any], str]] = []
        for a in app.allowed_actions():
            if a.name == "palette":
                continue
            out.append((a.description, _caller(app.run_named, a.name), f"key {a.key_display}"))
        for name in app.theme_names:
            out.append((f"Theme: {name}", _caller(app.set_theme, name), "switch colours"))
        return out

    async def discover(self) -> Hits:
        for text, callback, help_text in self._entries():
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)


def _caller(fn: Callable[[str], Any], arg: str) -> Callable[[], Any]:
    return lambda: fn(arg)


class LvstopApp(App[None]):
    """lvstop's console. `read_only_reason` non-empty means write actions are off."""

    TITLE = "lvstop"
    COMMANDS: ClassVar[set[Any]] = {ActionCommands}
    ENABLE_COMMAND_PALETTE = True
    CSS = """
    Screen { layout: vertical; }
    ContentSwitcher { height: 1fr; }
    #line-box { height: 1; background: $boost; padding: 0 1; display: none; }
    #line-prompt { width: 2; color: $accent; text-style: bold; }
    #line { width: 1fr; height: 1; border: none; padding: 0; background: $boost; }
    #line:focus { border: none; background: $boost; }
    """

    def __init__(
        self,
        feed: Feed,
        *,
        interval: float = 1.0,
        read_only_reason: str = "",
        theme: str | None = None,
        themes: Iterable[Theme] = (),
        actions: tuple[KeyAction, ...] = ACTIONS,
        thresholds: Thresholds | None = None,
        warnings: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        live: bool = True,
        operator: Operator | None = None,
        keepalived: bool = False,
    ) -> None:
        super().__init__()
        self.keepalived = keepalived  # the director reads keepalived (see awaiting_keepalived)
        self._wall_clock = wall_clock
        self.operator = operator
        self.feed = feed
        self.live = live
        self.read_only_reason = read_only_reason
        self.state = ConsoleState(clock, interval=interval, thresholds=thresholds)
        self.actions = actions
        self.by_name = {a.name: a for a in actions}
        self.startup_warnings = list(warnings)
        self._themes = tuple(themes)
        self._wanted_theme = theme
        self.view = "services"
        self.paused = False
        self._held: list[Update] = []
        self._inbox: list[Update] = []
        self._inbox_lock = threading.Lock()
        self._stop = threading.Event()
        self._line_mode: str | None = None  # "filter" | "command" while the line is open
        self._filter_before = ""  # the filter when the line was opened (Esc restores it)
        self._header_shown_at: float | None = None  # monotonic, of the last header paint
        self._line_from: LiveTable[Any] | None = None  # the table the line was opened on
        for a in actions:
            if a.name == "palette":
                continue  # Textual's own ctrl+p binding opens it
            # App.bind() has no `priority`; the map it writes to does.
            self._bindings.bind(
                a.key,
                f"run('{a.name}')",
                description=a.description,
                show=a.footer,
                key_display=a.key_display,
                # Priority: the app acts on the key when it reads it, in the order
                # typed. A plain binding acts only after the key went to the focused
                # table and back, so in a burst (`3` Tab `/`...) a later priority key
                # or a focus change would overtake it.
                priority=True,
            )
        # Tab moves between a view's tables, a priority key too (same ordering reason).
        self._bindings.bind("tab", "cycle_table(1)", show=False, priority=True)
        self._bindings.bind("shift+tab", "cycle_table(-1)", show=False, priority=True)

    @property
    def read_only(self) -> bool:
        return bool(self.read_only_reason)

    @property
    def theme_names(self) -> list[str]:
        return sorted(n for n in self.available_themes if n != "textual-ansi")

    # -- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        with ContentSwitcher(initial="view-services"):
            yield ServicesView(self.state, id="view-services", awaiting=self.awaiting_keepalived)
            yield ServersView(self.state, id="view-servers", awaiting=self.awaiting_keepalived)
            yield VrrpView(self.state, id="view-vrrp")
            yield ConnsView(self.state, id="view-conns")
            yield EventsView(self.state, id="view-events")
        # The filter / command line sits between the view and the key bar (a docked
        # line would be drawn under the key bar, so what is typed would not show).
        with Horizontal(id="line-box"):
            yield Static("/", id="line-prompt")
            yield Input(id="line", select_on_focus=False)
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        for t in self._themes:
            self.register_theme(t)
        wanted = self._wanted_theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            if self._wanted_theme is not None:
                self.startup_warnings.append(
                    f"theme {wanted!r} not found (available: {', '.join(self.theme_names)}); "
                    f"using the default"
                )
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else FALLBACK_THEME
        self.theme = wanted
        for w in self.startup_warnings:
            self.notify(w, title="lvstop", severity="warning", timeout=20)
        self._redraw()
        self._show_keys()
        self.current_view().tables()[0].focus()
        if self.live:
            self.set_interval(1.0, self._tick)
            self._poll_loop()

    def awaiting_keepalived(self) -> bool:
        """The director reads keepalived but its first reading is not here yet (it
        runs in the background and can take a while): roles and health are unknown,
        which the views must not show as "-" (no role, no checker)."""
        snap = self.state.snapshot
        return self.keepalived and snap is not None and snap.keepalived is None

    def current_view(self) -> View:
        return self.query_one(f"#view-{self.view}", View)

    def current_table(self) -> LiveTable[Any]:
        """The table keys act on: the focused one of this view (while the line is open,
        the one it was opened on), else its first."""
        tables = self.current_view().tables()
        if self._line_mode is not None and self._line_from in tables:
            return self._line_from
        focused = self.focused
        for t in tables:
            if t is focused:
                return t
        return tables[0]

    # -- updates -----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _poll_loop(self) -> None:
        self.feed.run(self._from_feed, self._stop)

    def _from_feed(self, update: Update) -> None:
        """Called on the feed's thread: queue, and wake the UI only if it is not awake."""
        with self._inbox_lock:
            self._inbox.append(update)
            wake = len(self._inbox) == 1
        if wake:
            self.post_message(_Arrived())

    def on__arrived(self, _message: _Arrived) -> None:
        with self._inbox_lock:
            updates, self._inbox = self._inbox, []
        self.apply_updates(updates)

    def poll_now(self) -> None:
        """Poll synchronously and show the result (tests, and the first frame)."""
        self.apply_updates([self.feed.poll_once("request")])

    def apply_updates(self, updates: list[Update]) -> None:
        if self.paused:
            self._held.extend(updates)
            self._show_header()
            return
        for u in updates:
            self.state.apply(u)
        self._redraw()

    def _tick(self) -> None:
        """Once a second: the data age moves even when no update arrives.

        While updates keep coming, each one has just repainted the header: a second
        paint in between would only move the age by a fraction of a second, at the
        cost of a frame (a fifth of the console's idle CPU at a 1 s interval).
        """
        shown = self._header_shown_at
        if shown is not None and time.monotonic() - shown < TICK_SKIP_S:
            return
        self._show_header()

    def _show_header(self) -> None:
        self._header_shown_at = time.monotonic()
        self.query_one(HeaderBar).show(
            self.state,
            read_only=self.read_only,
            paused=self.paused,
            awaiting=self.awaiting_keepalived(),
        )

    def _redraw(self) -> None:
        self._show_header()
        self.current_view().refresh_from(self.state)

    def on_unmount(self) -> None:
        self._stop.set()
        self.feed.close()

    # -- actions -----------------------------------------------------------------

    def allowed(self, a: KeyAction) -> bool:
        """Offered here and now: in scope, and a write action only with an Operator
        (which exists only when the console is not read-only)."""
        if a.writes and (self.operator is None or self.read_only):
            return False
        return a.allowed(self.view, self.read_only)

    def allowed_actions(self) -> list[KeyAction]:
        return [a for a in self.actions if self.allowed(a)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cycle_table":
            return len(self.screen_stack) == 1 and self._line_mode is None
        if action == "run" and parameters:
            a = self.by_name.get(str(parameters[0]))
            if a is not None and not self._takes_key(a):
                return False  # the key goes on to the line, the dialog or the palette
            return a is not None and self.allowed(a)
        return True

    def action_cycle_table(self, step: int) -> None:
        tables = self.current_view().tables()
        here = self.current_table()
        i = tables.index(here) if here in tables else 0
        self.screen.set_focus(tables[(i + step) % len(tables)])

    def _takes_key(self, a: KeyAction) -> bool:
        """Our keys are priority keys: they act only on the main screen, and while the
        line is open only those of LINE_KEYS do; anywhere else they are typed."""
        if len(self.screen_stack) > 1:
            return False
        return self._line_mode is None or a.name in LINE_KEYS

    def action_run(self, name: str) -> None:
        self.run_named(name)

    def run_named(self, name: str, argument: str = "") -> None:
        """Run an action by name (keys, `:` commands and the palette all come here)."""
        a = self.by_name.get(name)
        if a is None or not self.allowed(a):
            self.notify(f"{name}: not available here", severity="warning")
            return
        if name in WEIGHT_ACTIONS or name in VRRP_ACTIONS:
            self._start_action(name)
        elif name.startswith("view."):
            self.switch_view(name.removeprefix("view."))
        elif name == "open":
            self._open()
        elif name == "back":
            self._back()
        elif name == "filter":
            if argument:
                self._set_filter(argument)
            else:
                self._open_line("filter", self.current_table().filter_text)
        elif name == "sort.next":
            if argument:
                self._sort_named(argument)
            else:
                self.current_table().cycle_sort(1)
                self._redraw()
        elif name == "sort.prev":
            self.current_table().cycle_sort(-1)
            self._redraw()
        elif name == "sort.reverse":
            self.current_table().toggle_reverse()
            self._redraw()
        elif name == "pause":
            self.toggle_pause()
        elif name == "poll":
            if self.live:
                self.feed.request_poll()
            else:
                self.poll_now()
        elif name == "command":
            self._open_line("command", "")
        elif name == "help":
            self.push_screen(HelpScreen(self.help_text()))
        elif name == "palette":
            self.action_command_palette()
        elif name == "quit":
            self.exit()

    def _start_action(self, name: str) -> None:
        row = self.current_table().current
        snap = self.state.snapshot
        keepalived = snap.keepalived if snap is not None else None
        if name in VRRP_ACTIONS:
            table = self.query_one("#vrrp-instances", LiveTable)
            inst = table.current
            if not isinstance(inst, InstanceRow):
                self.notify("no VRRP instance to act on", severity="warning")
                return
            self._operate(name, inst.key, keepalived)
            return
        if not isinstance(row, RealServerRow) or not row.in_ipvs:
            self.notify("put the cursor on a real server that is in IPVS", severity="warning")
            return
        self._operate(name, row.rid, keepalived)

    @work(thread=True, exclusive=True, group="action", exit_on_error=False)
    def _operate(self, name: str, target: Any, keepalived: Any) -> None:
        """Preflight, confirm (a modal), apply, verify and audit, off the UI thread.
        `target` is a real server's (service, server) key or a VRRP instance name."""
        operator = self.operator
        if operator is None:
            return
        ctx = None
        subject = target if isinstance(target, str) else f"{target[1].address}:{target[1].port}"
        try:
            if name in VRRP_ACTIONS:
                action, ctx = operator.build_vrrp(name, target, keepalived)
            else:
                action, ctx = operator.build(name, target[0], target[1], keepalived)
            subject = action.target
            outcome = execute(action, ctx.audit, self._confirm_from_thread, warn=self._warn)
        except ActionRefused as exc:
            self._action_event(name, subject, "warning", f"refused: {exc}")
        except (LvstopError, OSError) as exc:
            self._action_event(name, subject, "critical", f"failed: {exc}")
        except Exception as exc:  # an action bug must not kill the console
            self._action_event(name, subject, "critical", f"internal error: {exc!r}")
        else:
            facts = "; ".join(outcome.verified.facts)
            self._action_event(
                name, subject, "info", outcome.result + (f": {facts}" if facts else "")
            )
        finally:
            if ctx is not None and ctx.table is not None:
                ctx.table.close()
            self.feed.request_poll()

    def _action_event(self, name: str, subject: str, severity: str, message: str) -> None:
        """Tell the operator (a toast) and keep it in the Events timeline (kind ACTION);
        the audit file has the full record. Called on the worker thread."""
        event = Event(self._wall_clock(), EventKind.ACTION, severity, subject, f"{name} {message}")

        def show() -> None:
            self.state.add_events((event,))
            level = {"critical": "error", "warning": "warning"}.get(severity, "information")
            self.notify(message, title=f"{name} {subject}", severity=level, timeout=15)  # type: ignore[arg-type]
            if self.view == "events":
                self.current_view().refresh_from(self.state)

        self.call_from_thread(show)

    def _warn(self, message: str) -> None:
        self.call_from_thread(self.notify, message, severity="warning", timeout=15)

    def _confirm_from_thread(self, description: Description) -> bool:
        """The actions layer's confirm callback: show the modal, wait for the answer."""
        answer: list[bool] = []
        done = threading.Event()

        def ask() -> None:
            def answered(ok: bool | None) -> None:
                answer.append(bool(ok))
                done.set()

            self.push_screen(ConfirmScreen(description), answered)

        self.call_from_thread(ask)
        while not done.wait(0.1):
            if self._stop.is_set():
                return False
        return answer[0]

    def switch_view(self, view: str, *, scope: Any = None) -> None:
        if view not in VIEWS:
            return
        leaving_conns = self.view == "conns" and view != "conns"
        self.view = view
        if view == "servers":
            self.query_one(ServersView).scope(scope)
        self.query_one(ContentSwitcher).current = f"view-{view}"
        if view == "conns" or leaving_conns:
            self.feed.set_connections(view == "conns")
            if view == "conns":
                self.run_named("poll")
        self._close_line()
        self._redraw()
        self._show_keys()
        # At once, not after the next frame: keys typed in the same burst as the view
        # key (`3` Tab `/`...) must already reach the new view's table.
        self.screen.set_focus(self.current_view().tables()[0])

    def _open(self) -> None:
        row = self.current_table().current
        if self.view == "services" and row is not None:
            self.switch_view("servers", scope=row.key)

    def _back(self) -> None:
        if self._line_mode is not None:
            # Esc on the line cancels the edit: the filter it was opened on comes back
            # (none, for a new filter); a second Esc clears that one too.
            if self._line_mode == "filter":
                self._set_filter(self._filter_before)
            self._close_line()
            return
        table = self.current_table()
        if table.filter_text:
            self._set_filter("")
        elif self.view != "services":
            self.switch_view("services")

    def _set_filter(self, text: str) -> None:
        table = self.current_table()
        had = bool(table.filter_text)
        table.set_filter(text)
        self.current_view().refresh_from(self.state)
        if had != bool(text):
            self._show_keys()

    def _sort_named(self, name: str) -> None:
        table = self.current_table()
        col = table.find_column(name)
        if col is None:
            labels = ", ".join(c.key for c in table.columns)
            self.notify(f"sort: no column {name!r} here (columns: {labels})", severity="error")
            return
        table.sort_by(col.key, reverse=table.reverse if table.sort_key == col.key else None)
        self._redraw()

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused and self._held:
            held, self._held = self._held, []
            self.apply_updates(held)
        self._show_header()
        self._show_keys()

    def set_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"theme {name!r} not found", severity="error")
            return
        self.theme = name

    # -- the filter / command line ------------------------------------------------

    def _open_line(self, mode: str, value: str) -> None:
        """Show the line with a prompt and a cursor and focus it at once (a deferred
        focus would let keys typed right after `/` reach the table instead)."""
        line = self.query_one("#line", Input)
        self._line_from = self.current_table()  # the keys return to it
        self._line_mode = mode
        self._filter_before = value if mode == "filter" else ""
        self.query_one("#line-prompt", Static).update("/" if mode == "filter" else ":")
        line.placeholder = (
            "type to filter rows · Enter keeps it · Esc cancels"
            if mode == "filter"
            else "services servers vrrp conns events · sort COL · filter TEXT · theme NAME"
        )
        line.value = value
        line.cursor_position = len(value)
        self.query_one("#line-box").display = True  # inline style: at once, not next frame
        self.screen.set_focus(line)
        self._show_keys()

    def _close_line(self) -> None:
        if self._line_mode is None:
            return
        self._line_mode = None
        line = self.query_one("#line", Input)
        self.query_one("#line-box").display = False
        line.value = ""
        # Synchronously (a `:sort` runs right after this), and back to the table the
        # line was opened from: the second table of a view keeps the keys.
        back = self._line_from
        if back is None or back not in self.current_view().tables():
            back = self.current_view().tables()[0]
        self.screen.set_focus(back)
        self._show_keys()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._line_mode == "filter":
            self._set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        mode = self._line_mode
        if mode == "filter":
            self._set_filter(event.value.strip())
        self._close_line()
        if mode == "command":
            self.run_command(event.value)

    # -- the key bar ---------------------------------------------------------------

    def key_hints(self) -> list[KeyHint]:
        """What the key bar offers right now: the line's keys while it is open, else
        the allowed actions of this view (the current view marked)."""
        if self._line_mode == "filter":
            return [
                KeyHint("Enter", "keep filter", "app.line_key('enter')", rank=0),
                KeyHint("Esc", "cancel", "app.line_key('escape')", rank=0),
            ]
        if self._line_mode == "command":
            return [
                KeyHint("Enter", "run", "app.line_key('enter')", rank=0),
                KeyHint("Esc", "cancel", "app.line_key('escape')", rank=0),
            ]
        hints = []
        for a in self.allowed_actions():
            if a.name == "back":
                # Esc matters only when there is somewhere to go back to.
                if self.current_table().filter_text:
                    hints.append(KeyHint("Esc", "Clear filter", "app.run('back')", rank=1))
                elif self.view != "services":
                    hints.append(KeyHint("Esc", "Back", "app.run('back')", rank=2))
                continue
            if not a.footer:
                continue
            label = a.description
            if a.name == "pause" and self.paused:
                label = "Resume"
            hints.append(
                KeyHint(
                    a.key_display,
                    label,
                    f"app.run('{a.name}')",
                    short=a.short,
                    rank=a.rank,
                    current=a.name == f"view.{self.view}",
                )
            )
        return hints

    def _show_keys(self) -> None:
        self.query_one(KeyBar).show(self.key_hints())

    async def action_line_key(self, key: str) -> None:
        """A click on the line's Enter / Esc hints."""
        if key == "escape":
            self._back()
        elif self._line_mode is not None:
            await self.query_one("#line", Input).action_submit()

    def run_command(self, text: str) -> None:
        """A `:` command: an action's command word, optionally with an argument."""
        word, _, arg = text.strip().partition(" ")
        if not word:
            return
        if word == "theme":
            self.set_theme(arg.strip())
            return
        action = find_command(word, self.actions)
        if action is None:
            self.notify(f":{word}: unknown command (? lists them)", severity="error")
            return
        self.run_named(action.name, arg.strip())

    def on_live_table_selected(self, event: LiveTable.Selected) -> None:
        if self.view == "services":
            self.switch_view("servers", scope=event.row.key)

    # -- help --------------------------------------------------------------------

    def help_text(self) -> str:
        lines = [f"[b]Keys in {VIEW_TITLES[self.view]}[/]", ""]
        for a in self.allowed_actions():
            words = f"  :{a.commands[0]}" if a.commands else ""
            lines.append(f"  [b $accent]{a.key_display:<8}[/] {a.description}{words}")
        for keys, what in TABLE_KEYS:
            lines.append(f"  [b $accent]{keys:<8}[/] {what}")
        if len(self.current_view().tables()) > 1:
            lines.append(f"  [b $accent]{'Tab':<8}[/] the other table (/ : r act on the focused)")
        hidden = [a for a in self.actions if a.writes]
        if self.read_only:
            lines += ["", f"[$warning]READ-ONLY[/]: {self.read_only_reason}"]
            if hidden:
                lines.append("hidden while read-only:")
                lines += [f"  [$text-muted]{a.key_display:<8} {a.description}[/]" for a in hidden]
        lines += ["", "[$text-muted]:theme NAME switches colours · Esc or ? closes[/]"]
        return "\n".join(lines)
