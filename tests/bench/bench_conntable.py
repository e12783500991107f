"""Benchmark: lvstop's ip_vs_conn aggregation against awk counting the same keys.

    python tests/bench/bench_conntable.py [--lines 1000000] [--runs 3] [--v6-share 0]

Generates a realistic /proc/net/ip_vs_conn (kernel format strings; 100 services x
10 real servers with a skewed load, many clients plus a few heavy ones, mixed
TCP states, UDP, persistence templates) in a temporary directory, then runs each
contender in its own subprocess, interleaved: median wall time of --runs, peak
RSS as each process's own VmHWM. Checks that both computed the same thing.
Prints numbers; fails only if the results disagree. The unit suite imports
`generate`, `run_awk`, `run_lvstop` and `check_agree` for a small correctness check.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
HEADER = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n"
V4_FMT = "%-3s %08X %04X %08X %04X %s %04X %-11s %7u\n"  # ip_vs_conn_seq_show, AF_INET
V6_FMT = "%-3s %s %04X %s %04X %s %04X %-11s %7u\n"  # same with %pI6 addresses

TCP_STATES = (
    ["ESTABLISHED"] * 50
    + ["TIME_WAIT"] * 25
    + ["FIN_WAIT"] * 10
    + ["SYN_RECV"] * 5
    + ["CLOSE"] * 3
    + ["CLOSE_WAIT"] * 3
    + ["LAST_ACK"] * 2
    + ["SYN_SENT"] * 2
)

#: awk: count the same keys lvstop does; print every group and client.
AWK_PROGRAM = r"""
NR > 1 && NF >= 9 {
    g[$1 " " $4 " " $5 " " $6 " " $7 " " $8]++
    c[$2]++
    n++
    if ($3 == "0000") t++
}
END {
    for (k in g) print "G", k, g[k]
    for (k in c) print "C", k, c[k]
    print "N", n + 0
    print "T", t + 0
    while ((getline line < "/proc/self/status") > 0)
        if (line ~ /^VmHWM:/) { split(line, f); print "M", f[2] }
}
"""

LVSTOP_CHILD = r"""
import json, sys, time
from lvstop.sources.conntable import read_conn_table
t0 = time.perf_counter()
table = read_conn_table(sys.argv[1], top_clients=int(sys.argv[2]))
elapsed = time.perf_counter() - t0
json.dump({
    "elapsed": elapsed,
    "entries": table.entries,
    "templates": table.templates,
    "groups": [[k.protocol, k.vaddr, k.vport, k.daddr, k.dport, k.state, n]
               for k, n in table.groups],
    "top_clients": table.top_clients,
    "clients_exact": table.clients_exact,
    "clients_error": table.clients_error,
    "vmhwm_kib": next(
        int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")
    ),
}, sys.stdout)
"""


def _pi6(value: int) -> str:
    """%pI6: 8 groups of 4 lower-case hex digits, no '::' compression."""
    h = f"{value:032x}"
    return ":".join(h[i : i + 4] for i in range(0, 32, 4))


def generate(path: Path, lines: int, *, seed: int = 1, v6_share: float = 0.0) -> None:
    """Write a /proc/net/ip_vs_conn-like file with `lines` entries."""
    rnd = random.Random(seed)
    services = []
    for s in range(100):
        port = rnd.choice([80, 443, 8080, 53, 8765])
        proto = "UDP" if port == 53 and s % 2 else "TCP"
        v6 = s < 100 * v6_share
        if v6:
            vip = 0x20010DB8_00000000_00000000_00000000 + 0x1000 + s
            rss = [0x20010DB8_00010000_00000000_00000000 + s * 16 + r for r in range(10)]
        else:
            vip = 0xC6120000 + s  # 198.18.0.x
            rss = [0x0A000000 + s * 16 + r for r in range(10)]  # 10.0.x.y
        services.append((proto, v6, vip, port, rss))
    heavy = [0x0B000000 + i for i in range(20)]  # 11.0.0.x, 10% of all entries
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(services))]  # skewed load
    picks = rnd.choices(range(len(services)), weights=weights, k=lines)
    with path.open("w") as f:
        f.write(HEADER)
        write = f.write
        for i in range(lines):
            proto, v6, vip, port, rss = services[picks[i]]
            dest = rss[rnd.randrange(10)]
            r = rnd.random()
            client = rnd.choice(heavy) if r < 0.1 else 0x50000000 + rnd.randrange(300_000)
            if r > 0.97:  # persistence template: client port 0
                cport, state = 0, ("ASSURED" if r > 0.975 else "NONE")
            else:
                cport = rnd.randrange(1024, 65536)
                state = "UDP" if proto == "UDP" else rnd.choice(TCP_STATES)
            expires = rnd.randrange(1, 900)
            if v6:
                c6 = 0x20010DB8_FFFF0000_00000000_00000000 + client
                write(
                    V6_FMT
                    % (proto, _pi6(c6), cport, _pi6(vip), port, _pi6(dest), port, state, expires)
                )
            else:
                write(
                    V4_FMT % (proto, client, cport, vip, port, f"{dest:08X}", port, state, expires)
                )


def _addr(raw: str) -> str:
    """Decoder independent of lvstop's: ipaddress only."""
    if ":" in raw:
        return str(ipaddress.IPv6Address(raw))
    return str(ipaddress.IPv4Address(int(raw, 16)))


