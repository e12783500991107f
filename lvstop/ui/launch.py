"""Start the console: config, themes and keymap resolved into one LvstopApp.

Everything that can be wrong in the operator's files (config, themes, key overrides)
becomes a warning shown in the console, never a refusal to start.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

from textual.logging import TextualHandler

from lvstop.actions.guard import ReadOnlyGuard
from lvstop.actions.ipvs_write import IpvsTable
from lvstop.config import Config
from lvstop.director import Director
from lvstop.feed import Feed
from lvstop.ui.app import LvstopApp
from lvstop.ui.keys import keymap
from lvstop.ui.operate import Operator, netlink_table
from lvstop.ui.state import Thresholds
from lvstop.ui.themes import load_themes


def read_only_reason(director: Director, flag: bool, cfg: Config) -> str:
    """Why write actions are off ('' when they are on); the backend's reason wins."""
    caps = director.capabilities
    if not caps.write:
        return caps.reason or "this backend cannot change IPVS"
    if flag:
        return "started with --read-only"
    if cfg.read_only:
        return f"read_only: true in {cfg.source}"
    return ""


def reads_keepalived(director: Director) -> bool:
    """Whether this director reports keepalived at all (so a snapshot without it means
    "not read yet", not "not there"); only the live director says so."""
    return bool(getattr(director, "reads_keepalived", False))


def thresholds(cfg: Config) -> Thresholds:
    t = cfg.thresholds

    def whole(name: str) -> int | None:
        value = t.get(name)
        return None if value is None else int(value)

    return Thresholds(
        stale_after=t.get("stale_after"),
        cps_warning=t.get("cps_warning"),
        cps_critical=t.get("cps_critical"),
        active_warning=whole("active_warning"),
        active_critical=whole("active_critical"),
    )


def build_app(
    director: Director,
    cfg: Config,
    *,
    interval: float | None = None,
    read_only: bool = False,
    theme: str | None = None,
    live: bool = True,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    table: Callable[[], IpvsTable] = netlink_table,
    use_syslog: bool = True,
) -> LvstopApp:
    """`live` False: no poll thread, no timers (tests call `app.poll_now()`).
    `table` opens the IPVS table write actions change (tests give a fake)."""
    loaded = load_themes()
    reason = read_only_reason(director, read_only, cfg)
    operator = None
    if not reason:
        guard = ReadOnlyGuard(flag=read_only, config=cfg.read_only)
        operator = Operator(cfg.actions, guard, table, use_syslog)
    actions, key_warnings = keymap(cfg.keys)
    every = interval if interval is not None else cfg.interval
    return LvstopApp(
        Feed(director, interval=every, wall_clock=wall_clock),
        interval=every,
        read_only_reason=reason,
        theme=theme or cfg.theme,
        themes=loaded.themes,
        actions=actions,
        thresholds=thresholds(cfg),
        warnings=(*cfg.warnings, *loaded.warnings, *key_warnings),
        live=live,
        clock=clock,
        wall_clock=wall_clock,
        operator=operator,
        keepalived=reads_keepalived(director),
    )


GC_THRESHOLDS = (200_000, 20, 10)
"""The cyclic collector's thresholds while the console runs (Python's: 700, 10, 10)."""


def tune_gc() -> None:
    """Fit the garbage collector to the console's allocation pattern.

    Each poll builds a snapshot (a few objects per real server) that lives for two
    polls, and each paint allocates a few thousand segments that die at once. With
    Python's default thresholds the young generations are collected hundreds of
    times a second and every surviving snapshot object is scanned again and again:
    about a quarter of the console's CPU at 100 services x 10 real servers
    (tests/bench/bench_ui_cpu.py).
    The collector counts objects made minus objects freed (never below zero), so
    the threshold must sit above one poll's burst, or every poll pays a collection
    that scans the live snapshot again (and every 20th a larger one): at 1,000 x 10
    the burst is ~60,000 objects (a new snapshot, rows, a frame) before the old
    ones go, and at a threshold of 50,000 a third of a refresh went to collections.
    At 200,000 a collection comes only with net growth: the console's own cyclic
    garbage, ~100 objects a refresh, which waits longer (tens of minutes at 1 s).
    Our data has no cycles and is freed as soon as it is dropped. What is loaded by
    now (Textual, lvstop, themes) lives as long as the process, so it is frozen out
    of the full collections.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_console(
    director: Director,
    cfg: Config,
    *,
    interval: float | None = None,
    read_only: bool = False,
    theme: str | None = None,
) -> int:
    app = build_app(director, cfg, interval=interval, read_only=read_only, theme=theme)
    # Library warnings must not draw over the screen: send them to Textual's log.
    logging.basicConfig(handlers=[TextualHandler()], force=True)
    tune_gc()
    app.run()
    return 0
