"""The netlink decoder on messages laid out exactly as ip_vs_genl_fill_* writes them.

The real kernel is exercised in the lab tier; here we pin the decoding rules (port
byte order, v6 netmask, fwmark keys) and that the fast template path and the
generic path always agree, including when the layout changes under the same length.
"""

from __future__ import annotations

import errno
import gc
import socket
import struct
import sys

import pytest

from lvstop.errors import SourceError
from lvstop.model import Family, Forward, Protocol
from lvstop.model.ipvs import ZERO_COUNTERS, ZERO_RATES
from lvstop.sources import ipvs_netlink as nl
from lvstop.sources.genl import GENL_HDR, NLMSG_HDR, GenlSocket, nla, nla_nested


def _stats(conns: int, inpkts: int, inbytes: int, cps: int) -> tuple[bytes, bytes]:
    s32 = b"".join(
        [
            nla(1, struct.pack("=I", conns)),
            nla(2, struct.pack("=I", inpkts)),
            nla(3, struct.pack("=I", 0)),
            nla(4, struct.pack("=Q", inbytes)),
            nla(5, struct.pack("=Q", 0)),
            nla(6, struct.pack("=I", cps)),
            nla(7, struct.pack("=I", 0)),
            nla(8, struct.pack("=I", 0)),
            nla(9, struct.pack("=I", 0)),
            nla(10, struct.pack("=I", 0)),
        ]
    )
    s64 = b"".join(
        nla(i, struct.pack("=Q", v))
        for i, v in enumerate((conns, inpkts, 0, inbytes, 0, cps, 0, 0, 0, 0), start=1)
    )
    return s32, s64


def _msg(cmd: int, body: bytes) -> bytearray:
    payload = GENL_HDR.pack(cmd, 1, 0) + body
    return bytearray(NLMSG_HDR.pack(16 + len(payload), 0x20, 2, 7, 0) + payload)


def dest_msg(
    addr: str,
    port: int,
    weight: int,
    fwd: int = 3,
    active: int = 0,
    conns: int = 0,
    tun_port: int = 0,
    family: int = socket.AF_INET,
    with_tun: bool = True,
) -> bytearray:
    raw = socket.inet_pton(family, addr).ljust(16, b"\0")
    s32, s64 = _stats(conns, conns * 6, conns * 400, 1 if conns else 0)  # idle: all zero
    attrs = [
        nla(1, raw),
        nla(2, struct.pack("!H", port)),
        nla(3, struct.pack("=I", fwd)),
        nla(4, struct.pack("=i", weight)),
    ]
    if with_tun:
        attrs += [
            nla(13, b"\1"),
            nla(14, struct.pack("!H", tun_port)),
            nla(15, struct.pack("=H", 1)),
        ]
    attrs += [
        nla(5, struct.pack("=I", 100)),
        nla(6, struct.pack("=I", 10)),
        nla(7, struct.pack("=I", active)),
        nla(8, struct.pack("=I", 2)),
        nla(9, struct.pack("=I", 3)),
        nla(11, struct.pack("=H", family)),
        nla_nested(10, s32),
        nla_nested(12, s64),
    ]
    return _msg(8, nla_nested(2, *attrs))


def svc_msg(
    addr: str | None,
    port: int,
    sched: str,
    fwmark: int = 0,
    family: int = socket.AF_INET,
    netmask: bytes = b"\xff\xff\xff\xff",
    timeout: int = 0,
    flags: int = 2,
    pe: str | None = None,
) -> bytearray:
    attrs = [nla(1, struct.pack("=H", family))]
    if fwmark:
        attrs.append(nla(5, struct.pack("=I", fwmark)))
    else:
        assert addr is not None
        attrs += [
            nla(2, struct.pack("=H", socket.IPPROTO_TCP)),
            nla(3, socket.inet_pton(family, addr).ljust(16, b"\0")),
            nla(4, struct.pack("!H", port)),
        ]
    attrs.append(nla(6, sched.encode() + b"\0"))
    if pe:
        attrs.append(nla(11, pe.encode() + b"\0"))
    s32, s64 = _stats(30, 180, 12330, 2)
    attrs += [
        nla(7, struct.pack("=II", flags, 0xFFFFFFFF)),
        nla(8, struct.pack("=I", timeout)),
        nla(9, netmask),
        nla_nested(10, s32),
        nla_nested(12, s64),
    ]
    return _msg(1, nla_nested(1, *attrs))


