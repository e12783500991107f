"""Pilot drives the real console on the simulated director and reads the tables back."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from conftest import SERVICES, Console, ConsoleFactory

from lvstop.config import Config, load
from lvstop.model.capabilities import Capabilities
from lvstop.model.conns import ConnTable
from lvstop.model.snapshot import Snapshot
from lvstop.sources.simulated import SimulatedDirector
from lvstop.ui.app import HelpScreen
from lvstop.ui.header import HeaderBar, header_markup


def header(c: Console) -> str:
    return str(c.app.query_one(HeaderBar).render())


async def test_services_view_is_the_default_with_roles_and_servers(
    make_console: ConsoleFactory,
) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        c.poll(1)
        await pilot.pause()
        assert c.app.view == "services"
        assert c.rows("service") == SERVICES
        assert c.rows("role") == ["MASTER", "MASTER", "BACKUP", "BACKUP"]
        assert c.rows("servers") == ["2/2"] * 4
        text = header(c)
        assert "lvs1-demo" in text and "READ-ONLY" in text
        assert "VI_1 MASTER 100" in text and "VI_2 BACKUP 90 ← 198.18.23.44 (100)" in text
        assert "keepalived ✓ checker ✓" in text


async def test_sort_cycle_reverse_and_sort_command(make_console: ConsoleFactory) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        c.poll(1)
        table = c.app.current_table()
        await pilot.press("greater_than_sign")  # first column: Service
        assert table.sort_key == "service" and c.rows("service") == SERVICES
        await pilot.press("r")
        assert c.rows("service") == SERVICES[::-1]
        await pilot.press("greater_than_sign")
        assert table.sort_key == "role"
        await pilot.press("less_than_sign")
        assert table.sort_key == "service"
        await pilot.press("colon", *"sort active", "enter")
        assert table.sort_key == "active"
        actives = [r.active for r in table.rows]
        assert actives == sorted(actives, reverse=table.reverse)
        await pilot.press("r")
        assert [r.active for r in table.rows] == sorted(actives, reverse=table.reverse)
        assert table.rows[0 if table.reverse else -1].label == "TCP  198.18.23.73:8765"


async def test_filter_narrows_and_escape_clears(make_console: ConsoleFactory) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.press("slash", *"8765")
        assert c.rows("service") == [SERVICES[1], SERVICES[3]]
        await pilot.press("enter")  # keep the filter, close the line
        assert not c.app.query_one("#line-box").display
        assert c.rows("service") == [SERVICES[1], SERVICES[3]]
        c.poll(1)  # a refresh keeps the filter
        assert c.rows("service") == [SERVICES[1], SERVICES[3]]
        await pilot.press("escape")
        assert c.rows("service") == SERVICES


async def test_enter_opens_a_service_and_escape_goes_back(make_console: ConsoleFactory) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        c.poll(1)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert c.app.view == "servers"
        assert c.rows("server") == ["198.18.23.4:8765", "198.18.23.10:8765"]
        assert "service" not in {col.key for col in c.app.current_table().columns}
        assert c.rows("health") == ["up", "up"]
        await pilot.press("escape")
        await pilot.pause()
        assert c.app.view == "services"
        assert c.app.current_table().current.label == SERVICES[1]  # cursor kept


async def test_all_real_servers_show_a_removed_server_as_down(
    make_console: ConsoleFactory,
) -> None:
    c = make_console()
    async with c.app.run_test(size=(200, 60)) as pilot:
        c.poll(0)
        await pilot.press("2")
        await pilot.pause()
        assert c.app.view == "servers"
        assert len(c.app.current_table().rows) == 8
        c.poll(45)  # 198.18.23.10 failed at 28 s; keepalived removed it at 40 s
        table = c.app.current_table()
        gone = [r for r in table.rows if not r.in_ipvs]
        assert {(r.service, r.server) for r in gone} == {
            ("TCP  198.18.23.73:8765", "198.18.23.10:8765"),
            ("TCP  198.18.23.74:8765", "198.18.23.10:8765"),
        }
        assert all(r.health == "down" and "HTTP_GET failed" in r.detail for r in gone)
        await pilot.press("1")
        await pilot.pause()
        assert c.rows("servers")[1] == "1/2"


async def test_pause_freezes_the_screen_until_resumed(make_console: ConsoleFactory) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        c.poll(1)
        before = c.rows("active")
        await pilot.press("p")
        assert "PAUSED" in header(c)
        c.poll(30)
        assert c.rows("active") == before
        await pilot.press("p")
        assert "PAUSED" not in header(c)
        assert c.rows("active") != before


async def test_number_keys_and_commands_switch_views(make_console: ConsoleFactory) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        for key, view in (("3", "vrrp"), ("4", "conns"), ("5", "events"), ("1", "services")):
            await pilot.press(key)
            await pilot.pause()
            assert c.app.view == view
        await pilot.press("colon", *"vrrp", "enter")
        await pilot.pause()
        c.poll(5)  # the wire view fills as adverts are heard
        assert c.app.view == "vrrp"
        assert c.rows("name") == ["VI_1", "VI_2"]
        wire = c.app.query_one("#vrrp-wire")
        assert [r.speaker.vrid for r in wire.rows] == [51, 52]
        await pilot.press("colon", *"nonsense", "enter")
        assert c.app.view == "vrrp"


async def test_vrrp_view_follows_a_failover(make_console: ConsoleFactory) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.press("3")
        c.poll(95)  # VI_1's tracked check fails at 90 s; the peer preempts
        assert c.rows("state") == ["BACKUP", "BACKUP"]
        assert c.rows("priority")[0] == "80"
        assert c.rows("master")[0] == "198.18.23.44 (90)"
        assert "VI_1 BACKUP 80 (base 100) ← 198.18.23.44 (90)" in header(c)


async def test_connections_view_reads_the_table_only_while_shown(
    make_console: ConsoleFactory,
) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        assert c.app.state.snapshot.connections is None
        await pilot.press("4")
        await pilot.pause()
        table = c.app.state.snapshot.connections
        assert table is not None
        counts = [r.count for r in c.app.current_table().rows]
        assert counts == sorted(counts, reverse=True) and sum(counts) == table.entries
        caption = str(c.app.query_one("#view-conns .caption").render())
        assert f"{table.entries} entries" in caption
        await pilot.press("1")
        c.poll(1)
        assert c.app.state.snapshot.connections is None


class CappedDirector:
    """The simulated director, with a connection table read only in part."""

    def __init__(self, inner: SimulatedDirector) -> None:
        self.inner = inner

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(True)

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        snap = self.inner.snapshot(connections=connections)
        if snap.connections is None:
            return snap
        capped = ConnTable(
            entries=snap.connections.entries,
            templates=snap.connections.templates,
            groups=snap.connections.groups,
            top_clients=snap.connections.top_clients,
            clients_exact=False,
            clients_error=12,
            truncated=True,
        )
        return replace(snap, connections=capped)

    def close(self) -> None:
        self.inner.close()


async def test_connections_view_says_when_capped_and_estimated(
    make_console: ConsoleFactory,
) -> None:
    c2 = make_console(director=lambda clock: CappedDirector(SimulatedDirector(clock=clock)))
    async with c2.app.run_test(size=(160, 48)) as pilot:
        c2.poll(0)
        await pilot.press("4")
        await pilot.pause()
        caption = str(c2.app.query_one("#view-conns .caption").render())
        assert "CAPPED" in caption
        title = str(c2.app.query_one("#conns-clients-title").render())
        assert "estimated" in title and "±12" in title


async def test_help_lists_every_key_of_the_view(make_console: ConsoleFactory) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(c.app.screen, HelpScreen)
        text = c.app.screen.text
        for a in c.app.allowed_actions():
            assert a.description in text
        assert "Open service" in text  # Enter exists on Services...
        assert "READ-ONLY" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(c.app.screen, HelpScreen)
        await pilot.press("5", "question_mark")
        await pilot.pause()
        assert "Open service" not in c.app.screen.text  # ...but not on Events


async def test_palette_switches_views_and_themes(make_console: ConsoleFactory) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"VRRP")
        await pilot.pause(1.0)
        await pilot.press("enter")
        await pilot.pause()
        assert c.app.view == "vrrp"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"theme: lvstop-light")
        await pilot.pause(1.0)
        await pilot.press("enter")
        await pilot.pause()
        assert c.app.theme == "lvstop-light"


class WritableDirector(CappedDirector):
    """A backend that could change IPVS: read-only only when asked."""


class FailingDirector(WritableDirector):
    def __init__(self, inner: SimulatedDirector) -> None:
        super().__init__(inner)
        self.fail = False

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        if self.fail:
            raise OSError("netlink: connection refused")
        return self.inner.snapshot(connections=connections)


async def test_read_only_badge(make_console: ConsoleFactory, tmp_path: Path) -> None:
    def writable_director(clock: Any) -> WritableDirector:
        return WritableDirector(SimulatedDirector(clock=clock))

    writable = make_console(director=writable_director)
    async with writable.app.run_test(size=(160, 48)):
        writable.poll(0)
        assert "READ-ONLY" not in header(writable)
    flagged = make_console(director=writable_director, read_only=True)
    async with flagged.app.run_test(size=(160, 48)):
        flagged.poll(0)
        assert "READ-ONLY" in header(flagged)
        assert flagged.app.read_only_reason == "started with --read-only"
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("read_only: true\n")
    configured = make_console(load(cfg_file), director=writable_director)
    assert configured.app.read_only_reason == f"read_only: true in {cfg_file}"
    simulated = make_console()
    assert "simulated director" in simulated.app.read_only_reason


async def test_failing_poll_shows_error_and_keeps_stale_data(
    make_console: ConsoleFactory,
) -> None:
    c = make_console(director=lambda clock: FailingDirector(SimulatedDirector(clock=clock)))
    director = c.director
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        before = c.rows("service")
        director.fail = True
        c.poll(10)
        await pilot.pause()
        text = header(c)
        assert "POLL FAILED" in text and "connection refused" in text
        assert "STALE" in text
        assert c.rows("service") == before
        director.fail = False
        c.poll(1)
        assert "POLL FAILED" not in header(c) and "STALE" not in header(c)


def test_header_age_turns_stale_without_updates(make_console: ConsoleFactory) -> None:
    c = make_console()
    state = c.app.state
    assert "waiting for data" in header_markup(state, read_only=False, paused=False)
    state.apply(c.app.feed.poll_once("first"))
    assert "STALE" not in header_markup(state, read_only=False, paused=False)
    c.clock.now += 10
    assert "STALE age 10s" in header_markup(state, read_only=False, paused=False)


async def test_bad_config_and_key_override_still_start(
    make_console: ConsoleFactory, tmp_path: Path
) -> None:
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(
        "interval: 2\ntheme: no-such-theme\nkeys:\n  pause: space\n  nope: x\nbogus: 1\n"
    )
    cfg = load(cfg_file)
    c = make_console(cfg)
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        warnings = "\n".join(c.app.startup_warnings)
        assert f"{cfg_file}:6: unknown setting 'bogus'" in warnings
        assert "unknown action 'nope'" in warnings
        assert "theme 'no-such-theme' not found" in warnings
        assert c.app.theme == "lvstop-dark"
        assert c.app.state.interval == 2.0
        await pilot.press("space")
        assert c.app.paused
        await pilot.press("p")  # the default key is gone once overridden
        assert c.app.paused


async def test_events_timeline_newest_first(make_console: ConsoleFactory) -> None:
    c = make_console()
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        c.poll(30)  # 198.18.23.10 fails its check at 28 s...
        c.poll(12)  # ...and keepalived removes it at 40 s
        await pilot.press("5")
        await pilot.pause()
        table = c.app.current_table()
        assert table.rows, "no events recorded"
        times = [r.wall_time for r in table.rows]
        assert times == sorted(times, reverse=True)
        kinds = {r.kind for r in table.rows}
        assert "rs-down" in kinds
        down = [r for r in table.rows if r.kind == "rs-down"]
        assert all("198.18.23.10:8765" in r.subject + r.message for r in down)
        await pilot.press("slash", *"rs-removed", "enter")
        assert {r.kind for r in table.rows} == {"rs-removed"}


class SlowDirector(WritableDirector):
    """Every read blocks until the test releases it; records how many ran at once."""

    def __init__(self, inner: SimulatedDirector) -> None:
        super().__init__(inner)
        self.release = threading.Event()
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.release.wait(30)
            return self.inner.snapshot(connections=connections)
        finally:
            with self.lock:
                self.running -= 1


async def test_a_slow_source_never_blocks_the_keys(make_console: ConsoleFactory) -> None:
    """The real poll thread (live mode) against a director whose read hangs until
    released: keys are handled meanwhile, and reads never overlap."""
    from lvstop.ui.launch import build_app

    director = SlowDirector(SimulatedDirector())
    app = build_app(director, Config(), interval=0.2, live=True)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(200):  # until the poll thread is inside its first read
            if director.running:
                break
            await pilot.pause(0.05)
        assert director.running == 1
        await pilot.press("3", "slash", "x")
        assert app.view == "vrrp" and app.current_table().filter_text == "x"
        assert director.running == 1 and app.state.snapshot is None  # the read goes on
        await pilot.press("escape", "ctrl+r", "ctrl+r", "ctrl+r")
        director.release.set()
        for _ in range(200):
            if app.state.snapshot is not None:
                break
            await pilot.pause(0.05)
        assert app.state.snapshot is not None
        assert director.most == 1  # one poll at a time, whatever was asked
    assert app._stop.is_set()


class IncidentDirector(WritableDirector):
    """The simulation plus two things it never does: a split brain on VRID 51, and
    198.18.23.4:8765 drained by hand (weight 0) with its connections falling 20 a poll."""

    def __init__(self, inner: SimulatedDirector) -> None:
        super().__init__(inner)
        self.polls = 0

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        from lvstop.model.keepalived import VrrpAlarm

        snap = self.inner.snapshot(connections=connections)
        self.polls += 1
        services = []
        for svc in snap.services:
            rss = tuple(
                replace(rs, weight=0, active_conns=max(0, 200 - 20 * self.polls))
                if (svc.key.port, rs.address) == (8765, "198.18.23.4")
                else rs
                for rs in svc.real_servers
            )
            services.append(replace(svc, real_servers=rss))
        alarm = VrrpAlarm(
            "split-brain",
            "critical",
            51,
            "eth0",
            ("198.18.23.42", "198.18.23.44"),
            "two masters for VRID 51: 198.18.23.42 and 198.18.23.44",
        )
        assert snap.keepalived is not None
        return replace(
            snap,
            services=tuple(services),
            keepalived=replace(snap.keepalived, alarms=(alarm,)),
        )


async def test_split_brain_alarm_and_drain_eta(make_console: ConsoleFactory) -> None:
    c = make_console(director=lambda clock: IncidentDirector(SimulatedDirector(clock=clock)))
    async with c.app.run_test(size=(160, 48)) as pilot:
        for _ in range(4):
            c.poll(1)
        assert "SPLIT-BRAIN" in header(c) and "two masters for VRID 51" in header(c)
        await pilot.press("3")
        await pilot.pause()
        alarms = str(c.app.query_one("#vrrp-alarms").render())
        assert "split-brain" in alarms and "vrid 51" in alarms
        await pilot.press("2")
        await pilot.pause()
        table = c.app.current_table()
        drained = [r for r in table.rows if r.draining]
        assert len(drained) == 2  # 198.18.23.4:8765 in both 8765 services
        # 120 active left, falling 20 per 1 s poll: 6 s to go.
        assert {table.column("drain").cell(r) for r in drained} == {"ETA 6.0s"}
        assert {table.column("weight").cell(r) for r in drained} == {"0"}
        assert all(r.weights_differ for r in drained)  # kernel 0, keepalived 1


class FakeTable:
    """The IPVS table write actions see: the simulation's services, weights settable."""

    def __init__(self, services: Any) -> None:
        self.svcs = list(services)
        self.writes: list[tuple[str, int, int]] = []

    def services(self) -> Any:
        return tuple(self.svcs)

    def set_weight(self, service: Any, rs: Any, weight: int) -> None:
        self.writes.append((rs.address, rs.port, weight))
        self.svcs = [
            replace(
                s,
                real_servers=tuple(
                    replace(r, weight=weight) if r.key == rs.key else r for r in s.real_servers
                ),
            )
            if s.key == service
            else s
            for s in self.svcs
        ]

    def close(self) -> None:
        pass


