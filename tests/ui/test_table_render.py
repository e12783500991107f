"""LiveTable's line rendering shortcuts draw exactly what the plain way would.

The table keeps component styles across paints and skips the crop when a line is
known to be as wide as the table; each shortcut is checked against the long way.
"""

from __future__ import annotations

from rich.style import Style
from textual.app import App, ComposeResult
from textual.strip import Strip
from textual.widgets import Input

from lvstop.ui.table import NARROW, Column, LiveTable, _fit


class Row:
    def __init__(self, key: str, n: int, tone: str | None = None) -> None:
        self.key = key
        self.n = n
        self.tone = tone


COLUMNS: list[Column[Row]] = [
    Column("name", "Name", 12, lambda r: r.key, align="left", tone=lambda r: r.tone),
    Column("n", "N", 6, lambda r: r.n, marker=True),
    Column("flex", "Flex", 8, lambda r: "f", flex=True),
]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable(COLUMNS, id="t")
        yield Input(id="other")


def test_narrow_glyphs_are_one_cell_each() -> None:
    from rich.cells import cell_len

    assert all(cell_len(ch) == 1 for ch in NARROW)


async def test_lines_are_exactly_as_wide_as_the_table() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 8)) as pilot:
        table: LiveTable[Row] = app.query_one(LiveTable)
        table.set_rows([Row("web", 5), Row("日本語のサービス名", 7), Row("x\tab", 1)])
        await pilot.pause()
        width = table.scrollable_content_region.width
        lines = [table.render_line(y) for y in range(1, 4)]
        # The length each line declares is its measured length.
        assert [line.cell_length for line in lines] == [
            Strip(list(line)).cell_length for line in lines
        ]
        assert [line.cell_length for line in lines] == [width, width, width - 1]  # tab: 0 cells
        # The usual row is not measured but is what a crop would have made.
        assert lines[0].text == _fit("web", 12, "left") + " " + "    5" + "  " + "f".rjust(
            width - 20
        )
        # Wide characters: cut by cells, not by characters.
        assert lines[1].text.startswith("日本語のサー")


async def test_remembered_styles_follow_focus_and_theme() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 8)) as pilot:
        table: LiveTable[Row] = app.query_one(LiveTable)
        table.set_rows([Row("a", 1), Row("b", 2, tone="good")])
        table.focus()
        await pilot.pause()

        def styles() -> tuple[Style | None, Style | None]:
            cursor_line, toned_line = table.render_line(1), table.render_line(2)
            return next(iter(cursor_line)).style, next(iter(toned_line)).style

        def expected() -> tuple[Style, Style]:
            base = table.rich_style
            cursor = base + table.get_component_rich_style("livetable--cursor")
            return cursor, base + table.get_component_rich_style("livetable--good")

        focused = styles()
        assert focused == expected()
        app.query_one(Input).focus()
        await pilot.pause()
        blurred = styles()
        assert blurred == expected() and blurred[0] != focused[0]
        table.focus()
        await pilot.pause()
        assert styles() == focused
        app.theme = "textual-light"
        await pilot.pause()
        light = styles()
        assert light == expected() and light != focused