def parse_awk_output(text: str) -> dict[str, Any]:
    groups: Counter[tuple[str, str, int, str, int, str]] = Counter()
    clients: Counter[str] = Counter()
    entries = templates = vmhwm = 0
    for line in text.splitlines():
        f = line.split()
        if f[0] == "G":
            proto, vaddr, vport, daddr, dport, state, n = f[1:]
            vaddr_s = str(int(vaddr, 16)) if proto == "IP" else _addr(vaddr)
            key = (proto, vaddr_s, int(vport, 16), _addr(daddr), int(dport, 16), state)
            groups[key] += int(n)
        elif f[0] == "C":
            clients[_addr(f[1])] += int(f[2])
        elif f[0] == "N":
            entries = int(f[1])
        elif f[0] == "T":
            templates = int(f[1])
        elif f[0] == "M":
            vmhwm = int(f[1])
    return {
        "groups": groups,
        "clients": clients,
        "entries": entries,
        "templates": templates,
        "vmhwm_kib": vmhwm,
    }


def check_agree(lv: dict[str, Any], awk: dict[str, Any]) -> list[str]:
    """Differences between lvstop's result and awk's exact counts (empty: agree)."""
    problems: list[str] = []
    if lv["entries"] != awk["entries"]:
        problems.append(f"entries {lv['entries']} != {awk['entries']}")
    if lv["templates"] != awk["templates"]:
        problems.append(f"templates {lv['templates']} != {awk['templates']}")
    groups = {tuple(g[:6]): g[6] for g in lv["groups"]}
    if groups != dict(awk["groups"]):
        problems.append(f"groups differ: {len(groups)} vs {len(awk['groups'])} keys")
    true: Counter[str] = awk["clients"]
    err = lv["clients_error"]
    top = [tuple(x) for x in lv["top_clients"]]
    for addr, n in top:
        if not true[addr] <= n <= true[addr] + err:
            problems.append(f"client {addr}: reported {n}, true {true[addr]}, error {err}")
    if top:
        # A client missing from the list cannot beat the weakest listed one by more than E.
        floor = min(true[a] for a, _ in top) + err
        missing = [a for a, n in true.items() if n > floor and a not in dict(top)]
        if missing:
            problems.append(f"heavy clients missing from top list: {missing[:5]}")
    if lv["clients_exact"] and err:
        problems.append("exact but non-zero error")
    return problems


