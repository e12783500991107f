"""procfs parsers: real captures (checked against ipvsadm) and kernel-format lines."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from lvstop.errors import NotADirector, SourceError
from lvstop.model.ipvs import (
    SVC_F_HASHED,
    SVC_F_ONEPACKET,
    SVC_F_PERSISTENT,
    Counters,
    Family,
    Forward,
    Protocol,
    Rates,
    ServiceKey,
)
from lvstop.sources.procfs import (
    kernel_hz,
    parse_ip_vs,
    parse_ip_vs_stats,
    read_ip_vs,
    read_totals,
)

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"
HEADER = (
    "IP Virtual Server version 1.2.1 (size=4096)\n"
    "Prot LocalAddress:Port Scheduler Flags\n"
    "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
)


# --- the kernel's format strings (ip_vs_info_seq_show), %pI6 spelled %s ---------------

SVC_V4 = "%s  %08X:%04X %s %s "  # proto, ntohl(addr), ntohs(port), sched, "ops " or ""
SVC_V6 = "%s  [%s]:%04X %s "  # proto, %pI6 addr, ntohs(port), sched
SVC_FWM = "FWM  %08X %s %s"  # fwmark, sched, "ops " or ""
PERSISTENT = "persistent %d %08X\n"  # svc->timeout (jiffies), ntohl(svc->netmask)
DEST_V4 = "  -> %08X:%04X      %-7s %-6d %-10d %-10d\n"
DEST_V6 = "  -> [%s]:%04X      %-7s %-6d %-10d %-10d\n"
OLD_SVC_V6 = "%s  [%s]:%04X %s%s "  # older kernels: sched, " ops" or ""


def _pi6(address: str) -> str:
    """%pI6: eight groups of four lower-case hex digits."""
    return ipaddress.IPv6Address(address).exploded


def _svc(proto: str, address: str, port: int, sched: str, *, ops: bool = False) -> str:
    if ":" in address:
        return SVC_V6 % (proto, _pi6(address), port, sched)
    ip = int(ipaddress.IPv4Address(address))
    return SVC_V4 % (proto, ip, port, sched, "ops " if ops else "")


def _fwm(mark: int, sched: str, *, ops: bool = False) -> str:
    return SVC_FWM % (mark, sched, "ops " if ops else "")


def _persistent(jiffies: int, netmask_field: int) -> str:
    return PERSISTENT % (jiffies, netmask_field)


def _dest(address: str, port: int, fwd: str, weight: int, active: int, inactive: int) -> str:
    if ":" in address:
        return DEST_V6 % (_pi6(address), port, fwd, weight, active, inactive)
    ip = int(ipaddress.IPv4Address(address))
    return DEST_V4 % (ip, port, fwd, weight, active, inactive)


def _le_plen(plen: int) -> int:
    """What a little-endian kernel prints for an IPv6 prefix length: ntohl(plen)."""
    return int.from_bytes(plen.to_bytes(4, "little"), "big")


# --- captures ------------------------------------------------------------------------


def _ipvsadm_rows(name: str) -> list[tuple[str, list[int]]]:
    """(address:port, numbers) rows of an `ipvsadm -L -n --stats/--rate` capture."""
    rows = []
    for line in (CAPTURES / name).read_text().splitlines()[3:]:
        f = line.split()
        if f[0] == "->":
            rows.append(("  " + f[1], [int(x) for x in f[2:]]))
        else:
            rows.append((f[1], [int(x) for x in f[2:]]))
    return rows


def test_capture_ip_vs_matches_ipvsadm() -> None:
    size, services = parse_ip_vs((CAPTURES / "proc-ip_vs.txt").read_text(), hz=250)
    assert size == 4096  # ipvsadm's header line says the same
    listed = [
        f"{s.key.address}:{s.key.port}" if not rs else f"  {rs.address}:{rs.port}"
        for s in services
        for rs in (None, *s.real_servers)
    ]
    assert listed == [addr for addr, _ in _ipvsadm_rows("ipvsadm-stats.txt")]
    for svc in services:
        assert svc.key.protocol is Protocol.TCP and svc.key.family is Family.INET
        assert svc.scheduler == "rr"
        # keepalived's persistence_timeout 120 on a CONFIG_HZ=250 kernel: "persistent 30000"
        assert svc.timeout == 120 and svc.persistent and svc.netmask == 32
        assert svc.flags == SVC_F_PERSISTENT | SVC_F_HASHED
        (rs,) = svc.real_servers
        assert (rs.forward, rs.weight, rs.active_conns, rs.inactive_conns) == (
            Forward.ROUTE,
            1,
            0,
            0,
        )
        assert rs.stats == Counters() and rs.rates == Rates()  # procfs has none


@pytest.mark.parametrize("name", ["proc-ip_vs_stats.txt", "proc-ip_vs_stats_percpu.txt"])
def test_capture_totals_match_ipvsadm(name: str) -> None:
    totals = parse_ip_vs_stats((CAPTURES / name).read_text())
    services = [nums for addr, nums in _ipvsadm_rows("ipvsadm-stats.txt") if addr[0] != " "]
    assert totals.stats == Counters(*(sum(col) for col in zip(*services, strict=True)))
    assert totals.stats == Counters(conns=30, inpkts=180, outpkts=0, inbytes=12330, outbytes=0)
    rates = [nums for addr, nums in _ipvsadm_rows("ipvsadm-rate.txt") if addr[0] != " "]
    assert totals.rates == Rates(*(float(sum(col)) for col in zip(*rates, strict=True)))


def test_read_functions_on_capture_files() -> None:
    size, services = read_ip_vs(str(CAPTURES / "proc-ip_vs.txt"), hz=100)
    assert size == 4096 and [s.timeout for s in services] == [300, 300]
    assert read_totals(str(CAPTURES / "proc-ip_vs_stats.txt")).stats.conns == 30


# --- synthetic lines -----------------------------------------------------------------


def test_all_shapes_of_service_and_destination() -> None:
    text = (
        HEADER
        + _svc("TCP", "192.0.2.10", 80, "wlc")
        + "\n"
        + _dest("10.0.0.1", 8080, "Masq", 3, 12, 40)
        + _dest("10.0.0.2", 8080, "Local", 0, 0, 1)
        + _svc("UDP", "192.0.2.10", 53, "rr", ops=True)
        + "\n"
        + _dest("10.0.0.3", 53, "Route", 1, 0, 0)
        + _svc("SCTP", "192.0.2.11", 2905, "sh")
        + _persistent(300 * 250, 0xFFFFFF00)
        + _dest("10.0.0.4", 2905, "Tunnel", 100, 7, 0)
        + _dest("2001:db8::4", 2905, "Tunnel", 100, 0, 0)  # mixed-family tunnel
        + _svc("TCP", "2001:db8::10", 443, "mh")
        + _persistent(600 * 250, _le_plen(64))
        + _dest("2001:db8:1::1", 443, "Route", 5, 1, 2)
        + _svc("TCP", "2001:db8::11", 443, "lc")
        + "\n"
    )
    size, services = parse_ip_vs(text, hz=250)
    assert size == 4096
    by_key = {s.key: s for s in services}
    web = by_key[ServiceKey.inet(Protocol.TCP, "192.0.2.10", 80)]
    assert web.scheduler == "wlc" and web.flags == SVC_F_HASHED and web.timeout == 0
    assert [
        (r.address, r.port, r.forward, r.weight, r.active_conns, r.inactive_conns)
        for r in web.real_servers
    ] == [
        ("10.0.0.1", 8080, Forward.MASQ, 3, 12, 40),
        ("10.0.0.2", 8080, Forward.LOCAL, 0, 0, 1),
    ]
    dns = by_key[ServiceKey.inet(Protocol.UDP, "192.0.2.10", 53)]
    assert dns.flags == SVC_F_HASHED | SVC_F_ONEPACKET and "one-packet" in dns.flag_names
    sctp = by_key[ServiceKey.inet(Protocol.SCTP, "192.0.2.11", 2905)]
    assert sctp.persistent and sctp.timeout == 300 and sctp.netmask == 24
    assert [(r.address, r.family) for r in sctp.real_servers] == [
        ("10.0.0.4", Family.INET),
        ("2001:db8::4", Family.INET6),
    ]
    v6 = by_key[ServiceKey.inet(Protocol.TCP, "2001:db8::10", 443)]
    assert v6.key.family is Family.INET6 and v6.timeout == 600 and v6.netmask == 64
    assert v6.real_servers[0].address == "2001:db8:1::1"  # compressed, canonical
    plain6 = by_key[ServiceKey.inet(Protocol.TCP, "2001:db8::11", 443)]
    assert plain6.netmask == 128 and not plain6.real_servers


@pytest.mark.parametrize(
    ("field", "plen"),
    [(_le_plen(128), 128), (_le_plen(64), 64), (_le_plen(1), 1), (64, 64), (128, 128)],
)
def test_ipv6_persistence_prefix_on_either_byte_order(field: int, plen: int) -> None:
    text = HEADER + _svc("TCP", "2001:db8::1", 80, "rr") + _persistent(250, field)
    (svc,) = parse_ip_vs(text, hz=250)[1]
    assert svc.netmask == plen and svc.timeout == 1


@pytest.mark.parametrize(
    ("mask", "prefix"), [(0xFFFFFFFF, 32), (0xFFFF0000, 16), (0, 0), (0xFF00FF00, 8)]
)
def test_ipv4_persistence_netmask(mask: int, prefix: int) -> None:
    text = HEADER + _svc("TCP", "192.0.2.1", 80, "rr") + _persistent(250, mask)
    assert parse_ip_vs(text, hz=250)[1][0].netmask == prefix


def test_fwmark_services_and_their_family() -> None:
    text = (
        HEADER
        + _fwm(1, "wlc")
        + _persistent(120 * 250, 0xFFFFFFFF)
        + _dest("10.0.0.1", 0, "Route", 1, 0, 0)
        + _fwm(1, "wlc")  # same mark, IPv6: told apart by a non-tunnel destination
        + "\n"
        + _dest("2001:db8::1", 0, "Route", 1, 0, 0)
        + _fwm(2, "rr", ops=True)  # only tunnels; the prefix field can only be IPv6
        + _persistent(250, _le_plen(64))
        + _dest("10.0.0.2", 0, "Tunnel", 1, 0, 0)
        + _fwm(0x10, "sh")  # no destinations at all: IPv4
        + "\n"
    )
    services = parse_ip_vs(text, hz=250)[1]
    keys = [s.key for s in services]
    assert keys == [
        ServiceKey.mark(1, Family.INET),
        ServiceKey.mark(1, Family.INET6),
        ServiceKey.mark(2, Family.INET6),
        ServiceKey.mark(16, Family.INET),
    ]
    assert all(k.is_fwmark and k.protocol is None and k.address is None for k in keys)
    assert services[0].timeout == 120 and services[0].netmask == 32
    assert services[2].netmask == 64 and services[2].flags & SVC_F_ONEPACKET


def test_older_kernel_ops_spelling_and_missing_size() -> None:
    # Some kernels printed "%s%s " with " ops", and very old ones no table size.
    text = "IP Virtual Server version 1.2.1\n" + HEADER.split("\n", 1)[1]
    text += OLD_SVC_V6 % ("TCP", _pi6("2001:db8::1"), 80, "wlc", " ops") + "\n"
    size, (svc,) = parse_ip_vs(text)
    assert size == 0 and svc.flags & SVC_F_ONEPACKET


def test_empty_table() -> None:
    assert parse_ip_vs(HEADER) == (4096, [])


@pytest.mark.parametrize(
    ("body", "lineno", "words"),
    [
        (
            _svc("TCP", "192.0.2.1", 80, "rr") + "\n" + "  -> C0A80001:0050 Bounce 1 0 0\n",
            5,
            "forwarding",
        ),
        ("  -> C0A80001:0050      Route   1      0          0\n", 4, "before any service"),
        ("TCP  C0A8000G:0050 rr \n", 4, "address"),
        ("ICMP  C0A80001:0050 rr \n", 4, "protocol"),
        (_svc("TCP", "192.0.2.1", 80, "rr") + "persistent x FFFFFFFF\n", 4, "number"),
        (
            _svc("TCP", "192.0.2.1", 80, "rr") + "\n" + "  -> C0A80001:0050 Route 1 0\n",
            5,
            "6 fields",
        ),
        ("TCP  [2001:db8::1]:0050 rr persistent 250 FFFF0000\n", 4, "prefix"),
    ],
)
def test_malformed_lines_name_the_line(body: str, lineno: int, words: str) -> None:
    with pytest.raises(SourceError, match=rf"^/proc/net/ip_vs:{lineno}: .*{words}"):
        parse_ip_vs(HEADER + body)


def test_bad_header_and_empty_file() -> None:
    with pytest.raises(SourceError, match=":1: not an IPVS table header"):
        parse_ip_vs("Hello\n")
    with pytest.raises(SourceError, match="empty"):
        parse_ip_vs("")


def test_stats_malformed() -> None:
    with pytest.raises(SourceError, match=":3: expected 5 hex numbers"):
        parse_ip_vs_stats("a\nb\n  1E B4 0 302A\n\nc\n 2 9 0 270 0\n")
    with pytest.raises(SourceError, match="expected 6 lines"):
        parse_ip_vs_stats("a\nb\n")
    with pytest.raises(SourceError, match="no total row"):
        parse_ip_vs_stats("x\nCPU\n  0 1 2 3 4 5\n")


def test_missing_files_mean_no_ipvs(tmp_path: Path) -> None:
    with pytest.raises(NotADirector, match="IPVS is not loaded here") as e:
        read_ip_vs(str(tmp_path / "ip_vs"))
    assert e.value.exit_code == 2 and "ip_vs" in str(e.value)
    with pytest.raises(NotADirector):
        read_totals(str(tmp_path / "ip_vs_stats"))


def test_unreadable_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=f"cannot read {tmp_path}"):
        read_ip_vs(str(tmp_path))  # a directory: EISDIR


def test_kernel_hz() -> None:
    hz = kernel_hz()
    assert hz is None or hz in (100, 250, 300, 1000)
    assert kernel_hz("no-such-release") in (None, hz)  # falls back to /proc/config.gz
