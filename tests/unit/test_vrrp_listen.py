"""Passive VRRP listener: parser on byte-exact and captured keepalived packets, analysis,
and (as root) the real sockets in a network namespace of our own."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lvstop.errors import SourceError
from lvstop.model.vrrp import WireSpeaker
from lvstop.sources.vrrp_listen import (
    Advert,
    AlarmHold,
    AlarmKind,
    InvalidAdvert,
    SpeakerTable,
    VrrpListener,
    WireAlarm,
    analyse,
    parse_ipv4_packet,
    parse_ipv6_packet,
    parse_vrrp,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "vrrp"

# --------------------------------------------------------------------------- builders
# Written independently of the module under test (own checksum), byte by byte after
# RFC 3768 section 5.1 and RFC 5798 section 5.1.


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) + data[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return 0xFFFF - total


def packed(addr: str) -> bytes:
    return ipaddress.ip_address(addr).packed


def vrrp2(
    vrid: int,
    prio: int,
    vips: list[str],
    *,
    auth_type: int = 0,
    auth: bytes = b"",
    interval: int = 1,
    count: int | None = None,
    first: int = 0x21,
    bad_checksum: bool = False,
) -> bytes:
    body = bytes([first, vrid, prio, len(vips) if count is None else count, auth_type, interval])
    rest = b"".join(packed(v) for v in vips) + auth.ljust(8, b"\0")
    c = csum(body + b"\0\0" + rest) ^ (0x0101 if bad_checksum else 0)
    return body + struct.pack("!H", c) + rest


def pseudo(src: str, dst: str, length: int) -> bytes:
    if ":" in src:
        return packed(src) + packed(dst) + struct.pack("!I", length) + b"\0\0\0" + bytes([112])
    return packed(src) + packed(dst) + bytes([0, 112]) + struct.pack("!H", length)


def vrrp3(
    vrid: int,
    prio: int,
    vips: list[str],
    *,
    src: str,
    dst: str,
    centis: int = 100,
    with_pseudo: bool = True,
    first: int = 0x31,
) -> bytes:
    head = bytes([first, vrid, prio, len(vips)]) + struct.pack("!H", centis & 0x0FFF)
    rest = b"".join(packed(v) for v in vips)
    length = 8 + len(rest)
    c = csum((pseudo(src, dst, length) if with_pseudo else b"") + head + b"\0\0" + rest)
    return head + struct.pack("!H", c) + rest


def ipv4(
    payload: bytes,
    *,
    src: str = "198.18.23.42",
    dst: str = "224.0.0.18",
    ttl: int = 255,
    proto: int = 112,
    total: int | None = None,
) -> bytes:
    length = 20 + len(payload) if total is None else total
    hdr = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0xC0, length, 1, 0, ttl, proto, 0, packed(src), packed(dst)
    )
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def ipv6(payload: bytes, *, src: str, dst: str = "ff02::12", hop: int = 255) -> bytes:
    return (
        struct.pack("!IHBB", 0x60000000, len(payload), 112, hop)
        + packed(src)
        + packed(dst)
        + payload
    )


LL_A = "fe80::c802:6dff:fe56:29b8"  # keepalived's link-local source in the captures
PASS = b"11112222"

# --------------------------------------------------------------------------- parser


def test_v2_advert_decodes() -> None:
    pkt = ipv4(vrrp2(51, 100, ["198.18.23.73"], auth_type=1, auth=PASS))
    a = parse_ipv4_packet(pkt, interface="eth0", received=12.5)
    assert (a.version, a.vrid, a.priority, a.advert_int) == (2, 51, 100, 1.0)
    assert a.vips == ("198.18.23.73",)
    assert (a.auth_type, a.source, a.destination, a.ttl) == (1, "198.18.23.42", "224.0.0.18", 255)
    assert (a.interface, a.received, a.raw, a.outgoing) == ("eth0", 12.5, b"", False)
    assert PASS.decode() not in repr(a)  # the PASS password is never kept
    assert parse_ipv4_packet(pkt, keep_raw=True).raw == pkt


def test_v2_without_auth_data_is_short() -> None:
    payload = vrrp2(51, 100, ["198.18.23.73"])[:-8]
    with pytest.raises(InvalidAdvert) as e:
        parse_ipv4_packet(ipv4(payload))
    assert e.value.reason == "length"


def test_v3_ipv4_interval_in_centiseconds_and_pseudo_header() -> None:
    vips = ["198.18.23.75", "198.18.23.76"]
    payload = vrrp3(53, 100, vips, src="198.18.23.42", dst="224.0.0.18", centis=50)
    a = parse_ipv4_packet(ipv4(payload))
    assert (a.version, a.vrid, a.advert_int, a.vips, a.auth_type) == (3, 53, 0.5, tuple(vips), 0)
    # 12-bit field: 4095 cs = 40.95 s; the reserved high nibble is ignored
    big = vrrp3(53, 100, vips, src="198.18.23.42", dst="224.0.0.18", centis=0xFFFF)
    assert parse_ipv4_packet(ipv4(big)).advert_int == 40.95
    # A v3 checksum computed like v2 (no pseudo header) is wrong.
    nopseudo = vrrp3(53, 100, vips, src="198.18.23.42", dst="224.0.0.18", with_pseudo=False)
    with pytest.raises(InvalidAdvert) as e:
        parse_ipv4_packet(ipv4(nopseudo))
    assert e.value.reason == "checksum"
    # The pseudo header binds source and destination: same bytes, other source -> bad.
    with pytest.raises(InvalidAdvert, match="checksum"):
        parse_ipv4_packet(ipv4(payload, src="198.18.23.44"))


def test_v3_ipv6_payload_and_packet() -> None:
    vip = "2001:2:0:23::56"
    payload = vrrp3(56, 100, [vip], src=LL_A, dst="ff02::12")
    a = parse_vrrp(payload, source=packed(LL_A), destination=packed("ff02::12"), ttl=255)
    assert (a.version, a.vrid, a.vips, a.source, a.destination) == (3, 56, (vip,), LL_A, "ff02::12")
    b = parse_ipv6_packet(ipv6(payload, src=LL_A), interface="eth0")
    assert (b.vrid, b.vips, b.source, b.interface) == (56, (vip,), LL_A, "eth0")
    with pytest.raises(InvalidAdvert, match="ttl"):
        parse_ipv6_packet(ipv6(payload, src=LL_A, hop=64))
    with pytest.raises(InvalidAdvert, match="checksum"):
        parse_ipv6_packet(ipv6(payload, src="fe80::1"))
    with pytest.raises(InvalidAdvert, match="ip_length"):
        parse_ipv6_packet(ipv6(payload, src=LL_A)[:-1])
    v2_over_v6 = vrrp2(56, 100, ["198.18.23.73"])
    with pytest.raises(InvalidAdvert, match="version"):
        parse_vrrp(v2_over_v6, source=packed(LL_A), destination=packed("ff02::12"), ttl=255)


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (ipv4(vrrp2(51, 100, ["198.18.23.73"]), ttl=64), "ttl"),
        (ipv4(vrrp2(51, 100, ["198.18.23.73"]), ttl=254), "ttl"),
        (ipv4(vrrp2(51, 100, ["198.18.23.73"], first=0x11)), "version"),
        (ipv4(vrrp2(51, 100, ["198.18.23.73"], first=0x41)), "version"),
        (ipv4(vrrp2(51, 100, ["198.18.23.73"], first=0x22)), "type"),
        (ipv4(vrrp2(51, 100, ["198.18.23.73"], count=5)), "length"),
        (ipv4(b"\x21\x33\x64"), "length"),
        (ipv4(vrrp2(51, 100, ["198.18.23.73"], bad_checksum=True)), "checksum"),
        (ipv4(vrrp2(0, 100, ["198.18.23.73"])), "vrid"),
        (ipv4(vrrp2(51, 100, ["198.18.23.73"], interval=0)), "interval"),
        (ipv4(vrrp2(51, 100, ["198.18.23.73"]), proto=6), "protocol"),
        (ipv4(vrrp2(51, 100, ["198.18.23.73"]), total=200), "ip_length"),
        (ipv4(vrrp2(51, 100, ["198.18.23.73"]), total=10), "ip_length"),
        (b"\x45\x00", "ip_header"),
        (b"\x60" + bytes(40), "ip_header"),
    ],
)
def test_invalid_packets_name_their_reason(packet: bytes, reason: str) -> None:
    with pytest.raises(InvalidAdvert) as e:
        parse_ipv4_packet(packet)
    assert e.value.reason == reason


def test_trailing_padding_beyond_ip_total_length_is_ignored() -> None:
    pkt = ipv4(vrrp2(51, 100, ["198.18.23.73"])) + b"\0" * 6  # Ethernet minimum padding
    assert parse_ipv4_packet(pkt).vrid == 51


def test_zero_addresses_and_255_addresses() -> None:
    assert parse_ipv4_packet(ipv4(vrrp2(9, 1, []))).vips == ()
    many = [str(ipaddress.ip_address("198.18.30.0") + i) for i in range(255)]
    a = parse_ipv4_packet(ipv4(vrrp2(9, 255, many)))
    assert a.vips == tuple(many) and a.priority == 255


# --------------------------------------------------------------------------- captures


def load_capture(name: str) -> list[Advert]:
    """Decode a capture of tests/data/vrrp (see its README); every packet must be valid."""
    out: list[Advert] = []
    for line in (DATA / name).read_text().splitlines():
        rec = json.loads(line)
        raw = bytes.fromhex(rec["hex"])
        kw = {"interface": rec["interface"], "received": rec["t"]}
        if rec["kind"] == "ipv4-packet":
            out.append(parse_ipv4_packet(raw, **kw))
        elif rec["kind"] == "ipv6-packet":
            out.append(parse_ipv6_packet(raw, **kw))
        else:
            out.append(
                parse_vrrp(
                    raw,
                    source=packed(rec["source"]),
                    destination=packed(rec["destination"]),
                    ttl=rec["hoplimit"],
                    **kw,
                )
            )
    return out


@pytest.mark.parametrize(
    "name",
    [
        "keepalived-2.2.7-failover.jsonl",
        "keepalived-2.2.7-outgoing.jsonl",
        "keepalived-2.2.7-splitbrain.jsonl",
    ],
)
def test_every_captured_keepalived_packet_is_valid(name: str) -> None:
    adverts = load_capture(name)
    assert len(adverts) > 15
    assert {a.vrid for a in adverts} >= {51, 53, 56}


def test_builders_reproduce_keepalived_bytes_exactly() -> None:
    """Our byte-level reading of the RFCs matches what keepalived 2.2.7 really sends."""
    seen: dict[tuple[int, str, int], bytes] = {}
    for line in (DATA / "keepalived-2.2.7-failover.jsonl").read_text().splitlines():
        rec = json.loads(line)
        raw = bytes.fromhex(rec["hex"])
        if rec["kind"] == "ipv4-packet":
            a = parse_ipv4_packet(raw)
            seen[(a.vrid, a.source, a.priority)] = raw[20:]
        else:
            a = parse_vrrp(
                raw,
                source=packed(rec["source"]),
                destination=packed(rec["destination"]),
                ttl=rec["hoplimit"],
            )
            seen[(a.vrid, a.source, a.priority)] = raw
    assert seen[(51, "198.18.23.42", 100)] == vrrp2(
        51, 100, ["198.18.23.73"], auth_type=1, auth=PASS
    )
    assert seen[(51, "198.18.23.42", 0)] == vrrp2(51, 0, ["198.18.23.73"], auth_type=1, auth=PASS)
    assert seen[(52, "198.18.23.44", 100)] == vrrp2(
        52, 100, ["198.18.23.74"], auth_type=1, auth=PASS
    )
    assert seen[(53, "198.18.23.42", 100)] == vrrp3(
        53, 100, ["198.18.23.75", "198.18.23.76"], src="198.18.23.42", dst="224.0.0.18", centis=50
    )
    assert seen[(56, LL_A, 100)] == vrrp3(56, 100, ["2001:2:0:23::56"], src=LL_A, dst="ff02::12")


def test_outgoing_capture_holds_full_ipv6_packets() -> None:
    adverts = load_capture("keepalived-2.2.7-outgoing.jsonl")
    assert {a.source for a in adverts} == {"198.18.23.42", LL_A}  # only the host's own
    assert {(a.vrid, a.priority) for a in adverts if a.source == LL_A} == {(56, 100), (56, 0)}
    assert {a.vrid for a in adverts} == {51, 53, 56}  # A's masters only


EXPECTED = {51: (["198.18.23.73"], 1.0), 52: (["198.18.23.74/32"], 1)}


def replay(adverts: list[Advert], until: float) -> tuple[WireSpeaker, ...]:
    table = SpeakerTable()
    for a in adverts:
        if a.received <= until:
            table.ingest(a)
    return table.snapshot(until)


def kinds(alarms: list[WireAlarm]) -> set[tuple[str, int]]:
    return {(a.kind.value, a.vrid) for a in alarms}


def test_real_failover_capture() -> None:
    """keepalived on A stopped at ~4 s: priority 0, then B (prio 90) takes over."""
    adverts = load_capture("keepalived-2.2.7-failover.jsonl")
    zero = min(a.received for a in adverts if a.vrid == 51 and a.priority == 0)
    take = min(a.received for a in adverts if a.vrid == 51 and a.source == "198.18.23.44")
    assert 0.4 < take - zero < 1.0  # B's skew time, (256 - 90) / 256 = 0.65 s

    for kw in ({"expected": EXPECTED}, {}):
        assert analyse(replay(adverts, zero - 0.01), zero - 0.01, **kw) == []
        at_zero = analyse(replay(adverts, zero + 0.01), zero + 0.01, **kw)
        assert kinds(at_zero) == {("leaving", 51), ("leaving", 56), ("leaving", 53)}
        after = analyse(replay(adverts, take + 0.01), take + 0.01, **kw)
        assert "split_brain" not in {k for k, _ in kinds(after)}  # priority 0 is no master
        assert "no_master" not in {k for k, _ in kinds(after)}
        end = adverts[-1].received
        assert analyse(replay(adverts, end), end, **kw) == []

    speakers = {(s.vrid, s.source): s for s in replay(adverts, take + 0.01)}
    assert speakers[(51, "198.18.23.42")].priority == 0
    assert speakers[(51, "198.18.23.44")].priority == 90

    # Had B not taken over: no master once 3 x 1 s + skew passed after the resignation.
    before_b = [a for a in adverts if (a.vrid, a.source) != (51, "198.18.23.44")]
    late = zero + 4.5
    alarms = analyse(replay(before_b, late), late, expected=EXPECTED)
    assert ("no_master", 51) in kinds(alarms)
    assert ("no_master", 52) not in kinds(alarms)


def test_real_split_brain_capture() -> None:
    """Bridge ports of A and B isolated from ~2.7 s to ~9.7 s: both become masters."""
    adverts = load_capture("keepalived-2.2.7-splitbrain.jsonl")
    b51 = [a.received for a in adverts if a.vrid == 51 and a.source == "198.18.23.44"]
    a52 = [a.received for a in adverts if a.vrid == 52 and a.source == "198.18.23.42"]
    assert b51 and a52
    hold = AlarmHold(hold=2.0)
    reported: list[float] = []
    times = [round(i * 0.25, 2) for i in range(int(adverts[-1].received * 4) + 1)]
    for t in times:
        alarms = analyse(replay(adverts, t), t, expected=EXPECTED, listening_since=0.0)
        if t < 2.5:
            assert alarms == []
        if any(a.kind is AlarmKind.SPLIT_BRAIN and a.vrid == 51 for a in alarms):
            reported.append(t)
            sb = next(a for a in alarms if a.kind is AlarmKind.SPLIT_BRAIN and a.vrid == 51)
            assert sb.sources == ("198.18.23.42", "198.18.23.44")  # highest priority first
            assert sb.severity == "critical" and "2 masters" in sb.message
        held = hold.filter(alarms, t)
        if t == max(b51):
            assert ("split_brain", 51) in kinds(held)
    assert reported, "split brain never reported"
    assert min(reported) >= min(b51) and max(reported) <= max(b51) + 1.5
    end = adverts[-1].received
    assert analyse(replay(adverts, end), end, expected=EXPECTED) == []


# --------------------------------------------------------------------------- analyse


def sp(
    vrid: int,
    source: str,
    prio: int,
    last: float,
    *,
    iface: str = "eth0",
    advert_int: float = 1.0,
    vips: tuple[str, ...] = ("198.18.23.73",),
) -> WireSpeaker:
    return WireSpeaker(vrid, iface, source, prio, advert_int, vips, 0, 2, last)


def test_split_brain_needs_both_recent_and_nonzero() -> None:
    now = 100.0
    two = [sp(51, "198.18.23.42", 100, 99.5), sp(51, "198.18.23.44", 90, 98.6)]
    [alarm] = analyse(two, now)
    assert (alarm.kind, alarm.vrid, alarm.interface) == (AlarmKind.SPLIT_BRAIN, 51, "eth0")
    stale = [sp(51, "198.18.23.42", 100, 99.5), sp(51, "198.18.23.44", 90, 98.4)]
    assert analyse(stale, now) == []  # 1.6 s > 1.5 x 1 s: B stopped advertising
    resigning = [sp(51, "198.18.23.42", 0, 99.9), sp(51, "198.18.23.44", 90, 99.8)]
    assert kinds(analyse(resigning, now)) == {("leaving", 51)}
    other_if = [sp(51, "198.18.23.42", 100, 99.5), sp(51, "198.18.24.44", 90, 99.5, iface="eth1")]
    assert analyse(other_if, now) == []  # VRIDs are per LAN
    other_family = [sp(51, "198.18.23.42", 100, 99.5), sp(51, "fe80::1", 90, 99.5)]
    assert analyse(other_family, now) == []  # and per address family
    fast = [
        sp(7, "198.18.23.42", 100, 99.9, advert_int=0.1),
        sp(7, "198.18.23.44", 90, 99.8, advert_int=0.1),
    ]
    assert analyse(fast, now) == []  # 0.2 s > 1.5 x 0.1 s
    assert analyse(fast, now, recent_factor=3) != []


def test_no_master() -> None:
    exp = {51: (["198.18.23.73"], 1.0)}
    alive = [sp(51, "198.18.23.42", 100, 95.5)]
    assert analyse(alive, 100.0, expected=exp, skew=1.6) == []  # 4.5 s < 3 x 1 + 1.6
    [a] = analyse(alive, 100.0, expected=exp)  # default skew 1 s: limit 4 s
    assert (a.kind, a.vrid, a.interface, a.sources) == (AlarmKind.NO_MASTER, 51, None, ())
    assert "4.5 s" in a.message
    [never] = analyse([], 100.0, expected=exp)
    assert never.kind is AlarmKind.NO_MASTER and "ever" in never.message
    assert analyse([], 100.0, expected=exp, listening_since=97.0) == []  # too early to say
    assert kinds(analyse([], 100.0, expected=exp, listening_since=95.0)) == {("no_master", 51)}
    resigned = [sp(51, "198.18.23.42", 0, 99.9)]
    assert kinds(analyse(resigned, 100.0, expected=exp)) == {("leaving", 51)}
    resigned = [sp(51, "198.18.23.42", 0, 95.5)]  # and nobody took over within 4 s
    assert kinds(analyse(resigned, 100.0, expected=exp)) == {("no_master", 51)}
    # Without a config: every VRID seen on the wire is watched.
    assert kinds(analyse([sp(9, "198.18.23.42", 100, 90.0)], 100.0)) == {("no_master", 9)}
    # With a config, VRIDs of other clusters on the LAN are not ours to watch.
    assert analyse([sp(9, "198.18.23.1", 100, 90.0)], 100.0, expected={}) == []


def test_vip_and_interval_mismatch() -> None:
    exp = {51: (["198.18.23.73", "2001:2::1/128"], 1.0)}
    good = sp(51, "198.18.23.42", 100, 99.9, vips=("2001:2:0:0::1", "198.18.23.73"))
    assert analyse([good], 100.0, expected=exp) == []
    wrong = sp(51, "198.18.23.42", 100, 99.9, vips=("198.18.23.73", "198.18.23.99"))
    [a] = analyse([wrong], 100.0, expected=exp)
    assert a.kind is AlarmKind.VIP_MISMATCH and a.severity == "warning"
    assert "198.18.23.99" in a.message and "2001:2::1" in a.message
    slow = sp(51, "198.18.23.42", 100, 99.9, advert_int=2.0, vips=good.vips)
    [b] = analyse([slow], 100.0, expected=exp)
    assert b.kind is AlarmKind.INTERVAL_MISMATCH and b.sources == ("198.18.23.42",)
    gone = sp(51, "198.18.23.42", 100, 80.0, vips=("198.18.23.99",))
    assert kinds(analyse([gone], 100.0, expected=exp)) == {("no_master", 51)}  # stale: no mismatch


def test_alarms_sorted_by_severity() -> None:
    exp = {51: (["198.18.23.73"], 1.0), 52: (["198.18.23.74"], 1.0), 54: ([], 1.0)}
    speakers = [
        sp(51, "198.18.23.42", 0, 99.9),
        sp(52, "198.18.23.44", 100, 99.9, vips=("198.18.23.99",)),
        sp(53, "198.18.23.42", 100, 99.9),
        sp(53, "198.18.23.44", 100, 99.9),
    ]
    got = [(a.kind.value, a.vrid) for a in analyse(speakers, 100.0, expected=exp)]
    assert got == [("split_brain", 53), ("no_master", 54), ("vip_mismatch", 52), ("leaving", 51)]


def test_alarm_hold_debounces() -> None:
    two = [sp(51, "198.18.23.42", 100, 10.0), sp(51, "198.18.23.44", 90, 10.0)]
    hold = AlarmHold(hold=2.0)
    assert hold.filter(analyse(two, 10.0), 10.0) == []
    assert hold.filter(analyse(two, 11.0), 11.0) == []
    assert hold.filter(analyse(two, 11.0), 12.0) != []  # persisted 2 s
    assert hold.filter([], 12.5) == []
    assert hold.filter(analyse(two, 10.0), 13.0) == []  # gone in between: starts over


def test_speaker_table() -> None:
    t = SpeakerTable(forget_after=60)
    base = parse_ipv4_packet(ipv4(vrrp2(51, 100, ["198.18.23.73"])), interface="eth0")

    def at(ts: float, prio: int = 100) -> Advert:
        pkt = ipv4(vrrp2(51, prio, ["198.18.23.73"]))
        return parse_ipv4_packet(pkt, interface="eth0", received=ts)

    assert base.vrid == 51
    t.ingest(at(1.0))
    t.ingest(at(2.0, prio=0))
    t.ingest(at(1.5))  # late (out of order): counted, does not win
    [s] = t.snapshot(3.0)
    assert (s.priority, s.last_seen, s.adverts) == (0, 2.0, 3)
    assert t.snapshot(62.5) == ()  # forgotten


# --------------------------------------------------------------------------- sockets

ROOT = os.geteuid() == 0 and shutil.which("ip") is not None
needs_root = pytest.mark.skipif(not ROOT, reason="needs root and iproute2 (own netns)")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def vrrp_ns() -> Iterator[tuple[str, str]]:
    """Two netns joined by veth: tx/va 198.18.99.1 (sender), rx/vb 198.18.99.2 (listener).

    Two namespaces, not one: a packet whose source is a local address is a martian.
    """
    tx, rx = f"lvstop-vtx-{os.getpid()}", f"lvstop-vrx-{os.getpid()}"
    for ns in (tx, rx):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    try:
        for ns in (tx, rx):
            _ip("netns", "add", ns)
            subprocess.run(
                ["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"],
                check=True,
            )
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", tx, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", rx)
        _ip("-n", tx, "addr", "add", "198.18.99.1/24", "dev", "va")
        _ip("-n", rx, "addr", "add", "198.18.99.2/24", "dev", "vb")
        _ip("-n", tx, "link", "set", "va", "up")
        _ip("-n", rx, "link", "set", "vb", "up")
        for ns, dev in ((tx, "va"), (rx, "vb")):  # IPv6 link-local (the v6 source) ready
            for _ in range(100):
                out = subprocess.run(
                    ["ip", "-n", ns, "-6", "addr", "show", "dev", dev, "scope", "link"],
                    capture_output=True,
                    text=True,
                ).stdout
                if "fe80::" in out and "tentative" not in out:
                    break
                time.sleep(0.05)
        yield tx, rx
    finally:
        for ns in (tx, rx):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


# Runs in rx: the thread wrapper listens on vb (IPv4 + IPv6) until stdin says "done".
RX = textwrap.dedent(
    """
    import json, sys, time
    from lvstop.sources.vrrp_listen import VrrpListenerThread

    got = []
    rx = VrrpListenerThread(["vb"], ipv6=True, on_advert=got.append)
    rx.start()
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(got) < 4:
        time.sleep(0.05)
    time.sleep(0.2)
    rx.stop()
    print(json.dumps({
        "got": [[a.version, a.vrid, a.priority, a.advert_int, list(a.vips), a.source,
                 a.destination, a.interface, a.outgoing] for a in got],
        "invalid": rx.listener.invalid,
        "stats": rx.listener.stats,
        "speakers": [[s.vrid, s.source, s.adverts] for s in rx.snapshot()],
        "recent": [[i.reason, i.source, i.interface] for i in rx.listener.recent_invalid],
    }))
    """
)

# Runs in tx: sends crafted packets from va and captures them as this host's own.
TX = textwrap.dedent(
    """
    import json, socket, struct, sys, time
    sys.path.insert(0, sys.argv[1])
    from test_vrrp_listen import ipv4, vrrp2, vrrp3
    from lvstop.sources.vrrp_listen import VrrpListener

    own = VrrpListener(["va"], ipv6=True, outgoing=True)
    va = socket.if_nametoindex("va")
    s4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # header incl.
    s4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, struct.pack(
        "4s4si", socket.inet_aton("224.0.0.18"), socket.inet_aton("0.0.0.0"), va))
    s4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)  # as keepalived does
    S, G = "198.18.99.1", "224.0.0.18"
    good2 = vrrp2(7, 150, ["198.18.99.10"])
    packets = [
        ipv4(good2, src=S),
        ipv4(vrrp3(8, 200, ["198.18.99.11", "198.18.99.12"], src=S, dst=G, centis=35), src=S),
        ipv4(good2, src=S, ttl=64),
        ipv4(vrrp2(7, 150, ["198.18.99.10"], bad_checksum=True), src=S),
        ipv4(vrrp3(8, 200, ["198.18.99.11"], src=S, dst=G, with_pseudo=False), src=S),
        ipv4(vrrp2(7, 150, ["198.18.99.10"], first=0x11), src=S),
        ipv4(vrrp2(7, 150, ["198.18.99.10"], first=0x22), src=S),
        ipv4(vrrp2(7, 150, ["198.18.99.10"], count=5), src=S),
    ]
    for p in packets:
        s4.sendto(p, (G, 0))
    s4.sendto(ipv4(vrrp2(10, 1, ["198.18.99.13"]), src=S, dst="198.18.99.2"), ("198.18.99.2", 0))

    s6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, va)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    s6.setsockopt(socket.IPPROTO_IPV6, 7, 6)  # IPV6_CHECKSUM at offset 6, like keepalived
    v6 = bytes([0x31, 9, 100, 1, 0, 100, 0, 0]) + socket.inet_pton(socket.AF_INET6, "2001:2::9")
    s6.sendto(v6, ("ff02::12", 0, 0, va))
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
    s6.sendto(v6, ("ff02::12", 0, 0, va))

    mine = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and len(mine) < 5:
        mine += own.poll(0.1)
    print(json.dumps({"own": [[a.vrid, a.source, a.outgoing] for a in mine],
                      "own_invalid": own.invalid}))
    """
)


@needs_root
def test_sockets_in_namespaces(vrrp_ns: tuple[str, str]) -> None:
    tx, rx = vrrp_ns
    listener = subprocess.Popen(
        ["ip", "netns", "exec", rx, sys.executable, "-c", RX],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert listener.stdout is not None and listener.stdin is not None
        assert listener.stdout.readline().strip() == "ready"
        sent = subprocess.run(
            ["ip", "netns", "exec", tx, sys.executable, "-c", TX, str(Path(__file__).parent)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert sent.returncode == 0, sent.stderr
        listener.stdin.write("done\n")
        listener.stdin.flush()
        out, err = listener.communicate(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
    assert listener.returncode == 0, err
    res = json.loads(out)
    got = {(g[1], g[6]): g for g in res["got"]}
    assert got[(7, "224.0.0.18")] == [
        2,
        7,
        150,
        1.0,
        ["198.18.99.10"],
        "198.18.99.1",
        "224.0.0.18",
        "vb",
        False,
    ]
    assert got[(8, "224.0.0.18")][:5] == [3, 8, 200, 0.35, ["198.18.99.11", "198.18.99.12"]]
    assert got[(10, "198.18.99.2")][5] == "198.18.99.1"  # unicast advert: no join needed
    v6 = got[(9, "ff02::12")]
    assert v6[4] == ["2001:2::9"] and v6[5].startswith("fe80::") and v6[7] == "vb"
    assert len(res["got"]) == 4
    assert res["invalid"] == {"ttl": 2, "checksum": 2, "version": 1, "type": 1, "length": 1}
    assert res["stats"]["adverts"] == 4 and res["stats"]["invalid"] == 7
    assert {r[0] for r in res["recent"]} == {"ttl", "checksum", "version", "type", "length"}
    assert {r[2] for r in res["recent"]} == {"vb"}
    assert sorted(v[0] for v in res["speakers"]) == [7, 8, 9, 10]
    # The sender's own adverts: only through the packet socket (outgoing=True).
    mine = json.loads(sent.stdout)
    # The sender's own adverts: only through the packet socket (outgoing=True); the raw
    # socket does not see them, as the sender switched multicast loopback off.
    assert sorted((o[0], o[2]) for o in mine["own"]) == [
        (7, True),
        (8, True),
        (9, True),
        (10, True),
    ]
    assert {o[1] for o in mine["own"] if o[0] != 9} == {"198.18.99.1"}
    assert mine["own_invalid"] == res["invalid"]


def test_without_cap_net_raw_is_a_clear_source_error() -> None:
    code = (
        "from lvstop.sources.vrrp_listen import VrrpListener\n"
        "from lvstop.errors import SourceError\n"
        "try:\n    VrrpListener(['lo'])\nexcept SourceError as e:\n    print('SourceError:', e)\n"
    )
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root")
        argv = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            sys.executable,
            "-c",
            code,
        ]
    else:
        argv = [sys.executable, "-c", code]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "SourceError:" in out.stdout and "CAP_NET_RAW" in out.stdout


def test_unknown_interface_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="no interface"):
        VrrpListener(["lvstop-no-such-if0"])
    with pytest.raises(SourceError, match="no interface given"):
        VrrpListener([])


def test_cli_help_does_not_need_privileges() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lvstop.sources.vrrp_listen", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0 and "--outgoing" in out.stdout


def test_no_textual_or_pyroute2_import() -> None:
    code = "import sys, lvstop.sources.vrrp_listen, lvstop.sources.rtnl_events; print(*sys.modules)"
    mods = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not {m for m in mods if m.split(".")[0] in ("textual", "rich", "pyroute2")}


def test_socket_module_gives_linux_constants() -> None:
    assert socket.AF_PACKET == 17
