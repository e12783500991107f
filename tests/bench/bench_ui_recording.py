"""Synthetic recordings for the console benchmarks: S services x R real servers.

    python tests/bench/bench_ui_recording.py OUT.jsonl [--services 100] [--servers 10]
                                            [--frames 70] [--seed 1]

One snapshot per second with moving counters (every real server's connections,
packets and bytes grow by its own load, active/inactive counts wander), the
kernel's estimator rates, keepalived's view (two VRRP instances, every real server's
health; a few servers fail and come back, at weight 0 while down), so a refresh
touches what a real one touches: every row's numbers change. The benchmarks use the
frames in memory (`synthetic_frames`) or written as a recording for
`lvstop --replay` (`write_recording`, the public JSON writer).
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

from lvstop.model import (
    Counters,
    Forward,
    Protocol,
    Rates,
    RealServer,
    RealServerKey,
    Service,
    ServiceKey,
    Snapshot,
    SourceKind,
    Totals,
)
from lvstop.model.ipvs import SVC_F_HASHED, SVC_F_PERSISTENT
from lvstop.model.keepalived import KeepalivedState, RealServerStatus, ServiceVrrp
from lvstop.model.vrrp import (
    Health,
    KeepalivedProcess,
    KeepalivedProcesses,
    VrrpInstance,
    VrrpState,
)
from lvstop.sources.replay import write_snapshot

START = 1795856400.0  # 2026-11-28T09:00:00Z
PROCESSES = KeepalivedProcesses(
    (
        KeepalivedProcess("parent", 100, True),
        KeepalivedProcess("vrrp", 101, True),
        KeepalivedProcess("checker", 102, True),
    )
)


def vip(s: int) -> str:
    return f"10.{s // 250}.{s % 250}.1"


def rip(s: int, r: int) -> str:
    return f"172.{16 + s // 250}.{s % 250}.{r + 1}"


def synthetic_frames(services: int, servers: int, frames: int, seed: int = 1) -> Iterator[Snapshot]:
    """`frames` snapshots, one second apart (see the module docstring)."""
    rng = random.Random(f"lvstop-bench/{seed}")
    load = [[rng.uniform(0.2, 40.0) for _ in range(servers)] for _ in range(services)]
    counters = [[[0, 0, 0] for _ in range(servers)] for _ in range(services)]
    active = [[rng.randrange(0, 400) for _ in range(servers)] for _ in range(services)]
    keys = [ServiceKey.inet(Protocol.TCP, vip(s), 80) for s in range(services)]
    owners = MappingProxyType(
        {k: ServiceVrrp("VI_1" if s % 2 == 0 else "VI_2", None) for s, k in enumerate(keys)}
    )
    # As the live reader's join does (StatusReuse): an unchanged status is the
    # previous frame's object.
    reuse: dict[tuple[object, ...], RealServerStatus] = {}
    for f in range(frames):
        step = random.Random(f"lvstop-bench/{seed}/{f}")
        out = []
        statuses: dict[tuple[ServiceKey, RealServerKey], RealServerStatus] = {}
        total = [0, 0, 0]
        for s in range(services):
            rss = []
            sconns = spkts = sbytes = 0
            for r in range(servers):
                down = (s * servers + r) % 97 == f % 7  # a few fail, in turns
                cps = 0.0 if down else load[s][r] * step.uniform(0.7, 1.3)
                c = counters[s][r]
                c[0] += int(cps)
                c[1] += int(cps * 9)
                c[2] += int(cps * 9 * 610)
                act = active[s][r] = max(0, active[s][r] + step.randrange(-20, 21))
                rss.append(
                    RealServer(
                        rip(s, r), 8080, Forward.ROUTE, 0 if down else 1,
                        active_conns=0 if down else act, inactive_conns=act // 3,
                        persistent_conns=act // 5,
                        stats=Counters(c[0], c[1], 0, c[2], 0),
                        rates=Rates(int(cps), int(cps * 9), 0, int(cps * 9 * 610), 0),
                    )
                )  # fmt: skip
                status = (
                    1, 0 if down else 1, Health.DOWN if down else Health.UP,
                    1 if down else 0, 1, "HTTP_GET failed: /health" if down else None, True,
                )  # fmt: skip
                if status not in reuse:
                    reuse[status] = RealServerStatus(*status)  # type: ignore[arg-type]
                # The join's key: the server's own (`RealServer.key`, one object
                # per server across polls).
                statuses[(keys[s], rss[-1].key)] = reuse[status]
                sconns, spkts, sbytes = sconns + c[0], spkts + c[1], sbytes + c[2]
            total = [total[0] + sconns, total[1] + spkts, total[2] + sbytes]
            out.append(
                Service(
                    keys[s], "wlc",
                    flags=SVC_F_HASHED | (SVC_F_PERSISTENT if s % 3 == 0 else 0),
                    timeout=120 if s % 3 == 0 else 0,
                    stats=Counters(sconns, spkts, 0, sbytes, 0),
                    rates=Rates(sum(rs.rates.cps for rs in rss)),
                    real_servers=tuple(rss),
                    vip_present=s % 2 == 0, vip_interface="eth0" if s % 2 == 0 else None,
                )
            )  # fmt: skip
        instances = (
            VrrpInstance("VI_1", 51, "eth0", VrrpState.MASTER, 100, 100, 1.0,
                         vips=tuple(vip(s) for s in range(0, services, 2)),
                         vips_present=tuple(vip(s) for s in range(0, services, 2)),
                         last_transition=START - 3600),
            VrrpInstance("VI_2", 52, "eth0", VrrpState.BACKUP, 90, 90, 1.0,
                         vips=tuple(vip(s) for s in range(1, services, 2)),
                         master_router="198.18.23.44", master_priority=100,
                         last_transition=START - 3600),
        )  # fmt: skip
        roles = {"VI_1": VrrpState.MASTER, "VI_2": VrrpState.BACKUP}
        yield Snapshot(
            wall_time=START + f,
            monotonic=float(f),
            host="bench",
            source=SourceKind.SIMULATED,
            services=tuple(out),
            totals=Totals(Counters(total[0], total[1], 0, total[2], 0)),
            keepalived=KeepalivedState(
                processes=PROCESSES,
                config_file="/etc/keepalived/keepalived.conf",
                instances=instances,
                services=MappingProxyType(
                    {k: ServiceVrrp(v.instance, roles[v.instance]) for k, v in owners.items()}
                ),
                real_servers=MappingProxyType(statuses),
            ),
        )


def write_recording(path: Path, services: int, servers: int, frames: int, seed: int = 1) -> None:
    with path.open("w", encoding="utf-8") as out:
        for snap in synthetic_frames(services, servers, frames, seed):
            write_snapshot(out, snap)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--services", type=int, default=100)
    p.add_argument("--servers", type=int, default=10)
    p.add_argument("--frames", type=int, default=70)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    write_recording(a.out, a.services, a.servers, a.frames, a.seed)


if __name__ == "__main__":
    main()
