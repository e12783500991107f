"""The real console on the simulated director with a frozen, hand-stepped clock.

No poll thread and no timers run (`live=False`): a test moves the clock and calls
`poll`, which polls synchronously, so every screen is a pure function of the steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from lvstop.config import Config
from lvstop.sources.simulated import DEMO_START, SimulatedDirector
from lvstop.ui.app import LvstopApp
from lvstop.ui.launch import build_app


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


SERVICES = [
    "TCP  198.18.23.73:80",
    "TCP  198.18.23.73:8765",
    "TCP  198.18.23.74:80",
    "TCP  198.18.23.74:8765",
]
"""The demo director's services, in the Services view's order."""


@dataclass
class Console:
    """An app under test plus the clock both it and its director read."""

    app: LvstopApp
    clock: Clock
    director: Any = field(default=None)

    def poll(self, after: float = 1.0) -> None:
        """Let `after` seconds pass, then poll once (as the feed's timer would)."""
        self.clock.now += after
        self.app.poll_now()

    def rows(self, column: str, table: Any = None) -> list[str]:
        t = table if table is not None else self.app.current_table()
        col = t.column(column)
        return [col.cell(r) for r in t.rows]


ConsoleFactory = Callable[..., Console]


@pytest.fixture
def make_console() -> ConsoleFactory:
    def make(
        cfg: Config | None = None,
        director: Any = None,
        *,
        read_only: bool = False,
        theme: str | None = None,
        **app_options: Any,
    ) -> Console:
        clock = Clock()
        # `director`: a director, or a function of the console's clock returning one.
        if director is None:
            d = SimulatedDirector(clock=clock)
        elif callable(director):
            d = director(clock)
        else:
            d = director
        app = build_app(
            d,
            cfg or Config(),
            read_only=read_only,
            theme=theme,
            live=False,
            clock=clock,
            wall_clock=lambda: DEMO_START + clock.now,
            use_syslog=False,
            **app_options,
        )
        return Console(app, clock, d)

    return make