async def test_drain_asks_applies_verifies_and_audits(
    make_console: ConsoleFactory, tmp_path: Path
) -> None:
    from lvstop.config import ActionsConfig
    from lvstop.ui.app import ConfirmScreen

    table = FakeTable(SimulatedDirector().snapshot_at(1).services)
    cfg = Config(
        actions=ActionsConfig(audit_log=tmp_path / "audit.jsonl", state_file=tmp_path / "w.json")
    )
    c = make_console(
        cfg,
        director=lambda clock: WritableDirector(SimulatedDirector(clock=clock)),
        table=lambda: table,
    )
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.press("question_mark")
        assert "Drain (weight 0)" not in c.app.screen.text  # write keys only where they act
        await pilot.press("escape", "down", "enter")  # the real servers of TCP 198.18.23.73:8765
        await pilot.pause()
        await pilot.press("question_mark")
        assert "Drain (weight 0)" in c.app.screen.text and "Weight +step" in c.app.screen.text
        await pilot.press("escape")
        assert c.app.current_table().current.server == "198.18.23.4:8765"
        await pilot.press("d")
        for _ in range(200):
            if isinstance(c.app.screen, ConfirmScreen):
                break
            await pilot.pause(0.05)
        screen = c.app.screen
        assert isinstance(screen, ConfirmScreen)
        text = str(screen.query_one("#confirm-text").render())
        assert "198.18.23.4:8765" in text and "weight 1 → weight 0" in text
        assert table.writes == []  # nothing before the answer
        await pilot.press("y")
        await c.app.workers.wait_for_complete()
        await pilot.pause()
        assert table.writes == [("198.18.23.4", 8765, 0)]
        audit = (tmp_path / "audit.jsonl").read_text()
        assert '"applied"' in audit and "drain" in audit
        actions = [e for e in c.app.state.events if e.kind == "action"]
        assert [(e.severity, e.message.split(":")[0]) for e in actions] == [
            ("info", "drain applied")
        ]
        await pilot.press("minus")  # weight 0 - 1: clamped, nothing to do, or refused
        for _ in range(200):
            if isinstance(c.app.screen, ConfirmScreen):
                break
            await pilot.pause(0.05)
        if isinstance(c.app.screen, ConfirmScreen):
            await pilot.press("n")
        await c.app.workers.wait_for_complete()
        assert table.writes == [("198.18.23.4", 8765, 0)]  # declined or refused: unchanged