def test_dest_fast_path_equals_generic_path() -> None:
    dec = nl._Decoder(nl.DEST_KEYS)
    first = dec.decode(*_args(dest_msg("198.18.23.4", 8765, 5, conns=30)))
    assert dec.slow == 1 and dec.fast == 0
    second = dec.decode(*_args(dest_msg("198.18.23.10", 8765, 7, active=4, conns=9)))
    assert dec.fast == 1
    generic = nl._Decoder(nl.DEST_KEYS).decode(
        *_args(dest_msg("198.18.23.10", 8765, 7, active=4, conns=9))
    )
    assert second == generic
    rs = nl._dest_from(first, socket.AF_INET)
    assert (rs.address, rs.port, rs.weight, rs.forward) == ("198.18.23.4", 8765, 5, Forward.ROUTE)
    assert (rs.u_threshold, rs.l_threshold, rs.inactive_conns, rs.persistent_conns) == (
        100,
        10,
        2,
        3,
    )
    assert rs.stats.conns == 30 and rs.stats.inbytes == 12000 and rs.rates.cps == 1.0
    assert rs.tun_flags == 1 and rs.tun_type == 1


def test_same_length_different_layout_falls_back() -> None:
    dec = nl._Decoder(nl.DEST_KEYS)
    a = dest_msg("198.18.23.4", 80, 1)
    dec.decode(*_args(a))
    # Swap two attributes of equal size: same length, different headers.
    b = dest_msg("198.18.23.4", 80, 9)
    i5 = b.find(struct.pack("=HH", 8, 5))
    i6 = b.find(struct.pack("=HH", 8, 6))
    b[i5 : i5 + 8], b[i6 : i6 + 8] = b[i6 : i6 + 8], b[i5 : i5 + 8]
    out = dec.decode(*_args(b))
    assert dec.slow == 2
    assert out[nl.DEST_KEYS.index(("dest", nl.D_UTHR))] == 100
    assert out[nl.DEST_KEYS.index(("dest", nl.D_WEIGHT))] == 9
    # A third message of that second shape now takes the fast path too.
    dec.decode(*_args(b))
    assert dec.fast == 1


def test_old_kernel_without_tunnel_attributes() -> None:
    out = nl._Decoder(nl.DEST_KEYS).decode(*_args(dest_msg("198.18.23.4", 80, 1, with_tun=False)))
    rs = nl._dest_from(out, socket.AF_INET)
    assert rs.tun_type == 0 and rs.tun_port == 0 and rs.weight == 1


def test_ipv6_dest_and_tunnel_port_byte_order() -> None:
    msg = dest_msg("2001:db8::10", 443, 3, fwd=2, tun_port=6080, family=socket.AF_INET6)
    rs = nl._dest_from(nl._Decoder(nl.DEST_KEYS).decode(*_args(msg)), socket.AF_INET)
    assert rs.address == "2001:db8::10" and rs.family is Family.INET6
    assert rs.forward is Forward.TUNNEL and rs.tun_port == 6080 and rs.port == 443


