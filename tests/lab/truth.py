"""Ground truth for lab tests: the kernel's IPVS table as ipvsadm and /proc print it.

Everything lvstop reports is compared with these parsers' view, read in the same
network namespace. Reads are "sandwiched" (truth, lvstop, truth again) so counters
and the 2 s rate estimator cannot move between the two readings unnoticed.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Run = Callable[..., Any]  # Topology.run bound to a namespace: run(*argv) -> CompletedProcess

FORWARD = {
    "Route": "route",
    "Masq": "masq",
    "Tunnel": "tunnel",
    "Local": "local",
    "Bypass": "bypass",
}
SAVE_FORWARD = {"-g": "route", "-m": "masq", "-i": "tunnel"}


@dataclass
class RS:
    forward: str = ""
    weight: int = 0
    u_threshold: int = 0
    l_threshold: int = 0
    active: int = 0
    inactive: int = 0
    persistent: int = 0
    stats: tuple[int, ...] = ()
    rates: tuple[int, ...] = ()
    tunnel: dict[str, Any] | None = None


@dataclass
class Svc:
    scheduler: str = ""
    timeout: int | None = None
    netmask: int | None = None
    flags: set[str] = field(default_factory=set)
    pe: str | None = None
    stats: tuple[int, ...] = ()
    rates: tuple[int, ...] = ()
    rs: dict[str, RS] = field(default_factory=dict)


def hostport(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _norm_hostport(text: str) -> str:
    """Canonical "addr:port" (ipvsadm prints IPv6 compressed already; be safe)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    return hostport(str(ipaddress.ip_address(host)), int(port))


def _svc_id(tokens: list[str]) -> tuple[str, int]:
    """Service id like lvstop_id() and how many tokens it used, from a listing line."""
    if tokens[0] == "FWM":
        if len(tokens) > 2 and tokens[2] == "IPv6":
            return f"FWM {tokens[1]} IPv6", 3
        return f"FWM {tokens[1]}", 2
    return f"{tokens[0]} {_norm_hostport(tokens[1])}", 2


def lvstop_id(svc: dict[str, Any]) -> str:
    if svc["fwmark"] is not None:
        return f"FWM {svc['fwmark']}" + (" IPv6" if svc["family"] == "inet6" else "")
    return f"{svc['protocol'].upper()} {hostport(svc['address'], svc['port'])}"


def _numbers(tokens: list[str], n: int) -> tuple[int, ...] | None:
    """The last n tokens as integers, or None when they are not all numbers."""
    tail = tokens[-n:]
    if len(tail) < n or not all(t.isdigit() for t in tail):
        return None
    return tuple(int(t) for t in tail)


def _table(text: str, n: int) -> dict[str, tuple[tuple[int, ...], dict[str, tuple[int, ...]]]]:
    """Parse a -Ln --stats/--rate listing: id -> (numbers, {rs: numbers})."""
    out: dict[str, tuple[tuple[int, ...], dict[str, tuple[int, ...]]]] = {}
    cur: dict[str, tuple[int, ...]] | None = None
    for line in text.splitlines():
        tok = line.split()
        if not tok:
            continue
        if tok[0] in ("TCP", "UDP", "SCTP", "FWM"):
            # In --thresholds/--persistent-conn listings service lines carry no numbers.
            sid, used = _svc_id(tok)
            cur = {}
            out[sid] = (_numbers(tok[used:], n) or (), cur)
        elif tok[0] == "->" and cur is not None:
            nums = _numbers(tok[2:], n)
            if nums is not None:
                cur[_norm_hostport(tok[1])] = nums
    return out


def _mask_prefix(text: str) -> int:
    if "." in text:
        return bin(int(ipaddress.IPv4Address(text))).count("1")
    return int(text)


