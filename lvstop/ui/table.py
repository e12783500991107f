"""LiveTable: a sortable, filterable table that redraws only the lines on screen.

Why not DataTable: a refresh of 10,000 real servers must cost well under 50 ms, and
DataTable's per-cell updates, row removals and width re-measuring are O(N) or worse
per change. Here an update only swaps the row list (plain model records), re-sorts
and re-filters it; cells are formatted lazily in `render_line` for the ~50 visible
rows. Columns drop by priority when the terminal is narrow, and the previous value
of every row is kept for one refresh so changed numbers carry a ↑/↓ marker.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from operator import attrgetter, indexOf
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lvstop.ui.format import SPARKS


class Keyed(Protocol):
    @property
    def key(self) -> Hashable: ...


R = TypeVar("R", bound=Keyed)

NARROW = frozenset(map(chr, range(0x20, 0x7F))) | frozenset("↑↓…" + SPARKS)
"""Characters one cell wide each: printable ASCII and the glyphs the console draws
(markers, ellipsis, sparklines). A line of only these is as wide as it is long."""

TONES = ("good", "warn", "bad", "dim", "accent")
"""Semantic cell colours; the theme decides what they look like (TCSS component classes)."""


_KEY = attrgetter("key")


def _natural(value: Any) -> tuple[bool, Any]:
    """Sort key that puts unknown values (None) last in ascending order."""
    return (value is None, value if value is not None else 0)


@dataclass(frozen=True, slots=True)
class Column(Generic[R]):
    """One column: how to get the raw value (sort, markers) and how to show it.

    `priority` 0 is never dropped; larger numbers are dropped first on a narrow
    terminal. `marker` adds ↑/↓ when the raw value changed since the last refresh.
    `tone` picks a semantic colour for the cell from the row. `align` is "left",
    "right" or "tail" (left-aligned, but a cut keeps the end: sparklines).
    """

    key: str
    label: str
    width: int
    get: Callable[[R], Any]
    fmt: Callable[[Any], str] = str
    align: str = "right"
    priority: int = 0
    marker: bool = False
    tone: Callable[[R], str | None] | None = None
    sort: Callable[[Any], Any] = _natural
    flex: bool = False
    """Takes the width left over once the columns that fit are chosen."""
    bulk: Callable[[Sequence[R]], list[Any]] | None = None
    """`get` of many rows at once (the same values), for sorting: when a row's value
    is cheap only in bulk (a rate of 10,000 real servers)."""

    def cell(self, row: R) -> str:
        return self.fmt(self.get(row))


class LiveTable(ScrollView, Generic[R], can_focus=True):
    """A table of keyed rows; the cursor follows its row's key across refreshes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "livetable--header",
        "livetable--sorted",
        "livetable--cursor",
        "livetable--up",
        "livetable--down",
        *(f"livetable--{t}" for t in TONES),
    }

    DEFAULT_CSS = """
    LiveTable { height: 1fr; scrollbar-size-horizontal: 0; }
    LiveTable > .livetable--header { text-style: bold; color: $text; background: $panel; }
    LiveTable > .livetable--sorted {
        text-style: bold underline; color: $accent; background: $panel;
    }
    LiveTable > .livetable--cursor { background: $primary 30%; }
    LiveTable:focus > .livetable--cursor { background: $primary 55%; }
    LiveTable > .livetable--up { color: $success; }
    LiveTable > .livetable--down { color: $warning; }
    LiveTable > .livetable--good { color: $success; }
    LiveTable > .livetable--warn { color: $warning; text-style: bold; }
    LiveTable > .livetable--bad { color: $error; text-style: bold; }
    LiveTable > .livetable--dim { color: $text-muted; }
    LiveTable > .livetable--accent { color: $accent; }
    """

    class Selected(Message):
        """Enter (or a click) on a row."""

        def __init__(self, table: LiveTable[Any], row: Any) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> LiveTable[Any]:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column[R]],
        *,
        search: Callable[[R], str] | None = None,
        sort_key: str | None = None,
        reverse: bool = False,
        empty: str = "(nothing to show)",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.columns: tuple[Column[R], ...] = tuple(columns)
        self._by_key = {c.key: c for c in self.columns}
        self._search = search
        self.sort_key = sort_key
        self.reverse = reverse
        self.filter_text = ""
        self.empty = empty
        self._all: list[R] = []
        self._rows: list[R] = []
        self._prev: dict[Hashable, R] | None = None
        self._prev_all: list[R] = []
        self._prev_rows: list[R] = []
        self._cursor_key: Hashable | None = None
        self.cursor = 0
        self._visible: tuple[Column[R], ...] = self.columns
        self._widths: dict[str, int] = {c.key: c.width for c in self.columns}
        self._layout_width = -1
        self._base: Style | None = None
        self._paint_width = 0
        self._styles: dict[tuple[Style, str], tuple[object, Style]] = {}
        self._row_style_cache: dict[Style, tuple[Segment, dict[str, Style], Style, Style]] = {}

    # -- data ------------------------------------------------------------------

    @property
    def rows(self) -> list[R]:
        """The rows as shown: filtered and sorted."""
        return self._rows

    @property
    def all_rows(self) -> list[R]:
        return self._all

    def set_rows(self, rows: Sequence[R], *, markers: bool = True) -> None:
        """Replace the data; rows of the previous call become the marker baseline."""
        # The marker baseline, by key, is built only if a row on screen is not at the
        # same position as last time (see `_previous`): a 10,000-row dict per refresh
        # for ~50 rows on screen is most of a refresh's cost otherwise.
        self._prev_all = self._all if markers else []
        self._prev_rows = self._rows if markers else []
        self._prev = None
        self._all = list(rows)
        self._reorder()

    def set_columns(self, columns: Sequence[Column[R]]) -> None:
        """Swap the column set (e.g. the Service column when scoped to one service)."""
        self.columns = tuple(columns)
        self._by_key = {c.key: c for c in self.columns}
        if self.sort_key not in self._by_key:
            self.sort_key = None
        self._layout_width = -1
        self._reorder()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._reorder()

    def sort_by(self, key: str | None, reverse: bool | None = None) -> None:
        if key is not None and key not in self._by_key:
            raise KeyError(key)
        if reverse is not None:
            self.reverse = reverse
        elif key is not None and key != self.sort_key:
            # Like top: numbers biggest first, names in alphabetical order.
            self.reverse = self._by_key[key].align == "right"
        self.sort_key = key
        self._reorder()

    def toggle_reverse(self) -> None:
        self.reverse = not self.reverse
        self._reorder()

    def cycle_sort(self, step: int) -> None:
        """Move the sort column left/right among the columns on screen."""
        shown = [c.key for c in self._visible] or [c.key for c in self.columns]
        if self.sort_key in shown:
            i = (shown.index(self.sort_key) + step) % len(shown)
        else:
            i = 0 if step > 0 else len(shown) - 1
        self.sort_by(shown[i])

    def column(self, key: str) -> Column[R]:
        return self._by_key[key]

    def find_column(self, name: str) -> Column[R] | None:
        """A column by key or (case-insensitive) label, for `:sort NAME`."""
        wanted = name.strip().lower()
        for c in self.columns:
            if wanted in (c.key.lower(), c.label.strip().lower()):
                return c
        return None

    def _reorder(self) -> None:
        rows = self._all
        if self.filter_text and self._search is not None:
            needle = self.filter_text.lower()
            search = self._search
            rows = [r for r in rows if needle in search(r).lower()]
        else:
            rows = list(rows)
        if self.sort_key is not None:
            rows = self._sorted(rows, self._by_key[self.sort_key])
        self._rows = rows
        self._restore_cursor()
        if self.is_mounted:
            self.virtual_size = Size(self.size.width, len(rows) + 1)
            self.refresh()

    def _sorted(self, rows: list[R], col: Column[R]) -> list[R]:
        """`rows` sorted by `col` (stable, like list.sort): every value is read once,
        and the usual key (`_natural` with no unknown value) is the value itself."""
        values = col.bulk(rows) if col.bulk is not None else list(map(col.get, rows))
        if col.sort is not _natural:
            keys = list(map(col.sort, values))
        elif None in values:  # at C speed (no value of a column equals None)
            keys = list(map(_natural, values))
        else:
            keys = values
        order = sorted(range(len(rows)), key=keys.__getitem__, reverse=self.reverse)
        return list(map(rows.__getitem__, order))

    def _previous(self, index: int, row: R) -> R | None:
        """The row with `row`'s key in the previous `set_rows` (marker baseline)."""
        prev_rows = self._prev_rows
        if index < len(prev_rows) and prev_rows[index].key == row.key:
            return prev_rows[index]  # the usual case: same order as last refresh
        if self._prev is None:
            prev_all = self._prev_all
            self._prev = dict(zip(map(_KEY, prev_all), prev_all, strict=True))
        return self._prev.get(row.key)

    # -- cursor ----------------------------------------------------------------

    @property
    def current(self) -> R | None:
        if 0 <= self.cursor < len(self._rows):
            return self._rows[self.cursor]
        return None

    def _restore_cursor(self) -> None:
        if self._cursor_key is not None:
            rows = self._rows
            if 0 <= self.cursor < len(rows) and rows[self.cursor].key == self._cursor_key:
                return  # the usual case: same order as before
            try:  # read and compared at C speed, up to the row: a sort moves rows
                self.cursor = indexOf(map(_KEY, rows), self._cursor_key)
                return
            except ValueError:
                pass
        # Its row is filtered out or gone: stay near; remember it in case it comes back
        # (clearing a filter returns the cursor to where it was).
        self.cursor = min(self.cursor, max(0, len(self._rows) - 1))
        if self._cursor_key is None:
            self._remember()

    def _remember(self) -> None:
        row = self.current
        self._cursor_key = row.key if row is not None else None

    def move_cursor(self, row: int) -> None:
        if not self._rows:
            return
        self.cursor = max(0, min(len(self._rows) - 1, row))
        self._remember()
        if not self.is_mounted:
            return
        body = max(1, self.size.height - 1)
        if self.cursor < self.scroll_y:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= self.scroll_y + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False)
        self.refresh()

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(self.cursor + step * max(1, self.size.height - 2))

    def action_edge(self, end: int) -> None:
        self.move_cursor(len(self._rows) - 1 if end else 0)

    def select_current(self) -> None:
        row = self.current
        if row is not None:
            self.post_message(self.Selected(self, row))

    def on_click(self, event: Click) -> None:
        y = event.y
        if y == 0:
            x = 0
            for col in self._visible:
                w = self._widths[col.key]
                if x <= event.x < x + w + 1:
                    if self.sort_key == col.key:
                        self.toggle_reverse()
                    else:
                        self.sort_by(col.key)
                    return
                x += w + 1
            return
        index = int(self.scroll_y) + y - 1
        if 0 <= index < len(self._rows):
            if index == self.cursor and event.chain > 1:
                self.select_current()
            self.move_cursor(index)

    # -- layout and rendering --------------------------------------------------

    def visible_columns(self, width: int) -> tuple[Column[R], ...]:
        """Columns that fit in `width`, chosen by priority, shown in declared order."""
        return self._fit_columns(width)[0]

    def _fit_columns(self, width: int) -> tuple[tuple[Column[R], ...], dict[str, int]]:
        chosen: set[str] = set()
        used = 0
        for col in sorted(self.columns, key=lambda c: c.priority):
            need = col.width + (1 if chosen else 0)
            if used + need > width and chosen:
                if col.priority == 0:
                    continue
                break
            chosen.add(col.key)
            used += need
        shown = tuple(c for c in self.columns if c.key in chosen)
        widths = {c.key: c.width for c in shown}
        flex = next((c for c in shown if c.flex), None)
        if flex is not None and used < width:
            widths[flex.key] += width - used
        return shown, widths

    def _layout(self, width: int) -> None:
        if width != self._layout_width:
            self._layout_width = width
            self._visible, self._widths = self._fit_columns(width)

    def on_resize(self) -> None:
        self._relayout()

    def _relayout(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        self._layout(width)
        self.virtual_size = Size(width, len(self._rows) + 1)
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        # `rich_style` walks the ancestors' styles and `scrollable_content_region`
        # measures the scrollbars on every call: once per paint, not once per line.
        self._base = self.rich_style
        self._paint_width = self.scrollable_content_region.width
        self._row_style_cache = {}
        try:
            return super().render_lines(crop)
        finally:
            self._base = None

    def render_line(self, y: int) -> Strip:
        base = self._base
        if base is None:  # outside a paint (tests): nothing remembered
            base, self._row_style_cache = self.rich_style, {}
            width = self.scrollable_content_region.width
        else:
            width = self._paint_width
        self._layout(width)
        if y == 0:
            return self._header_line(width, base)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._rows):
            if index == 0 and y == 1:
                dim = base + self.get_component_rich_style("livetable--dim")
                return Strip([Segment(f" {self.empty}"[:width].ljust(width), dim)], width)
            return Strip.blank(width, base)
        return self._row_line(self._rows[index], index, width, base)

    def _header_line(self, width: int, base: Style) -> Strip:
        head = base + self.get_component_rich_style("livetable--header")
        sorted_style = base + self.get_component_rich_style("livetable--sorted")
        segs: list[Segment] = []
        used = 0
        for i, col in enumerate(self._visible):
            if i:
                segs.append(Segment(" ", head))
                used += 1
            w = self._widths[col.key]
            label = col.label
            if col.key == self.sort_key and len(label) < w - (1 if col.marker else 0):
                label = ("▼" if self.reverse else "▲") + label
            text = _fit(label, w - 1, col.align) + " " if col.marker else _fit(label, w, col.align)
            segs.append(Segment(text, sorted_style if col.key == self.sort_key else head))
            used += w
        if used < width:
            segs.append(Segment(" " * (width - used), head))
        return Strip(segs).crop(0, width)

    def _style(self, style: Style, component: str) -> Style:
        """`style` + a component's style, remembered across paints.

        Textual forgets its own component styles on every refresh (once a second
        here) and rebuilds each by walking the ancestors. A stylesheet pass (theme,
        focus) replaces the component's styles object, so the remembered style is
        kept only while that object is the same one (`get_component_styles` would
        build a fresh merged copy on every call)."""
        key = (style, component)
        source = self._component_styles[component]
        got = self._styles.get(key)
        if got is None or got[0] is not source:
            got = self._styles[key] = (source, style + self.get_component_rich_style(component))
        return got[1]

    def _row_styles(self, style: Style) -> tuple[Segment, dict[str, Style], Style, Style]:
        """For rows drawn in `style` (plain or cursor): the column separator, the tone
        styles, and the ↑ and ↓ marker styles; remembered for the paint."""
        got = self._row_style_cache.get(style)
        if got is None:
            tones = {t: self._style(style, f"livetable--{t}") for t in TONES}
            up, down = self._style(style, "livetable--up"), self._style(style, "livetable--down")
            got = self._row_style_cache[style] = (Segment(" ", style), tones, up, down)
        return got

    def _row_line(self, row: R, index: int, width: int, base: Style) -> Strip:
        style = base
        if index == self.cursor:
            style = self._style(base, "livetable--cursor")
        sep, tones, up, down = self._row_styles(style)
        prev = self._previous(index, row)
        if prev is row:
            prev = None  # the same record: nothing moved
        widths = self._widths
        # Every piece of the line and its style, in order; adjacent pieces in the
        # same style then go out as one segment: Textual's per-line work (filters,
        # cropping, cell widths) is per segment, and most separators and cells
        # share the row's style.
        texts: list[str] = []
        styles: list[Style] = []
        text_add, style_add = texts.append, styles.append
        sep_text, sep_style = sep.text, sep.style or style
        used = 0
        for i, col in enumerate(self._visible):
            if i:
                text_add(sep_text)
                style_add(sep_style)
                used += 1
            w = widths[col.key]
            get = col.get
            value = get(row)
            text = col.fmt(value)
            cell_style = style
            if col.tone is not None:
                tone = col.tone(row)
                if tone:
                    cell_style = tones.get(tone) or self._style(style, f"livetable--{tone}")
            if col.marker:
                # The last cell of a marker column is reserved, so numbers never shift.
                text_add(_fit(text, w - 1, col.align))
                style_add(cell_style)
                if prev is not None:
                    old = get(prev)
                    if old is not None and value is not None and old != value:
                        if value > old:
                            text_add("↑")
                            style_add(up)
                        else:
                            text_add("↓")
                            style_add(down)
                        used += w
                        continue
                text_add(" ")
                style_add(down)
            else:
                text_add(_fit(text, w, col.align))
                style_add(cell_style)
            used += w
        if used < width:
            text_add(" " * (width - used))
            style_add(style)
        segs: list[Segment] = []
        start = 0
        run = styles[0] if styles else style
        for j, piece_style in enumerate(styles):
            if piece_style is not run:
                segs.append(Segment("".join(texts[start:j]), run))
                start, run = j, piece_style
        if start < len(texts):
            segs.append(Segment("".join(texts[start:]), run))
        line = "".join(texts)
        if len(line) == width and NARROW.issuperset(line):
            # Exactly `width` cells, known without measuring each segment (which is
            # what a crop costs): the usual row, printable ASCII and our own glyphs.
            return Strip(segs, width)
        return Strip(segs).crop(0, width)


def _fit(text: str, width: int, align: str) -> str:
    """Pad or cut `text` to exactly `width` cells; a cut is marked with an ellipsis."""
    if width <= 0:
        return ""
    if align == "tail":  # a sparkline: keep the newest (rightmost) part
        return text[-width:].ljust(width)
    if len(text) > width:
        return text[: width - 1] + "…" if width > 1 else text[:1]
    return text.ljust(width) if align == "left" else text.rjust(width)