async def test_read_only_console_has_no_write_keys(make_console: ConsoleFactory) -> None:
    c = make_console(
        director=lambda clock: WritableDirector(SimulatedDirector(clock=clock)), read_only=True
    )
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        await pilot.press("2", "d")
        await pilot.pause()
        assert c.app.operator is None
        assert not any(a.writes for a in c.app.allowed_actions())
        await pilot.press("question_mark")
        text = c.app.screen.text
        assert "hidden while read-only:" in text
        for hidden in ("Weight +step", "Weight -step", "Drain (weight 0)", "Restore weight"):
            assert hidden in text


class SeedConfigDirector(WritableDirector):
    """A writable director whose keepalived runs the seed's lvs1 configuration."""

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        snap = self.inner.snapshot(connections=connections)
        assert snap.keepalived is not None
        conf = Path(__file__).resolve().parents[1] / "data/keepalived/seed-lvs1.conf"
        return replace(snap, keepalived=replace(snap.keepalived, config_file=str(conf)))


async def test_failover_key_goes_through_the_actions_layer(
    make_console: ConsoleFactory, tmp_path: Path
) -> None:
    from lvstop.config import ActionsConfig
    from lvstop.ui.app import ConfirmScreen

    audit = tmp_path / "audit.jsonl"
    cfg = Config(actions=ActionsConfig(audit_log=audit, state_file=tmp_path / "w.json"))
    c = make_console(cfg, director=lambda clock: SeedConfigDirector(SimulatedDirector(clock=clock)))
    async with c.app.run_test(size=(160, 48)) as pilot:
        c.poll(0)
        c.poll(5)
        await pilot.press("3")
        await pilot.pause()
        assert {a.name for a in c.app.allowed_actions()} >= {"failover", "failback"}
        await pilot.press("F")
        for _ in range(200):
            if isinstance(c.app.screen, ConfirmScreen) or audit.exists():
                break
            await pilot.pause(0.05)
        if isinstance(c.app.screen, ConfirmScreen):
            assert "VI_1" in str(c.app.screen.query_one("#confirm-text").render())
            await pilot.press("escape")
        await c.app.workers.wait_for_complete()
        record = audit.read_text()
        assert '"failover"' in record and "VI_1" in record
        assert '"refused"' in record or '"declined"' in record  # nothing changed either way
        await pilot.press("5")
        await pilot.pause()
        kinds = [r.kind for r in c.app.current_table().rows]
        assert kinds[0] == "action"  # newest first


async def test_age_tick_repaints_only_when_no_update_just_did(
    make_console: ConsoleFactory,
) -> None:
    """The once-a-second tick moves the age while updates are late, and leaves the
    header alone right after an update painted it (one frame per poll, not two)."""
    c = make_console()
    async with c.app.run_test(size=(120, 30)) as pilot:
        c.poll(1)
        await pilot.pause()
        painted = header(c)
        c.clock.now += 0.5  # an update just painted the header: the tick skips
        c.app._tick()
        await pilot.pause()
        assert header(c) == painted
        c.clock.now += 4  # no update for a while: the tick shows the age moving
        c.app._header_shown_at = (c.app._header_shown_at or 0.0) - 2
        c.app._tick()
        await pilot.pause()
        assert header(c) != painted and "age 4.5s" in header(c)