def _run_child(argv: list[str], out: IO[bytes]) -> float:
    """Run one subprocess with stdout to `out`; its wall time.

    Peak memory is not taken from wait4()/RUSAGE_CHILDREN: a forked child starts
    with the parent's RSS and exec() keeps that high-water mark in ru_maxrss (a
    no-op mawk forked from a 200 MB Python reports 200 MB). Each contender
    reports VmHWM, the peak RSS of its own post-exec memory, instead.
    """
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=out, cwd=ROOT, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed with exit code {proc.returncode}")
    return wall


def run_awk(awk: str, path: Path) -> tuple[float, dict[str, Any]]:
    """Wall time and parsed exact counts of `awk` over `path`."""
    with tempfile.TemporaryFile() as out:
        wall = _run_child([awk, AWK_PROGRAM, str(path)], out)
        out.seek(0)
        return wall, parse_awk_output(out.read().decode())


def run_lvstop(path: Path, top: int) -> tuple[float, dict[str, Any]]:
    """Wall time and result of read_conn_table over `path` in a fresh interpreter."""
    with tempfile.TemporaryFile() as out:
        wall = _run_child([sys.executable, "-c", LVSTOP_CHILD, str(path), str(top)], out)
        out.seek(0)
        result: dict[str, Any] = json.loads(out.read())
        return wall, result


def _awks() -> list[tuple[str, str]]:
    found = []
    for name in ("mawk", "gawk"):
        exe = shutil.which(name)
        if exe:
            found.append((name, exe))
    if not found and shutil.which("awk"):
        found.append(("awk", shutil.which("awk") or "awk"))
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--v6-share", type=float, default=0.0, help="fraction of IPv6 services")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    awks = _awks()
    if not awks:
        print("no awk found", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lvstop-bench-") as tmp:
        path = Path(tmp) / "ip_vs_conn"
        t0 = time.perf_counter()
        generate(path, args.lines, seed=args.seed, v6_share=args.v6_share)
        size = path.stat().st_size
        print(
            f"generated {args.lines} entries ({size / 1e6:.1f} MB) in "
            f"{time.perf_counter() - t0:.1f}s; {args.runs} runs each, interleaved"
        )
        walls: dict[str, list[float]] = {"lvstop": []}
        inproc: list[float] = []
        rss: dict[str, int] = {"lvstop": 0}
        results: dict[str, dict[str, Any]] = {}
        for name, _ in awks:
            walls[name] = []
            rss[name] = 0
        for _ in range(args.runs):  # interleave so background load hits both alike
            w, lv = run_lvstop(path, args.top)
            walls["lvstop"].append(w)
            inproc.append(lv["elapsed"])
            rss["lvstop"] = max(rss["lvstop"], lv["vmhwm_kib"])
            results["lvstop"] = lv
            for name, exe in awks:
                w, res = run_awk(exe, path)
                walls[name].append(w)
                rss[name] = max(rss[name], res["vmhwm_kib"])
                results[name] = res
        lv = results["lvstop"]
        med = {k: statistics.median(v) for k, v in walls.items()}
        print(
            f"lvstop: {med['lvstop']:.3f}s wall (median; {statistics.median(inproc):.3f}s "
            f"inside the process), peak RSS {rss['lvstop'] / 1024:.1f} MiB, "
            f"clients {'exact' if lv['clients_exact'] else 'estimated'} "
            f"(error bound {lv['clients_error']})"
        )
        failed = False
        for name, _ in awks:
            ratio = med["lvstop"] / med[name]
            print(
                f"{name}: {med[name]:.3f}s wall (median), peak RSS {rss[name] / 1024:.1f} MiB; "
                f"lvstop/{name} time ratio {ratio:.2f}"
            )
            problems = check_agree(lv, results[name])
            if problems:
                failed = True
                print(f"DISAGREE with {name}: " + "; ".join(problems))
            else:
                print(f"results agree with {name}")
        for name in ("mawk", "gawk"):
            if name not in walls:
                print(f"{name}: not installed, not measured")
        print(
            "all runs (s): "
            + ", ".join(f"{k}={[round(x, 3) for x in v]}" for k, v in walls.items())
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
