"""ip_vs_conn aggregation: capture vs ipvsadm, kernel-format lines, bounds, awk."""

from __future__ import annotations

import importlib.util
import ipaddress
import random
import shutil
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import astuple
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lvstop.errors import NotADirector, SourceError
from lvstop.model.conns import ConnKey, ConnTable
from lvstop.sources import conntable
from lvstop.sources.conntable import ConnAggregator, parse_conn_lines, read_conn_table

TESTS = Path(__file__).resolve().parents[1]
CAPTURES = TESTS / "data" / "captures"
HEADER = b"Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n"

# ip_vs_conn_seq_show(): "%-3s %08X %04X %08X %04X %s %04X %-11s %7u%s\n" (AF_INET) and
# "%-3s %pI6 %04X %pI6 %04X %s %04X %-11s %7u%s\n" (AF_INET6); the destination "%s" is
# "%08X" or "%pI6" by its own family, the last "%s" is "" or " <pe_name> <pe_data>".
CONN_FMT = "%-3s %s %04X %s %04X %s %04X %-11s %7u%s\n"


def _addr(address: str) -> str:
    """An address as the kernel prints it: %08X of the host-order value, or %pI6."""
    ip = ipaddress.ip_address(address)
    return f"{int(ip):08X}" if ip.version == 4 else ip.exploded


def _mark(mark: int, v6: bool) -> str:
    """A fwmark template's virtual address: union nf_inet_addr { .ip = htonl(mark) }."""
    return ipaddress.IPv6Address(mark << 96).exploded if v6 else f"{mark:08X}"


def line(
    proto: str,
    client: str,
    cport: int,
    vaddr: str,
    vport: int,
    daddr: str,
    dport: int,
    state: str,
    expires: int = 100,
    pe: str = "",
) -> bytes:
    """One /proc/net/ip_vs_conn line, exactly as the kernel formats it.

    `vaddr` is an address, or a field from _mark() for fwmark templates.
    """
    vfield = _addr(vaddr) if "." in vaddr or ":" in vaddr else vaddr
    return (
        CONN_FMT
        % (proto, _addr(client), cport, vfield, vport, _addr(daddr), dport, state, expires, pe)
    ).encode()


def naive(lines: Iterable[bytes]) -> tuple[Counter[ConnKey], Counter[str], int, int]:
    """Reference: split each line and decode it with ipaddress, no cleverness."""
    groups: Counter[ConnKey] = Counter()
    clients: Counter[str] = Counter()
    entries = templates = 0
    for raw in lines:
        f = raw.decode().split()
        if not f or f[0] == "Pro":
            continue

        def dec(a: str) -> str:
            return str(ipaddress.ip_address(int(a, 16) if ":" not in a else a))

        if f[0] == "IP":
            vaddr = str(int(ipaddress.ip_address(dec(f[3])).packed[:4].hex(), 16))
        else:
            vaddr = dec(f[3])
        groups[ConnKey(f[0], vaddr, int(f[4], 16), dec(f[5]), int(f[6], 16), f[7])] += 1
        clients[dec(f[1])] += 1
        entries += 1
        templates += f[2] == "0000"
    return groups, clients, entries, templates


def assert_matches_naive(table: ConnTable, lines: list[bytes]) -> None:
    groups, clients, entries, templates = naive(lines)
    assert (table.entries, table.templates) == (entries, templates)
    assert dict(table.groups) == dict(groups)
    assert table.clients_exact and table.clients_error == 0
    top = clients.most_common()
    assert [n for _, n in table.top_clients] == [n for _, n in top[: len(table.top_clients)]]
    assert all(clients[a] == n for a, n in table.top_clients)


# --- the real capture ----------------------------------------------------------------


def test_capture_matches_ipvsadm() -> None:
    table = read_conn_table(str(CAPTURES / "proc-ip_vs_conn.txt"))
    groups: Counter[ConnKey] = Counter()
    clients: Counter[str] = Counter()
    templates = 0
    for row in (CAPTURES / "ipvsadm-conn.txt").read_text().splitlines()[2:]:
        proto, _expire, state, source, virtual, dest = row.split()
        client, cport = source.rsplit(":", 1)
        vaddr, vport = virtual.rsplit(":", 1)
        daddr, dport = dest.rsplit(":", 1)
        groups[ConnKey(proto, vaddr, int(vport), daddr, int(dport), state)] += 1
        clients[client] += 1
        templates += cport == "0"
    assert table.entries == sum(groups.values()) == 31
    assert table.templates == templates == 1
    assert dict(table.groups) == dict(groups)
    assert table.count(state="FIN_WAIT") == 30 and table.count(state="ASSURED") == 1
    assert table.top_clients == (("198.18.23.200", 31),)
    assert table.clients_exact and not table.truncated


