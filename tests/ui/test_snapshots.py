"""SVG snapshots of every view (and the open filter line) at 80x24 and 160x48, in the
dark and the 16-colour theme.

The scene is fixed: the simulated director 45 s into its run (198.18.23.10:8765 has
failed its health check and keepalived removed it), clock frozen, no poll thread.
Regenerate with `pytest tests/ui --snapshot-update` and look at the result.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ConsoleFactory

VIEWS = {
    "services": (),
    "servers-of-one-service": ("down", "enter"),
    "all-servers": ("2",),
    "vrrp": ("3",),
    "connections": ("4",),
    "events": ("5",),
    "filter-line-open": ("slash", *"8765"),
}
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
THEMES = ("lvstop-dark", "lvstop-ansi")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("view", VIEWS)
def test_view(
    snap_compare: Any, make_console: ConsoleFactory, view: str, size: str, theme: str
) -> None:
    c = make_console(theme=theme)

    async def scene(pilot: Any) -> None:
        c.poll(0)
        c.poll(1)
        c.poll(44)
        await pilot.press(*VIEWS[view])
        for line in c.app.query("#line"):
            line.cursor_blink = False  # a steady cursor: the screenshot cannot catch it off
        await pilot.pause()

    assert snap_compare(c.app, terminal_size=SIZES[size], run_before=scene)