def read(run: Run) -> dict[str, Svc]:
    """The whole table from ipvsadm's listings (-Ln, --thresholds, --persistent-conn,
    --stats --exact, --rate --exact) and its saved rules (-Sn, for tunnel settings)."""
    listing = run("ipvsadm", "-Ln").stdout
    table: dict[str, Svc] = {}
    cur: Svc | None = None
    for line in listing.splitlines():
        tok = line.split()
        if not tok or tok[0] in ("IP", "Prot"):
            continue
        if tok[0] in ("TCP", "UDP", "SCTP", "FWM"):
            sid, used = _svc_id(tok)
            cur = table[sid] = Svc()
            rest = tok[used:]
            cur.scheduler = rest[0]
            i = 1
            while i < len(rest):
                word = rest[i]
                if word.startswith("("):
                    cur.flags |= set(word.strip("()").split(","))
                elif word == "persistent":
                    cur.timeout = int(rest[i + 1])
                    cur.flags.add("persistent")
                    i += 1
                elif word == "mask":
                    cur.netmask = _mask_prefix(rest[i + 1])
                    i += 1
                elif word == "pe":
                    cur.pe = rest[i + 1]
                    i += 1
                elif word == "ops":
                    cur.flags.add("one-packet")
                i += 1
            if cur.timeout is not None and cur.netmask is None:
                cur.netmask = 128 if "[" in sid or sid.endswith("IPv6") else 32
        elif tok[0] == "->" and cur is not None and len(tok) >= 6:
            cur.rs[_norm_hostport(tok[1])] = RS(
                FORWARD[tok[2]], int(tok[3]), active=int(tok[4]), inactive=int(tok[5])
            )
    for sid, (_, rss) in _table(run("ipvsadm", "-Ln", "--thresholds").stdout, 4).items():
        for key, (u, lo, _a, _i) in rss.items():
            table[sid].rs[key].u_threshold, table[sid].rs[key].l_threshold = u, lo
    for sid, (_, rss) in _table(run("ipvsadm", "-Ln", "--persistent-conn").stdout, 4).items():
        for key, (_w, persist, _a, _i) in rss.items():
            table[sid].rs[key].persistent = persist
    for sid, (nums, rss) in _table(run("ipvsadm", "-Ln", "--stats", "--exact").stdout, 5).items():
        table[sid].stats = nums
        for key, vals in rss.items():
            table[sid].rs[key].stats = vals
    for sid, (nums, rss) in _table(run("ipvsadm", "-Ln", "--rate", "--exact").stdout, 5).items():
        table[sid].rates = nums
        for key, vals in rss.items():
            table[sid].rs[key].rates = vals
    for line in run("ipvsadm", "-Sn").stdout.splitlines():
        words = shlex.split(line)
        if not words or words[0] != "-a":
            continue
        sid = _save_service_id(words)
        rs = table[sid].rs[_norm_hostport(words[words.index("-r") + 1])]
        if "--tun-type" in words:
            tun_port = int(words[words.index("--tun-port") + 1]) if "--tun-port" in words else None
            tflags = [f for f in ("csum", "remcsum") if f"--tun-{f}" in words]
            rs.tunnel = {
                "type": words[words.index("--tun-type") + 1],
                "port": tun_port,
                "flags": tflags,
            }
        elif rs.forward == "tunnel":
            rs.tunnel = {"type": "ipip", "port": None, "flags": []}
    return table


def _save_service_id(words: list[str]) -> str:
    for flag, proto in (("-t", "TCP"), ("-u", "UDP"), ("--sctp-service", "SCTP")):
        if flag in words:
            return f"{proto} {_norm_hostport(words[words.index(flag) + 1])}"
    mark = words[words.index("-f") + 1]
    return f"FWM {mark}" + (" IPv6" if "-6" in words else "")


def from_lvstop(doc: dict[str, Any]) -> dict[str, Svc]:
    """lvstop's JSON document reduced to the same shape as read()."""
    out: dict[str, Svc] = {}
    for s in doc["services"]:
        svc = Svc(
            scheduler=s["scheduler"],
            timeout=s["persistence_timeout"],
            netmask=s["persistence_netmask"],
            flags=set(s["flags"]),
            pe=s["persistence_engine"],
            stats=tuple(
                s["stats"][k] for k in ("conns", "inpkts", "outpkts", "inbytes", "outbytes")
            ),
            rates=tuple(s["rates"][k] for k in ("cps", "inpps", "outpps", "inbps", "outbps")),
        )
        for r in s["real_servers"]:
            svc.rs[hostport(r["address"], r["port"])] = RS(
                forward=r["forward"],
                weight=r["weight"],
                u_threshold=r["u_threshold"],
                l_threshold=r["l_threshold"],
                active=r["active_conns"],
                inactive=r["inactive_conns"],
                persistent=r["persistent_conns"],
                stats=tuple(
                    r["stats"][k] for k in ("conns", "inpkts", "outpkts", "inbytes", "outbytes")
                ),
                rates=tuple(r["rates"][k] for k in ("cps", "inpps", "outpps", "inbps", "outbps")),
                tunnel=r["tunnel"],
            )
        out[lvstop_id(s)] = svc
    return out


def sandwich(
    run: Run, lvstop: Callable[[], dict[str, Any]], tries: int = 15
) -> tuple[dict[str, Svc], dict[str, Any]]:
    """(truth, lvstop document) from a window in which the truth did not change."""
    last: tuple[dict[str, Svc], dict[str, Svc]] | None = None
    for _ in range(tries):
        before = read(run)
        doc = lvstop()
        after = read(run)
        if before == after:
            return before, doc
        last = (before, after)
    raise AssertionError(f"IPVS table never held still for one reading: {last}")


def conn_counts(text: str) -> tuple[Counter[tuple[str, str, int, str, int, str]], int, int]:
    """Count /proc/net/ip_vs_conn by hand: (protocol, vip, vport, rip, rport, state),
    number of entries, number of persistence templates (client port 0)."""
    counts: Counter[tuple[str, str, int, str, int, str]] = Counter()
    entries = templates = 0
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 9:
            continue
        entries += 1
        if int(f[2], 16) == 0:
            templates += 1
        vaddr = str(int(f[3], 16)) if f[0] == "IP" else _hexaddr(f[3])  # fwmark entries
        counts[(f[0], vaddr, int(f[4], 16), _hexaddr(f[5]), int(f[6], 16), f[7])] += 1
    return counts, entries, templates


def _hexaddr(text: str) -> str:
    if ":" in text:
        return str(ipaddress.IPv6Address(text))
    return str(ipaddress.IPv4Address(int(text, 16)))


def lvstop_json(out: Any) -> dict[str, Any]:
    """Parse a CompletedProcess of `lvstop snapshot --json` with a useful failure message."""
    assert out.returncode == 0, f"lvstop failed ({out.returncode}): {out.stderr}"
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc
