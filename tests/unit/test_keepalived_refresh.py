"""keepalived read off the poll thread: a slow or failing keepalived never delays the
IPVS snapshots of a watched LiveDirector; unwatched, a snapshot is still one pass.

The IPVS side is the procfs capture (netlink off), keepalived a KeepalivedReader whose
slow part (`collect`) is replaced: the real dumps are proven in the lab.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lvstop.director import LiveDirector
from lvstop.feed import Feed, Update
from lvstop.model.vrrp import KeepalivedProcess, KeepalivedProcesses, VrrpInstance, VrrpState
from lvstop.sources.keepalived.refresh import KeepalivedRefresher
from lvstop.sources.keepalived.state import KeepalivedReader, KeepalivedReading

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


class ScriptedReader(KeepalivedReader):
    """`collect` takes `delay` seconds, raises `fail`, and reports `state` for VI_1."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(wire=False, dump_interval=0.2)
        self.delay = delay
        self.fail: Exception | None = None
        self.state = VrrpState.BACKUP
        self.calls: list[bool] = []
        self.release = threading.Event()
        self.release.set()

    def collect(self, *, fresh_after: float | None = None) -> KeepalivedReading:
        self.calls.append(fresh_after is not None)  # True: an urgent read
        started = time.monotonic()
        time.sleep(self.delay)
        self.release.wait(10)
        if self.fail is not None:
            raise self.fail
        return self.reading(started)

    def reading(self, started: float) -> KeepalivedReading:
        inst = VrrpInstance("VI_1", 51, "eth0", self.state, 100, 100, 1.0, ("198.18.23.73",))
        return KeepalivedReading(
            processes=KeepalivedProcesses((KeepalivedProcess("parent", 1, True),)),
            config=None,
            config_file=None,
            instances=(inst,),
            check=None,
            notes=(),
            errors=(),
            started=started,
            read_at=time.monotonic(),
        )


@pytest.fixture
def proc_net(tmp_path: Path) -> Path:
    shutil.copy(CAPTURES / "proc-ip_vs.txt", tmp_path / "ip_vs")
    shutil.copy(CAPTURES / "proc-ip_vs_stats.txt", tmp_path / "ip_vs_stats")
    return tmp_path


def test_unwatched_snapshot_reads_keepalived_in_the_same_pass(proc_net: Path) -> None:
    reader = ScriptedReader(delay=0.3)
    d = LiveDirector(proc_net, netlink=False, keepalived_reader=reader)
    began = time.monotonic()
    snap = d.snapshot()
    assert time.monotonic() - began >= 0.3  # one pass: it waited for keepalived
    assert snap.keepalived is not None and snap.keepalived.instances[0].state is VrrpState.BACKUP
    assert snap.keepalived.read_at is not None and snap.keepalived.read_at <= snap.monotonic + 0.5
    assert reader.calls == [False]


def test_watched_snapshots_never_wait_for_a_slow_keepalived(proc_net: Path) -> None:
    reader = ScriptedReader()
    d = LiveDirector(proc_net, netlink=False, keepalived_reader=reader)
    wakes: list[str] = []
    unwatch = d.watch(wakes.append)
    try:
        first = d.snapshot()
        assert first.keepalived is not None and first.keepalived.instances
        reader.release.clear()  # keepalived stops answering
        time.sleep(0.3)  # older than the period: the next snapshot asks for a read
        times = []
        for _ in range(5):
            began = time.monotonic()
            snap = d.snapshot()
            times.append(time.monotonic() - began)
            assert snap.services  # the IPVS table, every time
        assert max(times) < 2  # the read they would wait for takes 10 s
        assert snap.keepalived is not None
        age = snap.keepalived.age(snap.monotonic)
        assert age is not None and age >= 0.3  # the last good reading, with its age
        assert snap.keepalived.instances[0].state is VrrpState.BACKUP
    finally:
        reader.release.set()
        unwatch()