# --- kernel-format lines of every shape ------------------------------------------------


def _varied_lines(rnd: random.Random, n: int) -> list[bytes]:
    """Random lines of every layout the kernel produces."""
    out = []
    for _ in range(n):
        kind = rnd.randrange(10)
        c4 = f"203.0.113.{rnd.randrange(40)}"
        c6 = f"2001:db8:c::{rnd.randrange(40):x}"
        cport = rnd.choice([0, rnd.randrange(1, 65536)])
        state = rnd.choice(["ESTABLISHED", "TIME_WAIT", "FIN_WAIT", "SYN_RECV", "NONE"])
        if kind <= 3:
            out.append(line("TCP", c4, cport, "192.0.2.1", 80, "10.0.0.1", 8080, state))
        elif kind == 4:
            out.append(
                line("UDP", c4, rnd.randrange(1, 65536), "192.0.2.1", 53, "10.0.0.2", 53, "UDP")
            )
        elif kind == 5:
            out.append(line("TCP", c6, cport, "2001:db8::1", 443, "2001:db8:1::1", 443, state))
        elif kind == 6:  # mixed-family tunnel: IPv4 client and VIP, IPv6 real server
            out.append(line("TCP", c4, cport, "192.0.2.2", 80, "2001:db8:1::2", 80, state))
        elif kind == 7:  # IPv6 service, IPv4 real server
            out.append(line("TCP", c6, cport, "2001:db8::2", 80, "10.0.0.3", 80, state))
        elif kind == 8:
            st = rnd.choice(["ESTABLISHED", "SHUTDOWN_RECEIVED", "SHUTDOWN_ACK_SENT", "CLOSED"])
            out.append(
                line("SCTP", c4, rnd.randrange(1, 65536), "192.0.2.3", 2905, "10.0.0.4", 2905, st)
            )
        else:  # fwmark persistence template, IPv4 or IPv6
            v6 = rnd.random() < 0.5
            out.append(
                line(
                    "IP",
                    c6 if v6 else c4,
                    0,
                    _mark(7, v6),
                    0,
                    "2001:db8:1::5" if v6 else "10.0.0.5",
                    0,
                    rnd.choice(["ASSURED", "NONE"]),
                )
            )
    return out


@pytest.mark.parametrize("seed", range(4))
def test_every_layout_matches_naive(seed: int) -> None:
    lines = _varied_lines(random.Random(seed), 3000)
    assert_matches_naive(parse_conn_lines([HEADER, *lines]), lines)