def test_service_v4_persistent_and_selector() -> None:
    d = nl._Decoder(nl.SERVICE_KEYS).decode(
        *_args(svc_msg("198.18.23.73", 8765, "rr", timeout=120, flags=3))
    )
    svc = nl._service_from(d, ())
    selector = nl._selector(d)
    assert svc.key.protocol is Protocol.TCP and svc.key.address == "198.18.23.73"
    assert svc.key.port == 8765 and svc.timeout == 120 and svc.persistent
    assert svc.netmask == 32 and svc.stats.conns == 30 and svc.stats.inbytes == 12330
    assert svc.rates.cps == 2.0 and svc.scheduler == "rr"
    # The dest dump request names the service by AF + protocol + address + port.
    assert selector == nla_nested(
        1,
        nla(1, struct.pack("=H", socket.AF_INET)),
        nla(2, struct.pack("=H", socket.IPPROTO_TCP)),
        nla(3, socket.inet_aton("198.18.23.73").ljust(16, b"\0")),
        nla(4, struct.pack("!H", 8765)),
    )


def test_service_v6_netmask_fwmark_and_pe() -> None:
    v6 = nl._Decoder(nl.SERVICE_KEYS).decode(
        *_args(
            svc_msg(
                "2001:db8::1",
                80,
                "wlc",
                family=socket.AF_INET6,
                netmask=struct.pack("=I", 64),
                timeout=300,
                flags=3,
                pe="sip",
            )
        )
    )
    svc = nl._service_from(v6, ())
    assert svc.key.family is Family.INET6 and svc.netmask == 64 and svc.pe_name == "sip"
    fw = nl._Decoder(nl.SERVICE_KEYS).decode(
        *_args(svc_msg(None, 0, "sh", fwmark=42, flags=2 | 8 | 16))
    )
    svc = nl._service_from(fw, ())
    assert nl._selector(fw) == nla_nested(
        1, nla(1, struct.pack("=H", socket.AF_INET)), nla(5, struct.pack("=I", 42))
    )
    assert svc.key.fwmark == 42 and svc.key.address is None and svc.key.protocol is None
    assert svc.flag_names == ("sh-fallback", "sh-port")
    v4mask = nl._Decoder(nl.SERVICE_KEYS).decode(
        *_args(
            svc_msg(
                "198.18.23.73",
                80,
                "rr",
                netmask=socket.inet_aton("255.255.255.0"),
                timeout=60,
                flags=3,
            )
        )
    )
    assert nl._service_from(v4mask, ()).netmask == 24


def _args(msg: bytearray) -> tuple[bytearray, int, int, int]:
    return msg, 0, len(msg), 7  # buffer, offset, length, the request's sequence number


def whole(dec: nl._Decoder, buf: memoryview, n: int, seq: int) -> list[tuple[object, ...]] | None:
    """The whole-datagram path, in canonical key order."""
    got = dec.decode_raw(buf, n, seq)
    return None if got is None else nl.canonical(*got)


def test_whole_datagram_path_equals_per_message_path() -> None:
    msgs = [dest_msg(f"198.18.23.{i}", 80, i, conns=i * 3) for i in range(1, 11)]
    datagram = memoryview(bytearray(b"".join(msgs)))
    slow = nl._Decoder(nl.DEST_KEYS)
    per_message = [slow.decode(m, 0, len(m), 7) for m in msgs]
    fast = nl._Decoder(nl.DEST_KEYS)
    assert whole(fast, datagram, len(datagram), 7) is None  # no layout known yet
    fast.decode(msgs[0], 0, len(msgs[0]), 7)
    assert whole(fast, datagram, len(datagram), 7) == per_message
    assert fast.fast == 10
    # Another request's sequence number, or one message shaped differently: refused.
    assert whole(fast, datagram, len(datagram), 8) is None
    odd = bytearray(datagram)
    i5 = odd.find(struct.pack("=HH", 8, 5), len(msgs[0]) * 4)
    i6 = odd.find(struct.pack("=HH", 8, 6), i5)
    odd[i5 : i5 + 8], odd[i6 : i6 + 8] = odd[i6 : i6 + 8], odd[i5 : i5 + 8]
    assert whole(fast, memoryview(odd), len(odd), 7) is None


