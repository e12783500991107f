"""Recordings: serialize -> load is the identity (up to JSON's precision), the replay
director plays them back in order, and bad recordings are one clear error."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lvstop.errors import SourceError
from lvstop.feed import Feed
from lvstop.model import Counters, Family, Forward, Protocol, Rates, RealServer, Service, ServiceKey
from lvstop.model.deserialize import SnapshotFormatError, snapshot_from_json
from lvstop.model.diff import diff
from lvstop.model.ipvs import SVC_F_HASHED, SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED1
from lvstop.model.serialize import snapshot_json
from lvstop.model.snapshot import Snapshot, SourceKind
from lvstop.sources.replay import ReplayDirector, load_recording, write_snapshot
from lvstop.sources.simulated import SimulatedDirector

# Moments of the simulation with its incidents: the flapping server failing, removed
# (absent) and back, VI_1 failed over to the peer and back, a client burst.
MOMENTS = (0.0, 3.5, 20.0, 45.0, 68.0, 100.0, 131.0, 170.0, 430.0)


def roundtrip(snap: Snapshot) -> Snapshot:
    text = json.dumps(snapshot_json(snap))
    return snapshot_from_json(json.loads(text), monotonic=snap.monotonic)


@pytest.mark.parametrize("elapsed", MOMENTS)
def test_simulated_snapshots_roundtrip(elapsed: float) -> None:
    snap = SimulatedDirector(seed=3).snapshot_at(elapsed, connections=True)
    back = roundtrip(snap)
    # The JSON of the loaded snapshot is the JSON it was loaded from, byte for byte.
    assert snapshot_json(back) == snapshot_json(snap)
    # The IPVS side is exact (the simulation's rates are integers, like the kernel's).
    assert back.services == snap.services
    assert (back.totals, back.connections, back.errors) == (
        snap.totals,
        snap.connections,
        snap.errors,
    )
    assert (back.host, back.source, back.monotonic) == (snap.host, snap.source, snap.monotonic)
    assert back.wall_time == pytest.approx(snap.wall_time, abs=1e-6)
    k, kb = snap.keepalived, back.keepalived
    assert k is not None and kb is not None
    assert dict(kb.services) == dict(k.services)
    assert dict(kb.real_servers) == dict(k.real_servers)
    for field in ("processes", "config_file", "absent_real_servers", "unexplained", "alarms"):
        assert getattr(kb, field) == getattr(k, field), field
    assert (kb.notes, kb.errors) == (k.notes, k.errors)
    # Wall times keep microseconds, the wire's ages milliseconds.
    assert len(kb.instances) == len(k.instances)
    for a, b in zip(kb.instances, k.instances, strict=True):
        assert a.last_transition == pytest.approx(b.last_transition, abs=1e-6)
        assert a.counters == b.counters and (a.state, a.vips_present) == (b.state, b.vips_present)
    assert [w.source for w in kb.wire] == [w.source for w in k.wire]
    for a, b in zip(kb.wire, k.wire, strict=True):
        assert a.last_seen == pytest.approx(b.last_seen, abs=1e-3)
    assert kb.wire_since == pytest.approx(k.wire_since, abs=1e-3)


def test_diff_and_events_of_a_replay_match_the_simulation() -> None:
    """What the console computes from two loaded snapshots is what it computes live."""
    from lvstop.model.events import events_between

    sim = SimulatedDirector(seed=1)
    a, b = sim.snapshot_at(80.0), sim.snapshot_at(101.0)
    ra, rb = roundtrip(a), roundtrip(b)
    assert diff(ra, rb).service_rates == diff(a, b).service_rates
    assert diff(ra, rb).real_server_rates == diff(a, b).real_server_rates
    live = [(e.kind, e.subject, e.message) for e in events_between(a, b)]
    replayed = [(e.kind, e.subject, e.message) for e in events_between(ra, rb)]
    assert replayed == live and live  # VI_1 failed over between the two


def test_kernel_details_the_writer_names_come_back() -> None:
    tun = RealServer(
        "2001:db8::10", 80, Forward.TUNNEL, 3, u_threshold=100, l_threshold=10,
        family=Family.INET6, tun_type=1, tun_port=6080, tun_flags=3,
    )  # fmt: skip
    services = (
        Service(
            ServiceKey.inet(Protocol.UDP, "2001:db8::1", 53),
            "sh",
            flags=SVC_F_HASHED | SVC_F_PERSISTENT | SVC_F_ONEPACKET | SVC_F_SCHED1,
            timeout=300,
            netmask=64,
            pe_name="sip",
            real_servers=(tun,),
            rates=Rates(1.5, 2.25, 0, 3.125, 0),
        ),
        Service(ServiceKey.mark(7, Family.INET6), "wlc", flags=SVC_F_HASHED, netmask=128),
        Service(
            ServiceKey.inet(Protocol.SCTP, "198.18.23.73", 9),
            "rr",
            flags=SVC_F_HASHED,
            stats=Counters(1, 2, 3, 4, 5),
        ),
    )
    snap = Snapshot(1795856400.25, 7.0, "h", SourceKind.NETLINK, services, errors=("x",))
    back = roundtrip(snap)
    assert back.services == snap.services
    assert back.keepalived is None and back.errors == ("x",)
    assert back.services[0].flag_names == ("persistent", "one-packet", "sh-fallback")


def test_recording_source_is_replay_and_monotonic_starts_at_zero() -> None:
    sim = SimulatedDirector()
    out = io.StringIO()
    prev = None
    for t in (10.0, 11.0, 12.5):
        snap = sim.snapshot_at(t)
        write_snapshot(out, snap, None if prev is None else diff(prev, snap))
        prev = snap
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and all(
        line.startswith('{"schema":"lvstop.snapshot/1"') for line in lines
    )
    frames = load_recording(out.getvalue())
    assert [f.source for f in frames] == [SourceKind.REPLAY] * 3
    assert [f.monotonic for f in frames] == pytest.approx([0.0, 1.0, 2.5])
    # Re-anchoring keeps the wire's ages: the same JSON but for the source.
    again = snapshot_json(frames[2])
    again["source"] = "simulated"
    assert again == snapshot_json(sim.snapshot_at(12.5))


def test_indented_documents_as_snapshot_json_prints_them_also_load() -> None:
    sim = SimulatedDirector()
    text = "".join(json.dumps(snapshot_json(sim.snapshot_at(t)), indent=2) + "\n" for t in (1, 2))
    assert [f.monotonic for f in load_recording(text)] == [0.0, 1.0]


def test_replay_director_plays_in_order_then_holds_the_last_with_a_note() -> None:
    sim = SimulatedDirector()
    frames = load_recording(
        "\n".join(json.dumps(snapshot_json(sim.snapshot_at(t))) for t in (0.0, 1.0, 2.0))
    )
    d = ReplayDirector(frames, name="rec.jsonl")
    assert not d.capabilities.write and "rec.jsonl" in d.capabilities.reason
    got = [d.snapshot() for _ in range(3)]
    assert got == list(frames) and d.position == 3 and not d.ended
    tail = d.snapshot()
    assert d.ended and d.position == 3
    assert tail.services == frames[-1].services and tail.monotonic == frames[-1].monotonic
    assert tail.errors[-1] == "end of the replay: all 3 snapshots of rec.jsonl shown"


def _good_line() -> dict[str, object]:
    return snapshot_json(SimulatedDirector().snapshot_at(1.0))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema="lvstop.snapshot/2"), "schema: expected 'lvstop.snapshot/1'"),
        (lambda d: d.pop("host"), "host: missing"),
        (lambda d: d.update(taken_at="yesterday"), "taken_at: expected an RFC 3339 time"),
        (lambda d: d["services"][1].update(port="80"), "services[1].port: expected an integer"),
        (
            lambda d: d["services"][0]["real_servers"][0].update(forward="nat"),
            "services[0].real_servers[0].forward: expected one of masq",
        ),
        (
            lambda d: d["services"][0]["stats"].update(conns=True),
            "services[0].stats.conns: expected an integer",
        ),
        (lambda d: d["services"][0].update(flags=["sticky"]), "unknown flag 'sticky'"),
        (
            lambda d: d["keepalived"]["instances"][0].update(state="master"),
            "keepalived.instances[0].state: expected one of INIT",
        ),
    ],
)
def test_bad_documents_name_the_field(mutate: object, message: str) -> None:
    doc = _good_line()
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(SnapshotFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        snapshot_from_json(doc)


def test_bad_recordings_are_one_error_with_file_and_line(tmp_path: Path) -> None:
    """A file that is no recording fails when opened; a bad document later fails the
    poll that reaches it, which the Feed turns into an error and stale data."""
    good = json.dumps(_good_line())
    rec = tmp_path / "rec.jsonl"
    rec.write_text(f"{good[:-1]}, \n{good}\n")
    with pytest.raises(SourceError, match=r"rec.jsonl: line 1: not JSON: .* \(line 2 column 1\)"):
        ReplayDirector.open(rec)
    rec.write_text("\n")
    with pytest.raises(SourceError, match=r"rec.jsonl: no snapshots"):
        ReplayDirector.open(rec)
    with pytest.raises(SourceError, match="cannot read the recording"):
        ReplayDirector.open(tmp_path / "missing.jsonl")
    bad = json.loads(good)
    del bad["services"][0]["scheduler"]
    older = json.loads(good)
    older["taken_at"] = "2020-01-01T00:00:00.000000Z"
    for text, message in (
        (f"{good}\n\n{json.dumps(bad)}\n", r"line 3: services\[0\].scheduler: missing"),
        (f"{good}\n{json.dumps(older)}\n", r"line 2: taken_at: earlier than"),
        (f"{good}\n{good[:-1]}, \n", r"line 2: not JSON"),
    ):
        rec.write_text(text)
        d = ReplayDirector.open(rec)
        d.snapshot()
        with pytest.raises(SourceError, match=f"rec.jsonl: {message}"):
            d.snapshot()
    feed = Feed(ReplayDirector.open(rec))
    first, failed = feed.poll_once(), feed.poll_once()
    assert failed.error is not None and failed.error.startswith(f"{rec}: line 2: not JSON")
    assert failed.snapshot is first.snapshot


def test_record_then_replay_from_the_command_line(tmp_path: Path) -> None:
    rec = tmp_path / "demo.jsonl"
    lvstop = [sys.executable, "-m", "lvstop"]
    out = subprocess.run(
        [*lvstop, "record", "--demo", "--interval", "0.05", "--count", "3", str(rec)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    frames = load_recording(rec.read_text())
    assert len(frames) == 3 and frames[0].host == "lvs1-demo"
    # Polls are re-armed after each other: at least two intervals from first to last.
    assert frames[0].monotonic == 0.0 < frames[1].monotonic < frames[2].monotonic
    assert frames[2].monotonic >= 0.1
    bad = subprocess.run(
        [*lvstop, "--replay", str(tmp_path / "nope.jsonl")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("lvstop: cannot read the recording")
    both = subprocess.run(
        [*lvstop, "--demo", "--replay", str(rec)], capture_output=True, text=True, timeout=60
    )
    assert both.returncode == 2 and "exclude each other" in both.stderr
