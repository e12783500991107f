"""The real console on a recording: it shows exactly what it showed live.

A recording of the simulated director (through the public JSON, as `lvstop record`
writes it) is replayed into one console; the same simulation drives another with a
frozen clock stepped to the same moments. Every cell of the Services and the
all-Real-servers tables must agree, through a real server's removal by keepalived
and a VRRP failover; the header says "replay"; the end of the recording is an event.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Console, ConsoleFactory

from lvstop.model.events import EventKind
from lvstop.sources.replay import ReplayDirector, write_snapshot
from lvstop.sources.simulated import SimulatedDirector
from lvstop.ui.header import HeaderBar
from lvstop.ui.table import LiveTable
from lvstop.ui.views import ServersView, ServicesView

# Elapsed seconds: the start, the flapping server failing and removed (40), then VI_1
# moving to the peer (its priority drops at 90).
MOMENTS = (0, 38, 39, 40, 41, 42, 90, 93, 94, 95)


def cells(c: Console, table: LiveTable[Any] | None = None) -> list[dict[str, str]]:
    t = table if table is not None else c.app.current_table()
    return [{col.key: col.cell(r) for col in t.columns} for r in t.rows]


async def frames_of(c: Console) -> list[dict[str, list[dict[str, str]]]]:
    """Both tables after each step of MOMENTS (the console polled at each).

    The hidden view is refreshed from the console's state directly: switching views
    at every step would only cost time.
    """
    out = []
    async with c.app.run_test(size=(200, 60)) as pilot:
        await pilot.press("2")  # the all-servers view, unscoped, mounted and sized
        await pilot.press("1")
        views = {"services": c.app.query_one(ServicesView), "servers": c.app.query_one(ServersView)}
        last = 0
        for t in MOMENTS:
            c.poll(t - last)
            last = t
            seen = {}
            for name, view in views.items():
                view.refresh_from(c.app.state)
                seen[name] = cells(c, view.tables()[0])
            out.append(seen)
    return out


async def test_replay_shows_what_the_live_console_showed(
    make_console: ConsoleFactory, tmp_path: Path
) -> None:
    sim = SimulatedDirector(seed=1)
    rec = tmp_path / "demo.jsonl"
    with rec.open("w") as f:
        for t in MOMENTS:
            write_snapshot(f, sim.snapshot_at(float(t)))
    live = await frames_of(make_console())
    replay_director = ReplayDirector.open(rec)
    replay = await frames_of(make_console(director=replay_director))
    assert replay == live
    # The steps really did show the incidents (so the comparison means something).
    roles = [[row["role"] for row in f["services"]] for f in live]
    assert roles[0][:2] == ["MASTER", "MASTER"] and roles[-1][:2] == ["BACKUP", "BACKUP"]
    assert any(row["health"].startswith("down") for f in live for row in f["servers"])
    assert replay_director.position == len(MOMENTS)


async def test_replay_header_and_end_of_recording(
    make_console: ConsoleFactory, tmp_path: Path
) -> None:
    sim = SimulatedDirector(seed=1)
    rec = tmp_path / "two.jsonl"
    with rec.open("w") as f:
        for t in (0.0, 1.0):
            write_snapshot(f, sim.snapshot_at(t))
    c = make_console(director=ReplayDirector.open(rec))
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        c.poll(1)
        c.poll(1)  # past the end: the last snapshot again, and an event saying so
        await pilot.press("5")
        header = str(c.app.query_one(HeaderBar).render())
        assert header.startswith("lvs1-demo") and "READ-ONLY" in header
        assert "replay: 4 services" in header
        ended = [e for e in c.app.state.events if e.kind is EventKind.ERROR]
        assert [e.message for e in ended] == [f"end of the replay: all 2 snapshots of {rec} shown"]
        assert any(f"all 2 snapshots of {rec}" in " ".join(row.values()) for row in cells(c))
