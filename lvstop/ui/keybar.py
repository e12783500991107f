"""The bottom line: the keys of the current screen, drawn as one Static.

Why not Textual's Footer: it rebuilds one widget per key on every focus or binding
change, which made each view switch take ~0.5 s. This bar is a single line of
markup, rebuilt only when what it shows changes (view, pause, read-only, the open
filter/command line, the width). Entries are clickable. On a narrow terminal the
view names shorten first, then the least useful entries drop; `^p palette` and
`? Help` always stay, so every key stays one keystroke away.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.events import Resize
from textual.markup import escape
from textual.widgets import Static

PALETTE = "[b]^p[/] palette"
PALETTE_WIDTH = len("^p palette")
GAP = "  "


@dataclass(frozen=True, slots=True)
class KeyHint:
    """One entry: `key` as shown, `label` (and `short` for narrow terminals),
    `action` run on click (an App action string), `rank` (lower survives longer),
    `current` marks the view on screen."""

    key: str
    label: str
    action: str = ""
    short: str = ""
    rank: int = 2
    current: bool = False

    def markup(self, short: bool) -> str:
        label = escape(self.short if short and self.short else self.label)
        key = f"[b $accent]{escape(self.key)}[/]"
        text = f"{key} [reverse]{label}[/]" if self.current else f"{key} {label}"
        if self.action:
            return f"[@click={self.action}]{text}[/]"
        return text

    def width(self, short: bool) -> int:
        label = self.short if short and self.short else self.label
        return len(self.key) + 1 + len(label)


def fit(hints: Sequence[KeyHint], width: int) -> tuple[list[KeyHint], bool]:
    """The hints that fit in `width` columns next to the palette entry, in their
    order, and whether short labels are used. Full labels first; then short ones;
    then the highest-ranked entries are dropped, last first, until the rest fit."""
    room = width - PALETTE_WIDTH - len(GAP)

    def needed(hs: Sequence[KeyHint], short: bool) -> int:
        return sum(h.width(short) for h in hs) + len(GAP) * max(len(hs) - 1, 0)

    if needed(hints, False) <= room:
        return list(hints), False
    kept = list(hints)
    while kept and needed(kept, True) > room:
        worst = max(range(len(kept)), key=lambda i: (kept[i].rank, i))
        if kept[worst].rank == 0:
            break  # never drop rank 0 (help); the line is cut instead
        kept.pop(worst)
    return kept, True


def bar_markup(hints: Sequence[KeyHint], width: int) -> str:
    """The whole line: the fitting hints on the left, the palette on the right."""
    kept, short = fit(hints, width)
    left = GAP.join(h.markup(short) for h in kept)
    used = sum(h.width(short) for h in kept) + len(GAP) * max(len(kept) - 1, 0)
    pad = max(width - used - PALETTE_WIDTH, len(GAP))
    return f"{left}{' ' * pad}[@click=app.command_palette]{PALETTE}[/]"


class KeyBar(Static):
    """One line of key hints at the bottom of the screen."""

    DEFAULT_CSS = """
    KeyBar { height: 1; background: $panel; color: $text; padding: 0 1;
             text-wrap: nowrap; text-overflow: ellipsis;
             link-style: none; link-color: $text; link-background: $panel;
             link-style-hover: reverse; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._hints: tuple[KeyHint, ...] = ()
        self._drawn: tuple[tuple[KeyHint, ...], int] | None = None

    def show(self, hints: Sequence[KeyHint]) -> None:
        self._hints = tuple(hints)
        self._draw()

    def on_resize(self, _event: Resize) -> None:
        self._draw()

    def _draw(self) -> None:
        width = self.content_size.width or self.app.size.width - 2
        if self._drawn == (self._hints, width):
            return
        self._drawn = (self._hints, width)
        self.update(bar_markup(self._hints, width))