@pytest.mark.parametrize("seed", range(3))
def test_fast_and_slow_paths_agree(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _varied_lines(random.Random(seed), 2000)
    fast = parse_conn_lines(lines, top_clients=50)
    monkeypatch.setattr(ConnAggregator, "_count_fixed", lambda self, lines, lay: False)
    slow = parse_conn_lines(lines, top_clients=50)
    assert fast == slow


def test_homogeneous_batches_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(5)
    v4 = [
        line(
            "TCP", f"198.51.100.{i % 200}", 1024 + i, "192.0.2.1", 80, "10.0.0.1", 80, "ESTABLISHED"
        )
        for i in range(500)
    ]
    v6 = [
        line("UDP", f"2001:db8::{i:x}", 1024 + i, "2001:db8::1", 53, "2001:db8::2", 53, "UDP")
        for i in range(500)
    ]
    dual = v4 + v6
    rnd.shuffle(dual)

    def no_slow_path(self: ConnAggregator, lines: list[bytes], first: int, whole: Any) -> None:
        raise AssertionError("slow path used")

    monkeypatch.setattr(ConnAggregator, "_count_any", no_slow_path)
    for lines in (v4, v6, dual):
        assert_matches_naive(parse_conn_lines(lines), lines)


def test_fwmark_templates_keep_the_mark_in_decimal() -> None:
    lines = [
        line("IP", "203.0.113.9", 0, _mark(0x10, False), 0, "10.0.0.5", 0, "ASSURED"),
        line("IP", "2001:db8:c::9", 0, _mark(0x10001, True), 0, "2001:db8:1::5", 0, "NONE"),
        # the connections of that fwmark service carry their own protocol and VIP
        line("TCP", "203.0.113.9", 40000, "192.0.2.7", 443, "10.0.0.5", 443, "ESTABLISHED"),
    ]
    table = parse_conn_lines(lines)
    keys = {k.vaddr: k for k, _ in table.groups}
    assert keys["16"] == ConnKey("IP", "16", 0, "10.0.0.5", 0, "ASSURED")
    assert keys["65537"] == ConnKey("IP", "65537", 0, "2001:db8:1::5", 0, "NONE")
    assert "192.0.2.7" in keys and table.templates == 2


def test_pe_columns_and_wide_fields() -> None:
    sip = " sip a84b4c76e66710@pc33.atlanta.example:5060"  # " <pe_name> <pe_data>"
    lines = [
        line("UDP", "203.0.113.1", 5060, "192.0.2.1", 5060, "10.0.0.1", 5060, "UDP", 300, sip),
        line("UDP", "2001:db8::7", 5060, "2001:db8::1", 5060, "2001:db8::2", 5060, "UDP", 1, sip),
        line("TCP", "203.0.113.2", 1, "192.0.2.1", 80, "10.0.0.1", 80, "ESTABLISHED", 12345678),
    ]
    assert_matches_naive(parse_conn_lines(lines), lines)


def test_templates_are_client_port_zero_only() -> None:
    # Port 0 as virtual or real port and "0000" inside addresses must not count.
    lines = [
        line("TCP", "0.0.0.0", 1, "192.0.2.1", 0, "10.0.0.1", 0, "ESTABLISHED"),
        line("TCP", "192.0.0.0", 0x1000, "0.0.0.0", 0, "0.0.0.0", 0, "SYN_RECV"),
        line("TCP", "2001:db8::", 1, "2001:db8::", 0, "2001:db8::", 0, "ESTABLISHED"),
        line("TCP", "0.0.0.0", 0, "192.0.2.1", 0, "10.0.0.1", 0, "NONE"),
        line("TCP", "::", 0, "2001:db8::", 0, "2001:db8::", 0, "ASSURED"),
    ]
    assert parse_conn_lines(lines).templates == 2
    assert_matches_naive(parse_conn_lines(lines), lines)


def test_header_blank_lines_and_newlines_optional() -> None:
    a = line("TCP", "203.0.113.1", 1, "192.0.2.1", 80, "10.0.0.1", 80, "ESTABLISHED")
    b = line("TCP", "2001:db8::1", 1, "2001:db8::2", 80, "2001:db8::3", 80, "CLOSE")
    with_header = parse_conn_lines([HEADER, a, b"\n", b.rstrip(b"\n"), b""])
    assert with_header == parse_conn_lines([a, b])
    assert with_header.entries == 2
    empty = parse_conn_lines([HEADER])
    assert (empty.entries, empty.groups, empty.top_clients) == (0, (), ())


@pytest.mark.parametrize("sctp", [False, True])  # fast-path batch, then slow-path batch
def test_malformed_line_names_its_number(sctp: bool) -> None:
    good = line("TCP", "203.0.113.1", 1, "192.0.2.1", 80, "10.0.0.1", 80, "ESTABLISHED")
    odd = line("SCTP", "203.0.113.1", 1, "192.0.2.1", 80, "10.0.0.1", 80, "CLOSED")
    bad = good.replace(b"C0000201", b"C00002XY")  # a non-hex virtual address
    lines = [HEADER, good, odd if sctp else good, good, good, good, bad, good]
    with pytest.raises(SourceError, match=r"^<ip_vs_conn>:7: not an ip_vs_conn entry"):
        parse_conn_lines(lines)
    with pytest.raises(SourceError, match=r":3: .*too few fields"):
        parse_conn_lines([HEADER, good, b"TCP C0000201 0050\n", good])


def test_bad_client_address_is_a_source_error() -> None:
    bad = line("TCP", "203.0.113.1", 1, "192.0.2.1", 80, "10.0.0.1", 80, "ESTABLISHED")
    bad = b"TCP CB00ZZ71" + bad[12:]
    with pytest.raises(SourceError):
        parse_conn_lines([bad])


def test_max_entries_truncates(tmp_path: Path) -> None:
    lines = [
        line("TCP", f"203.0.113.{i}", 1000 + i, "192.0.2.1", 80, "10.0.0.1", 80, "ESTABLISHED")
        for i in range(100)
    ]
    path = tmp_path / "ip_vs_conn"
    path.write_bytes(HEADER + b"".join(lines))
    cut = read_conn_table(str(path), max_entries=40)
    assert (cut.entries, cut.truncated) == (40, True)
    assert dict(cut.groups) == dict(naive(lines[:40])[0])
    exact = read_conn_table(str(path), max_entries=100)
    assert (exact.entries, exact.truncated) == (100, False)
    assert parse_conn_lines(lines, max_entries=99).truncated
    assert not parse_conn_lines(lines, max_entries=100).truncated


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(NotADirector, match=r"IPVS is not loaded here \(no .*ip_vs_conn\)"):
        read_conn_table(str(tmp_path / "ip_vs_conn"))
    with pytest.raises(SourceError, match=f"cannot read {tmp_path}"):
        read_conn_table(str(tmp_path))


# --- the bounded heavy-hitter summary --------------------------------------------------


def _skewed_lines(rnd: random.Random, n: int, distinct: int) -> list[bytes]:
    heavy = [f"198.51.100.{i}" for i in range(8)]
    lines = []
    for _ in range(n):
        if rnd.random() < 0.3:
            client = rnd.choice(heavy[: rnd.randrange(1, 9)])  # unequal weights
        else:
            client = str(ipaddress.IPv4Address(0x0A000000 + rnd.randrange(distinct)))
        lines.append(
            line(
                "TCP",
                client,
                rnd.randrange(1, 65536),
                "192.0.2.1",
                80,
                "10.0.0.1",
                80,
                "ESTABLISHED",
            )
        )
    return lines


@pytest.mark.parametrize("seed", range(6))
def test_heavy_hitters_within_the_error_bound(seed: int) -> None:
    rnd = random.Random(seed)
    capacity = rnd.choice([16, 64, 200])
    lines = _skewed_lines(rnd, 20_000, distinct=rnd.choice([2_000, 20_000]))
    true = naive(lines)[1]
    agg = ConnAggregator(top_clients=10, capacity=capacity)
    batch = rnd.choice([50, 500, 5000])
    for i in range(0, len(lines), batch):
        agg.feed(lines[i : i + batch])
        assert len(agg._clients) <= 2 * capacity + batch  # bounded at every step
    table = agg.result()
    n, err = table.entries, table.clients_error
    assert n == len(lines) and not table.clients_exact
    assert 0 < err <= n // (capacity + 1)  # Misra-Gries: E <= N / (k + 1)
    for address, count in table.top_clients:
        assert true[address] <= count <= true[address] + err  # upper bound, off by <= E
    floor = min(true[a] for a, _ in table.top_clients) + err
    listed = dict(table.top_clients)
    assert all(a in listed for a, f in true.items() if f > floor)
    # every client with more than N/(k+1) >= E entries is still in the summary
    kept = {conntable._address(raw) for raw in agg._clients}
    assert {a for a, f in true.items() if f > n / (capacity + 1)} <= kept


def test_exact_while_distinct_clients_fit() -> None:
    lines = _skewed_lines(random.Random(9), 5_000, distinct=100)
    table = parse_conn_lines(lines, top_clients=200, capacity=200)
    true = naive(lines)[1]
    assert table.clients_exact and table.clients_error == 0
    assert sorted(table.top_clients) == sorted(true.items())


def test_memory_stays_bounded_with_all_distinct_clients() -> None:
    agg = ConnAggregator(capacity=100)
    for b in range(20):
        agg.feed(
            [
                line(
                    "TCP",
                    str(ipaddress.IPv4Address(b * 1000 + i)),
                    1,
                    "192.0.2.1",
                    80,
                    "10.0.0.1",
                    80,
                    "ESTABLISHED",
                )
                for i in range(1000)
            ]
        )
        assert len(agg._clients) <= 2 * 100 + 1000
    table = agg.result()
    assert table.entries == 20_000 and table.clients_error <= 20_000 // 101


def test_capacity_must_hold_the_top_list() -> None:
    with pytest.raises(ValueError, match="capacity"):
        ConnAggregator(top_clients=10, capacity=5)


# --- against awk (correctness only; timing lives in tests/bench) -----------------------


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_conntable", TESTS / "bench" / "bench_conntable.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("awk") is None, reason="no awk")
@pytest.mark.parametrize(("v6_share", "capacity"), [(0.0, 16384), (0.3, 16384), (0.0, 256)])
def test_agrees_with_awk(tmp_path: Path, v6_share: float, capacity: int) -> None:
    bench = _bench()
    path = tmp_path / "ip_vs_conn"
    bench.generate(path, 20_000, seed=7, v6_share=v6_share)
    _, awk = bench.run_awk(shutil.which("awk"), path)
    table = read_conn_table(str(path), top_clients=10, capacity=capacity)
    ours = {
        "entries": table.entries,
        "templates": table.templates,
        "groups": [[*astuple(k), n] for k, n in table.groups],
        "top_clients": table.top_clients,
        "clients_exact": table.clients_exact,
        "clients_error": table.clients_error,
    }
    assert bench.check_agree(ours, awk) == []
    assert table.clients_exact == (len(awk["clients"]) <= 2 * capacity)
    # and the benchmark's own lvstop child process reports the same
    _, child = bench.run_lvstop(path, 10)
    assert child["groups"] == [[*g[:6], g[6]] for g in ours["groups"]]


def test_module_has_no_ui_or_netlink_imports() -> None:
    source = Path(conntable.__file__).read_text()
    assert "textual" not in source and "pyroute2" not in source
