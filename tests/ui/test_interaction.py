"""The console's interaction details: the key bar, the filter/command line, and the
"keepalived not read yet" state. Each test pins one behaviour an operator relies on."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from conftest import SERVICES, Console, ConsoleFactory
from textual import events
from textual.widgets import Input

from lvstop.model.capabilities import Capabilities
from lvstop.model.snapshot import Snapshot
from lvstop.sources.simulated import SimulatedDirector
from lvstop.ui.app import HelpScreen
from lvstop.ui.header import HeaderBar
from lvstop.ui.keybar import KeyBar, KeyHint, bar_markup, fit
from lvstop.ui.views import READING


def bar(c: Console) -> str:
    return str(c.app.query_one(KeyBar).render())


def burst(c: Console, *keys: tuple[str, str]) -> None:
    """Keys as one read from the terminal: all queued before the first is handled
    (the way the driver delivers them; Pilot's `press` waits after each key)."""
    driver = c.app._driver
    assert driver is not None
    for key, char in keys:
        event = events.Key(key, char)
        event.set_sender(c.app)
        driver.send_message(event)


def caption(c: Console) -> str:
    return str(c.app.query_one(f"#view-{c.app.view} .caption").render())


# -- the key bar -------------------------------------------------------------------


async def test_key_bar_follows_the_view_without_rebuilding_widgets(
    make_console: ConsoleFactory,
) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.pause()
        text = bar(c)
        assert "1 Services" in text and "Enter Open service" in text and "/ Filter" in text
        assert text.rstrip().endswith("^p palette")
        children = len(c.app.query_one(KeyBar).children)
        await pilot.press("3")
        await pilot.pause()
        text = bar(c)
        assert "Open service" not in text  # Enter does nothing in VRRP
        assert "3 VRRP" in text and "? Help" in text
        await pilot.press("p")
        assert "p Resume" in bar(c)
        # One Static line: switching rebuilds no widgets (Textual's Footer rebuilt one
        # per key on every switch, ~0.5 s).
        assert len(c.app.query_one(KeyBar).children) == children == 0


async def test_key_bar_at_80_columns_keeps_the_views_help_and_palette(
    make_console: ConsoleFactory,
) -> None:
    c = make_console()
    async with c.app.run_test(size=(80, 24)) as pilot:
        c.poll(0)
        await pilot.pause()
        text = bar(c)
        assert len(text) <= 80
        for word in ("1 Svc", "2 RS", "3 VRRP", "4 Conns", "5 Ev", "/ Filter", "? Help"):
            assert word in text, text
        assert text.rstrip().endswith("^p palette")


async def test_key_bar_entries_are_clickable(make_console: ConsoleFactory) -> None:
    c = make_console()
    async with c.app.run_test(size=(80, 24)) as pilot:
        c.poll(0)
        await pilot.pause()
        text = bar(c)
        await pilot.click(KeyBar, offset=(text.index("3 VRRP") + 2, 0))
        await pilot.pause()
        assert c.app.view == "vrrp"
        await pilot.click(KeyBar, offset=(text.index("palette") + 1, 0))
        await pilot.pause()
        assert type(c.app.screen).__name__ == "CommandPalette"


def test_fit_shortens_then_drops_by_rank() -> None:
    hints = [
        KeyHint("1", "Services", short="Svc", rank=1),
        KeyHint("r", "Reverse sort", short="Rev", rank=2),
        KeyHint("?", "Help", rank=0),
    ]
    assert fit(hints, 200) == (hints, False)
    kept, short = fit(hints, 36)
    assert short and [h.key for h in kept] == ["1", "r", "?"]
    kept, short = fit(hints, 26)
    assert [h.key for h in kept] == ["1", "?"]  # rank 2 goes first
    kept, _ = fit(hints, 5)
    assert [h.key for h in kept] == ["?"]  # rank 0 never goes
    assert bar_markup(hints, 60).endswith("[b]^p[/] palette[/]")


# -- the filter line ---------------------------------------------------------------


async def test_filter_line_is_drawn_above_the_key_bar_with_what_is_typed(
    make_console: ConsoleFactory,
) -> None:
    c = make_console()
    async with c.app.run_test(size=(80, 24)) as pilot:
        c.poll(0)
        await pilot.press("slash", *"8765")
        await pilot.pause()
        line = c.app.query_one("#line", Input)
        assert c.app.focused is line and line.value == "8765"
        assert line.cursor_position == 4
        # On screen, on its own row, and not covered by another widget.
        assert line.region.height == 1 and line.region.y == 22
        assert c.app.query_one(KeyBar).region.y == 23
        widget, _ = c.app.screen.get_widget_at(line.region.x + 1, line.region.y)
        assert widget is line
        assert str(c.app.query_one("#line-prompt").render()) == "/"
        assert "Enter keep filter" in bar(c) and "Esc cancel" in bar(c)
        assert c.rows("service") == [SERVICES[1], SERVICES[3]]


async def test_keys_typed_in_one_burst_after_slash_land_in_the_line(
    make_console: ConsoleFactory,
) -> None:
    """A fast typist (or a paste) sends `/73` as one read: the keys after `/` are
    queued before the line exists, and must still reach it, not the table."""
    c = make_console()
    async with c.app.run_test(size=(80, 24)) as pilot:
        c.poll(0)
        await pilot.pause()
        burst(c, ("slash", "/"), ("7", "7"), ("3", "3"))
        await pilot.pause()
        assert c.app.query_one("#line", Input).value == "73"
        assert c.app.view == "services"  # "3" did not switch to VRRP
        assert c.rows("service") == SERVICES[:2]


async def test_a_burst_switching_view_then_table_then_filtering_lands_right(
    make_console: ConsoleFactory,
) -> None:
    """`3`, Tab, `/.44` typed as one burst: the VRRP view, its wire table, filtered."""
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        c.poll(5)
        await pilot.pause()
        burst(
            c, ("3", "3"), ("tab", "\t"), ("slash", "/"), ("full_stop", "."), ("4", "4"), ("4", "4")
        )
        await pilot.pause()
        wire = c.app.query_one("#vrrp-wire")
        assert c.app.view == "vrrp"
        assert wire.filter_text == ".44"
        assert c.app.query_one("#vrrp-instances").filter_text == ""


async def test_slash_and_colon_are_plain_characters_inside_the_lines(
    make_console: ConsoleFactory,
) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.press("slash", *"23.73:80")
        assert c.app.query_one("#line", Input).value == "23.73:80"
        assert c.rows("service") == [SERVICES[0]]
        await pilot.press("enter")
        await pilot.press("colon", *"filter 74/", "backspace", "enter")
        assert c.app.current_table().filter_text == "74"


async def test_enter_keeps_the_filter_escape_cancels_the_edit(
    make_console: ConsoleFactory,
) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.press("slash", *"8765", "enter")
        await pilot.pause()
        assert not c.app.query_one("#line-box").display
        assert c.app.focused is c.app.current_table()
        assert "filter /8765" in caption(c)
        # Edit it, then Esc: the edit is dropped, the kept filter comes back.
        await pilot.press("slash", "backspace", "backspace", *"73")
        assert c.rows("service") == []  # "8773" matches nothing, live
        await pilot.press("escape")
        await pilot.pause()
        assert not c.app.query_one("#line-box").display
        assert c.app.current_table().filter_text == "8765"
        assert c.rows("service") == [SERVICES[1], SERVICES[3]]
        await pilot.press("escape")  # a second Esc clears it
        assert c.rows("service") == SERVICES


# -- keepalived not read yet ---------------------------------------------------------


class SlowKeepalived:
    """The simulated director as a live one sees the world before keepalived's first
    reading arrived: IPVS at once, keepalived only from the `ready`-th snapshot."""

    reads_keepalived = True

    def __init__(self, inner: SimulatedDirector, ready: int = 2) -> None:
        self.inner = inner
        self.ready = ready
        self.polls = 0

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        self.polls += 1
        snap = self.inner.snapshot(connections=connections)
        return snap if self.polls >= self.ready else replace(snap, keepalived=None)

    def close(self) -> None:
        self.inner.close()


def header(c: Console) -> str:
    return str(c.app.query_one(HeaderBar).render())


async def test_roles_say_reading_until_keepalived_was_read(make_console: ConsoleFactory) -> None:
    c = make_console(director=lambda clock: SlowKeepalived(SimulatedDirector(clock=clock)))
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.pause()
        assert c.rows("role") == [READING] * 4
        assert "reading keepalived…" in caption(c)
        assert "keepalived: reading…" in header(c) and "VRRP: reading keepalived" in header(c)
        await pilot.press("2")
        await pilot.pause()
        assert set(c.rows("health")) == {READING}
        c.poll(1)
        await pilot.pause()
        # The :80 services are manual ipvsadm rules: no checker, so "-" now means it.
        assert set(c.rows("health")) == {"up", "-"}
        assert "reading keepalived" not in caption(c)
        await pilot.press("1")
        await pilot.pause()
        assert c.rows("role") == ["MASTER", "MASTER", "BACKUP", "BACKUP"]
        assert "reading" not in header(c)


async def test_without_keepalived_a_missing_role_stays_a_dash(
    make_console: ConsoleFactory,
) -> None:
    """A director that does not read keepalived: nothing is coming, so "-", not "…"."""

    def never(clock: Any) -> SlowKeepalived:
        d = SlowKeepalived(SimulatedDirector(clock=clock), ready=10**9)
        d.reads_keepalived = False
        return d

    c = make_console(director=never)
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.pause()
        assert c.rows("role") == ["-"] * 4
        assert "reading" not in caption(c) and "reading" not in header(c)


# -- sort and reverse on every column of every table ----------------------------------


def _ordered(values: list[Any], reverse: bool) -> bool:
    return all((b <= a) if reverse else (a <= b) for a, b in itertools.pairwise(values))


async def test_every_column_of_every_table_sorts_and_reverses(
    make_console: ConsoleFactory,
) -> None:
    """`:sort COLUMN` then `r` on each table of each view (the second table of a view
    gets the keys once it has the focus). The first two columns of a table go through
    the keys, the rest through `run_command` (the same path, minus 10 key presses)."""
    c = make_console()
    async with c.app.run_test(size=(200, 60)) as pilot:
        c.poll(0)
        c.poll(1)
        c.poll(44)  # a failed, removed real server: mixed health, absent rows
        checked = 0
        for key in "12345":
            await pilot.press(key)
            await pilot.pause()
            for table in c.app.current_view().tables():
                table.focus()
                await pilot.pause()
                assert c.app.current_table() is table
                rows_before = len(table.rows)
                for i, col in enumerate(table.columns):
                    if i < 2:
                        await pilot.press("colon", *f"sort {col.key}", "enter")
                    else:
                        c.app.run_command(f"sort {col.key}")
                    assert table.sort_key == col.key, (c.app.view, col.key)
                    for _ in range(2):
                        values = [col.sort(col.get(r)) for r in table.rows]
                        assert _ordered(values, table.reverse), (c.app.view, col.key, values)
                        assert len(table.rows) == rows_before  # reordered, nothing lost
                        await pilot.press("r")
                    checked += 1
        assert checked >= 60  # every column of the 8 tables


async def test_filter_and_sort_act_on_the_focused_second_table(
    make_console: ConsoleFactory,
) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        c.poll(5)
        await pilot.press("3")
        await pilot.pause()
        wire = c.app.query_one("#vrrp-wire")
        instances = c.app.query_one("#vrrp-instances")
        await pilot.press("tab")
        assert c.app.focused is wire
        await pilot.press("question_mark")
        help_screen = c.app.screen
        assert isinstance(help_screen, HelpScreen) and "the other table" in help_screen.text
        await pilot.press("escape")
        await pilot.pause()
        assert c.app.focused is wire
        await pilot.press("slash", *".44", "enter")
        assert [r.speaker.source for r in wire.rows] == ["198.18.23.44"]
        assert instances.filter_text == "" and len(instances.rows) == 2
        assert c.app.focused is wire  # the keys came back to it
        await pilot.press("colon", *"sort source", "enter")
        assert wire.sort_key == "source" and instances.sort_key != "source"


async def test_console_keys_do_not_act_inside_help_or_the_palette(
    make_console: ConsoleFactory,
) -> None:
    """The console's keys are priority keys; on a dialog they are the dialog's."""
    c = make_console()
    async with c.app.run_test(size=(80, 24)) as pilot:
        c.poll(0)
        await pilot.press("question_mark")
        assert isinstance(c.app.screen, HelpScreen)
        await pilot.press("q")  # closes help, does not quit
        await pilot.pause()
        assert not isinstance(c.app.screen, HelpScreen) and c.app.is_running
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"3/q")  # typed into the palette's search
        await pilot.pause()
        assert type(c.app.screen).__name__ == "CommandPalette"
        assert c.app.view == "services" and c.app.is_running