def test_stale_and_failing_reads_are_errors_and_change_wakes_the_poller(proc_net: Path) -> None:
    reader = ScriptedReader()
    woke = threading.Event()
    refresher = KeepalivedRefresher(reader, period=0.05, on_change=woke.set)
    refresher.start()
    try:
        assert refresher.latest(wait=2) is not None
        woke.clear()
        reader.fail = RuntimeError("dump dir gone")
        refresher.urgent()
        assert woke.wait(2)
        assert refresher.problems(time.monotonic()) == (
            "reading keepalived failed: RuntimeError('dump dir gone')",
        )
        latest = refresher.latest()
        assert latest is not None
        later = latest.read_at + refresher.stale_after + 1
        assert any("s old: reading keepalived is slow" in p for p in refresher.problems(later))
        # the same sentence while it lasts: one error event, not one per poll
        assert refresher.problems(later) == refresher.problems(later + 7.3)
        reader.fail = None
        woke.clear()
        reader.state = VrrpState.MASTER
        refresher.urgent()
        assert woke.wait(2)
        latest = refresher.latest()
        assert latest is not None and latest.instances[0].state is VrrpState.MASTER
        assert refresher.problems(time.monotonic()) == ()
        assert True in reader.calls  # urgent reads were asked for as such
    finally:
        refresher.stop()


def test_feed_keeps_polling_ipvs_while_keepalived_hangs(proc_net: Path) -> None:
    reader = ScriptedReader()
    d = LiveDirector(proc_net, netlink=False, keepalived_reader=reader)
    feed = Feed(d, interval=0.05)
    updates: list[tuple[float, Update]] = []
    stop = threading.Event()
    t = threading.Thread(
        target=feed.run, args=(lambda u: updates.append((time.monotonic(), u)), stop)
    )
    t.start()
    try:
        deadline = time.monotonic() + 3
        while len(updates) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        reader.release.clear()
        hung = time.monotonic()
        time.sleep(1.0)
        during = [(at, u) for at, u in updates if at > hung]
    finally:
        reader.release.set()
        stop.set()
        t.join(5)
        d.close()
    assert not t.is_alive()
    assert len(during) >= 3  # ~every 50 ms; waiting for keepalived, none at all
    assert all(u.error is None and u.snapshot is not None for _, u in during)
    last = during[-1][1].snapshot
    assert last is not None and last.keepalived is not None and last.keepalived.instances


def test_a_read_that_gets_nothing_keeps_the_last_roles_as_stale() -> None:
    reader = ScriptedReader()
    good = reader.collect()
    time.sleep(0.01)
    nothing = replace(
        reader.collect(),
        instances=(),
        errors=("keepalived (vrrp) wrote no new keepalived.json in /tmp within 2 s",),
    )
    kept = nothing.carry_over(good)
    assert kept.instances == good.instances and kept.read_at == good.read_at
    assert kept.errors == nothing.errors
    stopped = replace(nothing, processes=KeepalivedProcesses())
    assert stopped.carry_over(good) is stopped  # keepalived gone: nothing to carry
    assert good.carry_over(nothing) is good


def test_only_address_events_wake_the_poller() -> None:
    """Decoded kernel messages (as the rtnetlink thread delivers them) against the filter
    LiveDirector.watch uses to wake the Feed."""
    from lvstop.director import moves_addresses
    from lvstop.sources.rtnl_events import (
        OVERFLOW,
        RTM_DELADDR,
        RTM_NEWADDR,
        RTM_NEWLINK,
        RtnlEvent,
        decode,
    )

    def nlmsg(kind: int, body: bytes) -> bytes:
        length = 16 + len(body)
        return struct.pack("=IHHII", length, kind, 0, 0, 0) + body + b"\0" * (-length % 4)

    vip = socket.inet_aton("198.18.23.73")
    local = struct.pack("=HH", 8, 2) + vip  # IFA_LOCAL
    addr = struct.pack("=BBBBI", socket.AF_INET, 32, 0, 0, 2) + local
    link = struct.pack("=BxHiII", 0, 1, 2, 0x1043, 0) + struct.pack("=HH", 9, 3) + b"eth0\0"
    link += b"\0" * (-len(link) % 4)
    data = nlmsg(RTM_NEWADDR, addr) + nlmsg(RTM_DELADDR, addr) + nlmsg(RTM_NEWLINK, link)
    new, gone, up = decode(data, 1.0)
    assert [moves_addresses(e) for e in (new, gone, up)] == [True, True, False]
    assert moves_addresses(RtnlEvent(OVERFLOW, None, "", 1.0))