@pytest.mark.parametrize("with_tun", [True, False])
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_layout_builder_equals_the_canonical_builder(with_tun: bool, family: int) -> None:
    """Each layout builds real servers straight from its struct rows; the result must
    equal the canonical path's, also when the layout lacks attributes (old kernel)."""
    addr = "2001:db8::%d" if family == socket.AF_INET6 else "198.18.23.%d"
    msgs = [
        dest_msg(addr % i, 80 + i, i, conns=i * 3, active=i, with_tun=with_tun, family=family)
        for i in range(1, 6)
    ]
    msgs.append(dest_msg(addr % 9, 8765, 0, with_tun=with_tun, family=family))  # idle
    datagram = memoryview(bytearray(b"".join(msgs)))
    dec = nl._Decoder(nl.DEST_KEYS, nl._dest_builder)
    assert dec.learn(datagram, len(datagram), 7) and not dec.learn(datagram, len(datagram), 7)
    got = dec.decode_raw(datagram, len(datagram), 7)
    assert got is not None and got[0].build is not None
    layout, rows = got
    built = [layout.build(r, socket.AF_INET) for r in rows]
    want = [nl._dest_from(v, socket.AF_INET) for v in nl.canonical(layout, rows)]
    assert built == want
    assert built[-1].stats is ZERO_COUNTERS and built[-1].rates is ZERO_RATES
    assert built[0].stats.conns == 3 and built[0].port == 81


def test_datagram_ending_in_done_is_left_to_the_walker() -> None:
    from lvstop.sources.genl import NLMSG_HDR, GenlSocket

    msgs = [dest_msg(f"198.18.23.{i}", 80, 1) for i in range(1, 4)]
    done = NLMSG_HDR.pack(20, 3, 2, 7, 0) + bytes(4)
    datagram = memoryview(bytearray(b"".join(msgs) + done))
    dec = nl._Decoder(nl.DEST_KEYS)
    dec.decode(msgs[0], 0, len(msgs[0]), 7)
    assert whole(dec, datagram, len(datagram), 7) is None
    positions, finished = GenlSocket.walk(datagram, len(datagram), 7)
    assert finished and len(positions) == 3


# A fake IPVS socket for whole polls (also used by tests/bench/bench_decode.py).

SEQ = 7  # what the test message builders put in every nlmsghdr
DONE = NLMSG_HDR.pack(20, 3, 2, SEQ, 0) + bytes(4)
ERROR_ENOENT = NLMSG_HDR.pack(36, 2, 0, SEQ, 0) + struct.pack("=i", -errno.ENOENT) + bytes(16)


class FakeSock:
    """Answers dumps from pre-built datagrams, one datagram per service's dests."""

    family_id = 0x20

    def __init__(self, services: int, dests: int, busy: bool, every: int = 1) -> None:
        self.services = bytearray()
        self.dests: dict[bytes, bytearray] = {}
        self.busy = busy
        self.every = every  # busy: only every n-th dest of a service moves
        self.split = False  # answer each dest dump in two datagrams
        self.poll = 0  # dest dumps answered so far
        self.fail_after: int | None = None  # answer ENOENT from this dest dump on
        for i in range(services):
            vip = f"198.19.{i // 250}.{i % 250 + 1}"
            msg = svc_msg(vip, 80, ("rr", "wrr", "wlc", "lc")[i % 4], timeout=120, flags=3)
            self.services += msg
            v = nl._Decoder(nl.SERVICE_KEYS).decode(msg, 0, len(msg), SEQ)
            datagram = bytearray()
            for j in range(dests):
                datagram += dest_msg(
                    f"198.18.{100 + i % 40}.{j + 1}",
                    80,
                    (i + j) % 50,
                    fwd=(0, 2, 3)[(i + j) % 3],
                    conns=(i * j) % 7,
                )
            self.dests[nl._selector(v)] = datagram

    def send(self, msg_type: int, cmd: int, version: int, payload: bytes, flags: int) -> int:
        buf = self.services if cmd == nl.IPVS_CMD_GET_SERVICE else self.dests[payload]
        if self.busy and cmd == nl.IPVS_CMD_GET_DEST:
            buf = bytearray(buf)  # counters move on every poll: nothing can be reused
            off = index = 0
            while off < len(buf):  # bump each (n-th) dest's last counter
                end = off + int.from_bytes(buf[off : off + 4], sys.byteorder)
                if index % self.every == 0:
                    buf[end - 8 : end - 4] = (self.poll + 1).to_bytes(4, sys.byteorder)
                off, index = end, index + 1
        if self.fail_after is not None and self.poll >= self.fail_after:
            buf = bytearray(ERROR_ENOENT)
            self.queue = [buf]
            return SEQ
        if cmd == nl.IPVS_CMD_GET_DEST:
            self.poll += 1
        self.queue = [buf, bytearray(DONE)]
        if self.split and cmd == nl.IPVS_CMD_GET_DEST:  # a big service: two datagrams
            cut = int.from_bytes(buf[0:4], sys.byteorder) * 3
            self.queue = [buf[:cut], buf[cut:], bytearray(DONE)]
        return SEQ

    def recv(self) -> tuple[memoryview, int]:
        data = self.queue.pop(0)
        return memoryview(data), len(data)

    walk = staticmethod(GenlSocket.walk)


