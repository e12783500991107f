"""The lvstop lab's seed topology: two keepalived LVS-DR directors, two real servers, a client.

Mirrors the seed post (/work/shared/seed/keepalived-lvs-ingress.md) with addresses from the
benchmarking range 198.18.0.0/15. Everything lives inside the lab VM (tests/lab/vm.py):

    root netns:  bridge ``lvslab0``; one veth per namespace is plugged into it
    lvs1    198.18.23.42/24   keepalived: VI_1 (vrid 51) MASTER prio 100 -> VIP .73
                                          VI_2 (vrid 52) BACKUP prio 90
    lvs2    198.18.23.44/24   keepalived: VI_1 BACKUP prio 90, VI_2 MASTER prio 100 -> VIP .74
    rs1     198.18.23.4/24    http.server on :8765, both VIPs on lo (/32), arp_ignore/announce
    rs2     198.18.23.10/24   same
    client  198.18.23.200/24  plus a pool of source addresses 198.18.24.1-250/24

Both directors run keepalived (seed/keepalived-lvs{1,2}.conf): virtual_server VIP:8765
(rr, DR, persistence 120) with HTTP_GET-checked real servers .4 and .10, and carry manual
``ipvsadm`` services VIP:80 -> .4:80, .9:80 that keepalived does not manage.

Only the Python standard library is used here, so the host-side conftest can import it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

LAB_DIR = Path(__file__).resolve().parent
REPO = LAB_DIR.parents[1]
SEED_DIR = LAB_DIR / "seed"
STATE_DIR = Path("/run/lvstop-lab")

BRIDGE = "lvslab0"
PREFIXLEN = 24
DIRECTORS: tuple[str, ...] = ("lvs1", "lvs2")
REAL_SERVERS: tuple[str, ...] = ("rs1", "rs2")
CLIENT = "client"
NAMESPACES: tuple[str, ...] = (*DIRECTORS, *REAL_SERVERS, CLIENT)
ADDR: Mapping[str, str] = {
    "lvs1": "198.18.23.42",
    "lvs2": "198.18.23.44",
    "rs1": "198.18.23.4",
    "rs2": "198.18.23.10",
    "client": "198.18.23.200",
}
VIP1 = "198.18.23.73"
VIP2 = "198.18.23.74"
VIPS: tuple[str, ...] = (VIP1, VIP2)
PORT = 8765
MASTER: Mapping[str, str] = {VIP1: "lvs1", VIP2: "lvs2"}
BACKUP: Mapping[str, str] = {VIP1: "lvs2", VIP2: "lvs1"}
RS_ADDRS: tuple[str, ...] = tuple(ADDR[rs] for rs in REAL_SERVERS)

# Hand-made ipvsadm services, as in the seed post section 5.6 (.9 does not exist).
MANUAL_PORT = 80
MANUAL_REAL_SERVERS: tuple[str, ...] = ("198.18.23.4", "198.18.23.9")

# Extra client source addresses (for many-client tests); real servers and directors
# route this subnet via the client's primary address.
CLIENT_POOL_NET = "198.18.24.0/24"
CLIENT_POOL: tuple[str, ...] = tuple(f"198.18.24.{i}" for i in range(1, 251))

DEFAULT_TIMEOUT = 60.0  # for waits; the VM runs under TCG, ~10-15x slower than native


class LabCommandError(subprocess.CalledProcessError):
    """A lab command failed; str() includes its output."""

    def __str__(self) -> str:
        return (
            f"{super().__str__()}\n--- stdout ---\n{self.stdout or ''}"
            f"--- stderr ---\n{self.stderr or ''}"
        )


# --------------------------------------------------------------------------- ipvsadm parsing


@dataclass
class IpvsCounters:
    """One row of ``ipvsadm -Ln --stats --exact``."""

    conns: int
    inpkts: int
    outpkts: int
    inbytes: int
    outbytes: int


@dataclass
class IpvsDest:
    """A real server row of ``ipvsadm -Ln`` (and its --stats row when available)."""

    addr: str  # "ip:port"
    forward: str = ""  # Route, Masq, Tunnel, ...
    weight: int = 0
    active: int = 0
    inactive: int = 0
    stats: IpvsCounters | None = None


@dataclass
class IpvsService:
    """A virtual service row; ``key`` is e.g. "TCP 198.18.23.73:8765"."""

    proto: str
    addr: str
    scheduler: str = ""
    flags: str = ""  # e.g. "persistent 120"
    dests: dict[str, IpvsDest] = field(default_factory=dict)
    stats: IpvsCounters | None = None

    @property
    def key(self) -> str:
        return f"{self.proto} {self.addr}"


_PROTOS = ("TCP", "UDP", "SCTP", "FWM")


def parse_ipvsadm(listing: str, stats: str | None = None) -> dict[str, IpvsService]:
    """Parse ``ipvsadm -Ln`` output (and optionally ``-Ln --stats --exact``)."""
    services: dict[str, IpvsService] = {}
    cur: IpvsService | None = None
    for line in listing.splitlines():
        tok = line.split()
        if not tok:
            continue
        if tok[0] in _PROTOS and len(tok) >= 2:
            cur = IpvsService(tok[0], tok[1], tok[2] if len(tok) > 2 else "", " ".join(tok[3:]))
            services[cur.key] = cur
        elif tok[0] == "->" and len(tok) >= 6 and cur is not None and tok[3].isdigit():
            cur.dests[tok[1]] = IpvsDest(tok[1], tok[2], int(tok[3]), int(tok[4]), int(tok[5]))
    if stats is not None:
        cur = None
        for line in stats.splitlines():
            tok = line.split()
            if len(tok) < 6 or not tok[-1].isdigit():
                continue
            counters = IpvsCounters(*(int(x) for x in tok[-5:]))
            if tok[0] in _PROTOS:
                cur = services.setdefault(
                    f"{tok[0]} {tok[1]}", IpvsService(tok[0], tok[1])
                )
                cur.stats = counters
            elif tok[0] == "->" and cur is not None:
                cur.dests.setdefault(tok[1], IpvsDest(tok[1])).stats = counters
    return services


# --------------------------------------------------------------------------- results


@dataclass
class TrafficResult:
    """What Topology.traffic saw: HTTP statuses, which real server answered, errors."""

    sent: int
    statuses: Counter[int]
    servers: Counter[str]  # response body -> count ("rs1"/"rs2" for the seed)
    errors: Counter[str]  # exception name -> count
    seconds: float

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)


# --------------------------------------------------------------------------- topology


class Topology:
    """Builds, drives and tears down the seed topology. All state lives under STATE_DIR.

    Main API (``ns`` is a namespace name; ``None`` means the VM's root namespace):

    - ``run(ns, *argv, check=True, timeout=...)``: run argv in ns, return CompletedProcess.
    - ``addrs(ns)`` / ``has_addr(ns, ip)`` / ``vip_holders(vip)``: addresses from ``ip -j``.
    - ``ipvs(director)``: parsed ``ipvsadm -Ln`` + ``--stats --exact`` (dict of IpvsService).
    - ``http_get(vip, port, source_ns, source)`` -> status (0 if no HTTP answer);
      ``claim_sources(k)``: k fresh client source addresses (no persistence yet);
      ``http_fetch`` -> (status, body); ``traffic(vip, n, sources=...)`` -> TrafficResult;
      ``hold_connections(vip, n, sources=...)`` context manager keeps TCP connections open.
    - ``stop_http(rs)`` / ``start_http(rs)`` / ``http_stopped(rs)`` (context manager).
    - ``stop_keepalived(d)`` / ``start_keepalived(d)`` / ``keepalived_stopped(d)`` (cm),
      ``keepalived_pids(d)``, ``keepalived_signal(d, "DATA")``, ``tmpdir(d)``,
      ``keepalived_log(d)``, ``keepalived_conf(d)``.
    - ``lvstop(ns, *args)``: run the lvstop CLI in ns.
    - ``wait_for(pred, timeout, interval, what)``: poll until pred() is truthy.
    - ``seed_problems()`` / ``wait_seed()`` / ``restore()``: check / wait for / bring back
      the designed steady state.
    """

    def __init__(self, state_dir: Path = STATE_DIR, python: str = sys.executable) -> None:
        self.state_dir = state_dir
        self.python = python
        self._http: dict[str, subprocess.Popen[bytes]] = {}
        self._keepalived: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []
        self.setup_timings: dict[str, float] = {}
        self._claimed = 0

    # ----------------------------------------------------------------- commands

    def run(
        self,
        ns: str | None,
        *argv: str,
        check: bool = True,
        timeout: float = 30.0,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv (a list, never a shell string) in namespace ns and capture its output."""
        full = [*self._ns_prefix(ns), *argv]
        proc = subprocess.run(
            full,
            text=True,
            capture_output=True,
            timeout=timeout,
            input=input,
            env=None if env is None else {**os.environ, **env},
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise LabCommandError(proc.returncode, full, proc.stdout, proc.stderr)
        return proc

    @staticmethod
    def _ns_prefix(ns: str | None) -> list[str]:
        return [] if ns is None else ["ip", "netns", "exec", ns]

    def ip_batch(self, ns: str | None, commands: Sequence[str]) -> None:
        """Run ``ip -batch -`` (one ip command per line, no values from outside the lab)."""
        netns = [] if ns is None else ["-n", ns]
        self.run(None, "ip", *netns, "-batch", "-", input="\n".join(commands) + "\n")

    def sysctl(self, ns: str | None, settings: Mapping[str, str | int]) -> None:
        self.run(ns, "sysctl", "-q", "-w", *(f"{k}={v}" for k, v in settings.items()))

    @staticmethod
    def wait_for(
        pred: Callable[[], T],
        timeout: float = DEFAULT_TIMEOUT,
        interval: float = 0.5,
        what: str = "condition",
    ) -> T:
        """Call pred until it returns something truthy and return that; else TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            value = pred()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    # ----------------------------------------------------------------- inspection

    def addrs(self, ns: str | None) -> dict[str, list[str]]:
        """Interface name -> ["addr/prefixlen", ...] (IPv4 and IPv6) from ``ip -j addr``."""
        out = self.run(ns, "ip", "-j", "addr", "show").stdout
        result: dict[str, list[str]] = {}
        for link in json.loads(out or "[]"):
            result[link["ifname"]] = [
                f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
            ]
        return result

    def has_addr(self, ns: str | None, ip: str, ifname: str | None = None) -> bool:
        for name, addrs in self.addrs(ns).items():
            if ifname is not None and name != ifname:
                continue
            if any(a.split("/")[0] == ip for a in addrs):
                return True
        return False

    def vip_holders(self, vip: str) -> list[str]:
        """Directors that currently have vip configured."""
        return [d for d in DIRECTORS if self.has_addr(d, vip)]

    def ipvs(self, director: str, stats: bool = True) -> dict[str, IpvsService]:
        """The director's IPVS table, keyed "TCP 198.18.23.73:8765"."""
        listing = self.run(director, "ipvsadm", "-Ln").stdout
        st = self.run(director, "ipvsadm", "-Ln", "--stats", "--exact").stdout if stats else None
        return parse_ipvsadm(listing, st)

    def ipvs_dests(self, director: str, vip: str, port: int = PORT, proto: str = "TCP") -> set[str]:
        """Real servers ("ip:port") of one virtual service; empty if the service is absent."""
        svc = self.ipvs(director, stats=False).get(f"{proto} {vip}:{port}")
        return set(svc.dests) if svc else set()

    # ----------------------------------------------------------------- http / traffic

    def http_fetch(
        self,
        vip: str,
        port: int = PORT,
        source_ns: str = CLIENT,
        source: str | None = None,
        path: str = "/index.html",
        timeout: float = 10.0,
    ) -> tuple[int, str]:
        """One GET with curl from source_ns (optionally from a given source address).

        Returns (status, body); status 0 means no HTTP answer at all.
        """
        argv = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}",
                "--connect-timeout", str(timeout), "-m", str(timeout)]
        if source:
            argv += ["--interface", source]
        argv.append(f"http://{vip}:{port}{path}")
        proc = self.run(source_ns, *argv, check=False, timeout=timeout + 10)
        body, _, code = proc.stdout.rpartition("\n")
        return (int(code) if code.strip().isdigit() else 0), body

    def http_get(
        self,
        vip: str,
        port: int = PORT,
        source_ns: str = CLIENT,
        source: str | None = None,
        path: str = "/index.html",
        timeout: float = 10.0,
    ) -> int:
        """HTTP status of one GET to vip:port from source_ns (0: no answer)."""
        return self.http_fetch(vip, port, source_ns, source, path, timeout)[0]

    def traffic(
        self,
        vip: str,
        n: int,
        port: int = PORT,
        sources: Sequence[str] = (),
        source_ns: str = CLIENT,
        path: str = "/index.html",
        concurrency: int = 1,
        timeout: float = 5.0,
    ) -> TrafficResult:
        """Send n real GETs (a new connection each) from source_ns, cycling over sources.

        sources: client source addresses, e.g. ``claim_sources(8)``; default the primary.
        With persistence (the seed's 120 s), one source always reaches the same RS.
        """
        argv = [self.python, "-I", str(LAB_DIR / "httpclient.py"), vip, "--port", str(port),
                "--path", path, "-n", str(n), "--timeout", str(timeout),
                "--concurrency", str(concurrency)]
        for s in sources:
            argv += ["--source", s]
        budget = 30 + n * (timeout + 1) / max(1, concurrency)
        data = json.loads(self.run(source_ns, *argv, timeout=budget).stdout)
        return TrafficResult(
            sent=data["sent"],
            statuses=Counter({int(k): v for k, v in data["statuses"].items()}),
            servers=Counter(data["servers"]),
            errors=Counter(data["errors"]),
            seconds=data["seconds"],
        )

    def claim_sources(self, k: int) -> list[str]:
        """k client source addresses no earlier caller in this session got.

        No persistence template (120 s in the seed) exists yet for them, so the scheduler
        really picks a real server for each; with rr, k >= 2 new sources reach both.
        """
        if self._claimed + k > len(CLIENT_POOL):
            raise RuntimeError(f"client source pool exhausted ({len(CLIENT_POOL)} addresses)")
        got = list(CLIENT_POOL[self._claimed : self._claimed + k])
        self._claimed += k
        return got

    @contextlib.contextmanager
    def hold_connections(
        self,
        vip: str,
        n: int,
        port: int = PORT,
        sources: Sequence[str] = (),
        source_ns: str = CLIENT,
        timeout: float = 5.0,
    ) -> Iterator[int]:
        """Open n TCP connections to vip:port and keep them open inside the with-block.

        Yields how many were established (IPVS shows them as ActiveConn).
        """
        argv = [*self._ns_prefix(source_ns), self.python, "-I", str(LAB_DIR / "httpclient.py"),
                vip, "--hold", "--port", str(port), "-n", str(n), "--timeout", str(timeout)]
        for s in sources:
            argv += ["--source", s]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"hold_connections: helper exited with {proc.wait()}")
            yield int(json.loads(line)["open"])
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # ----------------------------------------------------------------- real servers

    def www_dir(self, rs: str) -> Path:
        return self.state_dir / rs / "www"

    def http_running(self, rs: str) -> bool:
        proc = self._http.get(rs)
        return proc is not None and proc.poll() is None

    def start_http(self, rs: str, timeout: float = DEFAULT_TIMEOUT, wait: bool = True) -> None:
        """Start rs's HTTP server (python -m http.server PORT) and wait until it answers
        (unless wait=False: then call wait_http)."""
        if self.http_running(rs):
            if wait:
                self.wait_http(rs, timeout)
            return
        www = self.www_dir(rs)
        www.mkdir(parents=True, exist_ok=True)
        (www / "index.html").write_text(f"{rs}\n")
        log = self._open_log(self.state_dir / rs / "http.log")
        self._http[rs] = subprocess.Popen(
            # -I: no cwd/user site on sys.path; imports over 9p are slow under TCG.
            [*self._ns_prefix(rs), self.python, "-I", "-u", "-m", "http.server", str(PORT),
             "--bind", "0.0.0.0", "--directory", str(www)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=www,
        )
        if wait:
            self.wait_http(rs, timeout)

    def wait_http(self, rs: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until rs's HTTP server answers on its own address."""
        proc = self._http[rs]

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{rs} http.server exited with {proc.returncode}:\n"
                    + tail(self.state_dir / rs / "http.log")
                )
            return self.http_get(ADDR[rs], source_ns=rs, timeout=3) == 200

        self.wait_for(answers, timeout, 0.3, f"{rs} http.server to answer")

    def stop_http(self, rs: str) -> None:
        """Stop rs's HTTP server (SIGTERM, then SIGKILL); its port then refuses connections."""
        proc = self._http.pop(rs, None)
        if proc is not None:
            stop_process(proc)

    @contextlib.contextmanager
    def http_stopped(self, rs: str) -> Iterator[None]:
        """Stop rs's HTTP server for the duration of the with-block, then restart it."""
        self.stop_http(rs)
        try:
            yield
        finally:
            self.start_http(rs)

    # ----------------------------------------------------------------- keepalived

    def tmpdir(self, director: str) -> Path:
        """The director's keepalived TMPDIR (dump files: keepalived.data, .json, .stats...)."""
        return self.state_dir / director

    def keepalived_conf(self, director: str) -> Path:
        return SEED_DIR / f"keepalived-{director}.conf"

    def keepalived_log(self, director: str) -> Path:
        return self.state_dir / director / "keepalived.log"

    def _pidfiles(self, director: str) -> dict[str, Path]:
        d = self.state_dir / director
        return {
            "parent": d / "keepalived.pid",
            "vrrp": d / "vrrp.pid",
            "checker": d / "checkers.pid",
            "bfd": d / "bfd.pid",
        }

    def keepalived_argv(self, director: str) -> list[str]:
        pf = self._pidfiles(director)
        return [
            "keepalived", "-f", str(self.keepalived_conf(director)),
            "-p", str(pf["parent"]), "-r", str(pf["vrrp"]), "-c", str(pf["checker"]),
            "-b", str(pf["bfd"]), "--log-console", "-n", "-D",
            # No syslogd in the VM: syslog(3) would fall back to /dev/console (LOG_CONS).
            "--no-syslog",
        ]

    def keepalived_running(self, director: str) -> bool:
        proc = self._keepalived.get(director)
        return proc is not None and proc.poll() is None

    def keepalived_pids(self, director: str) -> dict[str, int]:
        """Live keepalived processes from the director's pid files: parent, vrrp, checker."""
        pids: dict[str, int] = {}
        for role, path in self._pidfiles(director).items():
            try:
                pid = int(path.read_text().strip())
                os.kill(pid, 0)
            except (OSError, ValueError):
                continue
            pids[role] = pid
        return pids

    def start_keepalived(
        self, director: str, timeout: float = DEFAULT_TIMEOUT, wait: bool = True
    ) -> None:
        """Start keepalived in the director's netns; returns once parent, VRRP and checker
        processes are up (unless wait=False: then call wait_keepalived). VRRP convergence
        is not awaited: see wait_seed."""
        if self.keepalived_running(director):
            if wait:
                self.wait_keepalived(director, timeout)
            return
        tmp = self.tmpdir(director)
        tmp.mkdir(parents=True, exist_ok=True)
        log = self._open_log(self.keepalived_log(director))
        log.write(f"==== lab: starting keepalived at {time.strftime('%T')}\n".encode())
        log.flush()
        self._keepalived[director] = subprocess.Popen(
            [*self._ns_prefix(director), *self.keepalived_argv(director)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(tmp)}, start_new_session=True,
        )
        if wait:
            self.wait_keepalived(director, timeout)

    def wait_keepalived(self, director: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the director's keepalived parent, VRRP and checker processes run."""
        proc = self._keepalived[director]

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"keepalived in {director} exited with {proc.returncode}:\n"
                    + tail(self.keepalived_log(director))
                )
            pids = self.keepalived_pids(director)
            return {"parent", "vrrp", "checker"} <= pids.keys() and pids["parent"] == proc.pid

        self.wait_for(up, timeout, 0.3, f"keepalived processes in {director}")

    def stop_keepalived(self, director: str, timeout: float = 30.0) -> None:
        """SIGTERM keepalived's parent (like systemctl stop) and wait for it to exit."""
        proc = self._keepalived.pop(director, None)
        if proc is not None:
            stop_process(proc, timeout)

    @contextlib.contextmanager
    def keepalived_stopped(self, director: str) -> Iterator[None]:
        """Stop keepalived on director for the with-block, then start it again."""
        self.stop_keepalived(director)
        try:
            yield
        finally:
            self.start_keepalived(director)

    def keepalived_signal(self, director: str, sigfunc: str) -> int:
        """Send keepalived's signal for sigfunc (DATA, STATS, JSON, RELOAD...) to the parent.

        Dump files appear in tmpdir(director); they may be briefly partial (see reference).
        Returns the signal number.
        """
        signum = int(self.run(None, "keepalived", f"--signum={sigfunc}").stdout.strip())
        os.kill(self.keepalived_pids(director)["parent"], signum)
        return signum

    # ----------------------------------------------------------------- lvstop

    def lvstop(
        self,
        ns: str | None,
        *args: str,
        check: bool = False,
        timeout: float = 120.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``<repo>/.venv/bin/lvstop *args`` in ns (falls back to lvstop.cli:main)."""
        exe = REPO / ".venv/bin/lvstop"
        if exe.exists():
            argv = [str(exe), *args]
        else:
            argv = [self.python, "-c", "import sys; from lvstop.cli import main; sys.exit(main())",
                    *args]
        return self.run(ns, *argv, check=check, timeout=timeout, env=env)

    # ----------------------------------------------------------------- build / teardown

    def setup(self, timeout: float = 120.0) -> None:
        """Build the whole seed topology and wait until it is in its designed state."""
        t0 = time.monotonic()

        def phase(name: str) -> None:
            nonlocal t0
            now = time.monotonic()
            self.setup_timings[name] = round(now - t0, 2)
            t0 = now

        self.teardown()  # leftovers of an aborted run
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._build_network()
        phase("network_s")
        for rs in REAL_SERVERS:
            self.start_http(rs, wait=False)
        for rs in REAL_SERVERS:
            self.wait_http(rs)
        phase("http_servers_s")
        for d in DIRECTORS:
            self.add_manual_services(d)
        for d in DIRECTORS:
            self.start_keepalived(d, wait=False)
        for d in DIRECTORS:
            self.wait_keepalived(d)
        phase("keepalived_start_s")
        self.wait_seed(timeout)
        phase("converge_s")

    def _build_network(self) -> None:
        root = [f"netns add {ns}" for ns in NAMESPACES]
        root += [
            f"link add {BRIDGE} type bridge stp_state 0 mcast_snooping 0",
            f"link set {BRIDGE} up",
        ]
        for ns in NAMESPACES:
            root += [
                f"link add v-{ns} type veth peer name eth0 netns {ns}",
                f"link set v-{ns} master {BRIDGE} up",
            ]
        self.ip_batch(None, root)
        for ns in NAMESPACES:
            cmds = [
                "link set lo up",
                f"addr add {ADDR[ns]}/{PREFIXLEN} dev eth0",
                "link set eth0 up",
            ]
            if ns == CLIENT:
                cmds += [f"addr add {a}/{PREFIXLEN} dev eth0" for a in CLIENT_POOL]
            else:
                cmds.append(f"route add {CLIENT_POOL_NET} via {ADDR[CLIENT]} dev eth0")
            if ns in REAL_SERVERS:
                cmds += [f"addr add {vip}/32 dev lo" for vip in VIPS]
            self.ip_batch(ns, cmds)
        for rs in REAL_SERVERS:
            settings: dict[str, str | int] = {}
            for dev in ("all", "default", "lo", "eth0"):
                settings[f"net.ipv4.conf.{dev}.arp_ignore"] = 1
                settings[f"net.ipv4.conf.{dev}.arp_announce"] = 2
            self.sysctl(rs, settings)
        for d in DIRECTORS:
            self.sysctl(d, {"net.ipv4.ip_forward": 1})

    def manual_rules(self) -> str:
        """The ``ipvsadm -R`` input for the seed post's hand-made VIP:80 services."""
        lines = []
        for vip in VIPS:
            lines.append(f"-A -t {vip}:{MANUAL_PORT} -s rr")
            lines += [f"-a -t {vip}:{MANUAL_PORT} -r {rs}:{MANUAL_PORT} -g -w 1"
                      for rs in MANUAL_REAL_SERVERS]
        return "\n".join(lines) + "\n"

    def add_manual_services(self, director: str) -> None:
        self.run(director, "ipvsadm", "-R", input=self.manual_rules())

    def teardown(self) -> None:
        """Stop every lab process and delete the namespaces and the bridge."""
        procs = [*self._keepalived.values(), *self._http.values()]
        self._keepalived.clear()
        self._http.clear()
        for proc in procs:  # signal all first: keepalived takes a while to shut down
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for proc in procs:
            stop_process(proc)
        # Processes of an earlier, aborted session (no Popen handle): use the pid files.
        for d in DIRECTORS:
            pid = self.keepalived_pids(d).get("parent")
            if pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
                self._wait_gone(d)
        existing = set(self.run(None, "ip", "netns", "list").stdout.split())
        for ns in NAMESPACES:
            if ns in existing:
                out = self.run(None, "ip", "netns", "pids", ns, check=False).stdout
                for word in out.split():
                    with contextlib.suppress(OSError, ValueError):
                        os.kill(int(word), signal.SIGKILL)
                self.run(None, "ip", "netns", "del", ns, check=False)
        self.run(None, "ip", "link", "del", BRIDGE, check=False)
        for f in self._logs:
            f.close()
        self._logs.clear()

    def _wait_gone(self, director: str) -> None:
        def gone() -> bool:
            return "parent" not in self.keepalived_pids(director)

        self.wait_for(gone, 30, 0.3, f"old keepalived in {director} to exit")

    def collect_logs(self, dest: Path) -> None:
        """Copy the lab's logs (keepalived, http.server) and dump files to dest."""
        if not self.state_dir.exists():
            return
        for path in self.state_dir.rglob("*"):
            if path.is_file() and "www" not in path.parts and path.suffix != ".pid":
                target = dest / path.relative_to(self.state_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    shutil.copyfile(path, target)

    def _open_log(self, path: Path) -> IO[bytes]:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = path.open("ab")
        self._logs.append(f)
        return f

    # ----------------------------------------------------------------- steady state

    def seed_problems(self, http: bool = True) -> list[str]:
        """Differences from the designed steady state (empty list: all as designed)."""
        problems: list[str] = []
        for rs in REAL_SERVERS:
            if not self.http_running(rs):
                problems.append(f"{rs}: http.server not running")
        for d in DIRECTORS:
            if not self.keepalived_running(d):
                problems.append(f"{d}: keepalived not running")
        want_dests = {f"{a}:{PORT}" for a in RS_ADDRS}
        want_manual = {f"{a}:{MANUAL_PORT}" for a in MANUAL_REAL_SERVERS}
        for vip in VIPS:
            holders = self.vip_holders(vip)
            if holders != [MASTER[vip]]:
                problems.append(f"{vip} held by {holders or 'nobody'}, not {MASTER[vip]}")
        for d in DIRECTORS:
            table = self.ipvs(d, stats=False)
            for vip in VIPS:
                svc = table.get(f"TCP {vip}:{PORT}")
                have = set(svc.dests) if svc else None
                if have != want_dests:
                    problems.append(f"{d}: TCP {vip}:{PORT} has {have}, want {want_dests}")
                manual = table.get(f"TCP {vip}:{MANUAL_PORT}")
                have = set(manual.dests) if manual else None
                if have != want_manual:
                    problems.append(f"{d}: TCP {vip}:{MANUAL_PORT} has {have}, want {want_manual}")
        if http and not problems:
            for vip in VIPS:
                status = self.http_get(vip, timeout=5)
                if status != 200:
                    problems.append(f"client: GET http://{vip}:{PORT}/ -> {status}")
        return problems

    def wait_seed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait for the designed steady state; on timeout raise with what is still wrong."""
        last: list[str] = []

        def ok() -> bool:
            nonlocal last
            last = self.seed_problems()
            return not last

        try:
            self.wait_for(ok, timeout, 1.0, "the seed topology's steady state")
        except TimeoutError as e:
            logs = "\n".join(
                f"--- {self.keepalived_log(d)} (tail) ---\n{tail(self.keepalived_log(d))}"
                for d in DIRECTORS
            )
            raise TimeoutError(f"{e}; still wrong: {last}\n{logs}") from None

    def restore(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Bring the seed back to its steady state after a test changed it."""
        for rs in REAL_SERVERS:
            self.start_http(rs, wait=False)
        for d in DIRECTORS:
            self.start_keepalived(d, wait=False)
        for rs in REAL_SERVERS:
            self.wait_http(rs)
        for d in DIRECTORS:
            self.wait_keepalived(d)
            table = self.ipvs(d, stats=False)
            if any(f"TCP {vip}:{MANUAL_PORT}" not in table for vip in VIPS):
                for vip in VIPS:
                    self.run(d, "ipvsadm", "-D", "-t", f"{vip}:{MANUAL_PORT}", check=False)
                self.add_manual_services(d)
        self.wait_seed(timeout)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """SIGTERM proc, wait, SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"({e})"