def test_urgent_read_shows_the_roles_before_the_slow_full_read() -> None:
    class Staged(ScriptedReader):
        def collect_roles(self, fresh_after: float | None = None) -> KeepalivedReading | None:
            return self.reading(time.monotonic())

    reader = Staged()
    changes: list[float] = []
    refresher = KeepalivedRefresher(reader, period=60, on_change=lambda: changes.append(0))
    refresher.start()
    try:
        first = refresher.latest(wait=2)
        assert first is not None and first.instances[0].state is VrrpState.BACKUP
        reader.delay = 3.0  # the full read is slow from now on
        reader.state = VrrpState.MASTER
        began = time.monotonic()
        refresher.urgent()
        deadline = began + 4
        while time.monotonic() < deadline:
            got = refresher.latest()
            if got is not None and got.instances[0].state is VrrpState.MASTER:
                break
            time.sleep(0.01)
        assert time.monotonic() - began < 1.5  # not after the 3 s full read
        while reader.calls != [False, True] and time.monotonic() < deadline:
            time.sleep(0.01)  # the full read runs beside it, on the refresher's thread
        assert reader.calls == [False, True]  # the full read still ran, urgently
    finally:
        refresher.stop(timeout=5)


def test_roles_after_a_vip_move_do_not_wait_for_a_routine_read_under_way() -> None:
    """The lab's flake: a routine read was under way (keepalived asked before the VIP
    moved, BACKUP) when the VIP moved. The roles-only read runs beside it and shows
    MASTER at once; the routine read, finishing later with the older roles, does not
    replace them; the urgent full read that follows asks for dumps newer than the move."""
    got: list[tuple[str, float | None]] = []
    urgent_gate = threading.Event()

    class Racing(ScriptedReader):
        def collect(self, *, fresh_after: float | None = None) -> KeepalivedReading:
            got.append(("full", fresh_after))
            started, state = time.monotonic(), self.state  # keepalived as asked
            self.release.wait(10)
            if fresh_after is not None:
                urgent_gate.wait(10)
            return replace(self.reading(started), instances=(self.instance(state),))

        def collect_roles(self, fresh_after: float | None = None) -> KeepalivedReading | None:
            got.append(("roles", fresh_after))
            assert fresh_after is not None
            return replace(self.reading(fresh_after), instances=(self.instance(self.state),))

        def instance(self, state: VrrpState) -> VrrpInstance:
            return VrrpInstance("VI_1", 51, "eth0", state, 100, 100, 1.0, ("198.18.23.73",))

    reader = Racing()
    refresher = KeepalivedRefresher(reader, period=0.01)
    refresher.start()
    try:
        assert refresher.latest(wait=2) is not None
        reader.release.clear()
        time.sleep(0.02)
        refresher.demand()  # a routine read, blocked below while it "waits for dumps"
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got[1] == ("full", None)
        reader.state = VrrpState.MASTER  # the VIP moves
        moved = time.monotonic()
        refresher.urgent()
        refresher.urgent()  # a second event: the full read still starts from the first
        while time.monotonic() < deadline:
            latest = refresher.latest()
            if latest is not None and latest.instances[0].state is VrrpState.MASTER:
                break
            time.sleep(0.01)
        assert time.monotonic() < deadline, "MASTER waited for the routine read"
        assert got[2][0] == "roles" and got[2][1] is not None
        assert moved <= got[2][1] < moved + 0.5
        reader.release.set()  # the routine read ends, with BACKUP: not shown

        def fulls() -> list[float | None]:
            return [at for kind, at in got if kind == "full"]

        while len(fulls()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fulls()[2] == got[2][1]  # then the urgent full read, as fresh
        latest = refresher.latest()  # while that one is still reading
        assert latest is not None and latest.instances[0].state is VrrpState.MASTER
        urgent_gate.set()
    finally:
        urgent_gate.set()
        reader.release.set()
        refresher.stop(timeout=3)


def test_a_notify_fifo_line_wakes_the_poller_and_rereads(tmp_path: Path) -> None:
    """The FIFO named in global_defs is watched: a line keepalived writes there is an
    urgent re-read plus a "notify" wake (a real FIFO; keepalived itself in the lab)."""
    from lvstop.sources.keepalived.config import loads

    fifo = tmp_path / "keepalived.fifo"
    os.mkfifo(fifo)
    cfg = loads(f"global_defs {{\n  notify_fifo {fifo}\n}}\n")
    assert cfg.global_defs is not None and cfg.global_defs.notify_fifo is not None

    class Configured(ScriptedReader):
        def reading(self, started: float) -> KeepalivedReading:
            return replace(super().reading(started), config=cfg)

    reader = Configured()
    notified = threading.Event()
    refresher = KeepalivedRefresher(reader, period=60, on_notify=notified.set)
    keepalived_end = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # as keepalived holds it
    refresher.start()
    try:
        assert refresher.latest(wait=2) is not None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            watching = refresher._fifos.get(str(fifo))
            if watching is not None and watching.reader.reading:
                break
            time.sleep(0.01)
        assert watching is not None, "the FIFO is not watched"
        assert watching.reader.reading, watching.status
        os.write(keepalived_end, b'INSTANCE "VI_1" MASTER 100\n')
        assert notified.wait(5)
        deadline = time.monotonic() + 5
        while reader.calls != [False, True] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reader.calls == [False, True]  # the first read, then an urgent one
    finally:
        refresher.stop(timeout=3)
        os.close(keepalived_end)
    assert not refresher._fifos  # stopped with the refresher


def test_configuration_loads_while_the_dumps_are_awaited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read's two slow parts overlap: parsing the configuration (CPU) and waiting
    for keepalived's dumps. Each part here waits for the other to have started; run
    one after the other, the first would wait in vain."""
    from types import SimpleNamespace

    from lvstop.sources.keepalived.runtime import processes

    procs = KeepalivedProcesses(
        (KeepalivedProcess("parent", 1, True), KeepalivedProcess("checker", 2, True))
    )
    daemon = SimpleNamespace(problems=(), processes=procs)
    monkeypatch.setattr(processes, "local_daemon", lambda: daemon)
    config_started, dumps_started = threading.Event(), threading.Event()
    overlapped: list[str] = []

    class Both(KeepalivedReader):
        def _load_config(self, d: Any, errors: list[str], notes: list[str]) -> Any:
            config_started.set()
            if dumps_started.wait(3):
                overlapped.append("config")
            errors.append("config problem")
            return None, "/etc/keepalived/keepalived.conf"

        def _dumps(self, d: Any, errors: list[str], fresh_after: float | None = None) -> Any:
            dumps_started.set()
            if config_started.wait(3):
                overlapped.append("dumps")
            errors.append("dump problem")
            return (), None

    reading = Both(wire=False).collect()
    assert sorted(overlapped) == ["config", "dumps"]
    assert reading.errors == ("config problem", "dump problem")  # the usual order
    assert reading.config_file == "/etc/keepalived/keepalived.conf"