def fake_reader(sock: FakeSock) -> nl.IpvsNetlink:
    """An IpvsNetlink on a fake socket."""
    r = object.__new__(nl.IpvsNetlink)
    r._sock = sock  # type: ignore[assignment]
    r._start_decoding()
    return r


@pytest.mark.parametrize("busy", [False, True])
def test_whole_poll_reuses_only_what_did_not_change(busy: bool) -> None:
    sock = FakeSock(50, 10, busy)
    r = fake_reader(sock)
    first = r.read()
    second = r.read()
    assert len(second) == 50 and sum(len(s.real_servers) for s in second) == 500
    fresh = fake_reader(FakeSock(50, 10, False)).read()
    if busy:  # every counter moved: new objects with the new values
        assert all(
            a.real_servers[0] is not b.real_servers[0] for a, b in zip(first, second, strict=True)
        )
        assert second[0].real_servers[0].rates.outbps != first[0].real_servers[0].rates.outbps
    else:  # nothing moved: the same objects, equal to a cold read
        assert all(a.real_servers is b.real_servers for a, b in zip(first, second, strict=True))
        assert second == fresh
    assert gc.isenabled()


def test_servers_that_did_not_move_are_reused_beside_ones_that_did() -> None:
    sock = FakeSock(20, 10, busy=True, every=3)
    r = fake_reader(sock)
    first = r.read()
    second = r.read()
    cold = fake_reader(sock)
    sock.poll -= 20  # the same counters again, for a reader with nothing to reuse
    assert second == cold.read()
    for a, b in zip(first, second, strict=True):
        same = [x is y for x, y in zip(a.real_servers, b.real_servers, strict=True)]
        assert same == [i % 3 != 0 for i in range(10)]  # dests 0, 3, 6, 9 moved


def test_dests_over_several_datagrams_read_as_in_one() -> None:
    sock = FakeSock(20, 10, busy=False)
    want = fake_reader(sock).read()
    sock.split = True
    r = fake_reader(sock)
    first = r.read()
    assert first == want
    second = r.read()
    assert second == want
    assert all(a.real_servers is b.real_servers for a, b in zip(first, second, strict=True))


def test_dump_error_mid_poll_is_one_clean_error() -> None:
    """A dest dump failing mid-poll (the service was deleted meanwhile)."""
    sock = FakeSock(20, 4, False)
    r = fake_reader(sock)
    sock.fail_after = 10
    with pytest.raises(SourceError, match="IPVS netlink dump failed: No such file"):
        r.read()
    assert gc.isenabled()
    sock.fail_after = None
    assert len(r.read()) == 20
