"""lvstop's console on lvs1 in a real terminal (tmux), against the seed's real pair.

One console runs for the whole module in lvs1's namespace, in a 160x48 tmux window.
Keys go in with `tmux send-keys`, the screen comes back with `tmux capture-pane -p`
and is checked against ground truth read independently: `ipvsadm -Ln`, `ip addr`,
keepalived's own JSON and data dumps. The scripted session opens a service, filters,
sorts, opens the VRRP view, then lives through a failover (keepalived stopped on lvs2:
lvs1 takes VI_2 over) and a real-server failure (rs2's HTTP server stopped: keepalived
removes it), and finally shrinks to 80x24, where nothing may be garbled.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_snapshot_keepalived import dump, master_routers
from topology import ADDR, MANUAL_PORT, PORT, REPO, RS_ADDRS, VIP1, VIP2, VIPS, Topology

NS = "lvs1"
WIDE = (160, 48)
SMALL = (80, 24)
SLOW = 120.0  # the console under TCG: start ~10-20 s, a refresh a few seconds at worst
RS2 = RS_ADDRS[1]
ESCAPE_GAP = 0.5
"""A key right after Escape would arrive as Alt+key (the terminal's escape prefix)."""
SERVICE_ROW = re.compile(r"^(TCP|UDP|SCTP)\s+(\S+)\s+(MASTER|BACKUP|FAULT|INIT|\?|-)\s+(\d+)/(\d+)")
SERVER_ROW = re.compile(
    r"^(?:(TCP|UDP|SCTP)\s+(\S+)\s+)?(\d+\.\d+\.\d+\.\d+:\d+)\s+(\S+)\s+(\d+|-)\s"
)


class Console:
    """lvstop in a detached tmux session of its own server (killed by close())."""

    def __init__(self, lab: Topology, ns: str, size: tuple[int, int]) -> None:
        self.lab = lab
        self.socket = f"lvstop-lab-tui-{ns}"
        exe = REPO / ".venv/bin/lvstop"
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        self._tmux(
            "new-session", "-d", "-s", "tui", "-x", str(size[0]), "-y", str(size[1]),
            # COLUMNS/LINES (guest.sh sets COLUMNS) would pin Textual's screen size.
            "--", "ip", "netns", "exec", ns, "env", "-u", "COLUMNS", "-u", "LINES",
            "TERM=xterm-256color", "LC_ALL=C.UTF-8", str(exe), "--interval", "1",
        )  # fmt: skip
        self._tmux("set-option", "-t", "tui", "remain-on-exit", "on")

    def _tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-u", "-L", self.socket, *args],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return out.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "tui")

    def keys(self, *keys: str) -> None:
        """tmux key names ("Enter", "Escape") or literal text with a leading '='."""
        for k in keys:
            if k.startswith("="):
                self._tmux("send-keys", "-t", "tui", "-l", k[1:])
            else:
                self._tmux("send-keys", "-t", "tui", k)
            if k == "Escape":
                time.sleep(ESCAPE_GAP)

    def line(self, opener: str, text: str) -> None:
        """Open the filter ("/") or command (":") line, wait for it to have the focus
        (or the first digits typed would switch views), then type `text`."""
        self.keys(opener)
        self.wait(lambda s: _line_open(footer(s)), f"the {opener} line")
        self.keys(f"={text}")

    def close_line(self, key: str) -> None:
        """Enter or Escape on the line, then wait until the table has the keys again."""
        self.keys(key)
        self.wait(lambda s: not _line_open(footer(s)) and "? Help" in footer(s), "the table's keys")

    def resize(self, size: tuple[int, int]) -> None:
        self._tmux("resize-window", "-t", "tui", "-x", str(size[0]), "-y", str(size[1]))

    def wait(self, pred: Callable[[str], Any], what: str, timeout: float = SLOW) -> str:
        """The first screen for which pred(screen) is truthy (else fail, showing it)."""
        last = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.screen()
            if pred(last):
                return last
            time.sleep(0.5)
        pytest.fail(f"console: timed out after {timeout:.0f} s waiting for {what}:\n{last}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def footer(screen: str) -> str:
    """The last line drawn (capture-pane may end with blank lines)."""
    return next((ln for ln in reversed(screen.splitlines()) if ln.strip()), "")


def column_header(screen: str) -> str | None:
    """The Services table's column titles (the sort column carries ▲ or ▼)."""
    return next((ln for ln in screen.splitlines() if ln.lstrip("▲▼").startswith("Service ")), None)


def _line_open(footer: str) -> bool:
    """The key bar while the filter/command line has the focus: the line's own keys
    (Enter / Esc cancel) instead of the view's."""
    return "Esc cancel" in footer and footer.endswith("^p palette")


def services(screen: str) -> dict[str, tuple[str, int, int, list[str]]]:
    """Services rows: "TCP 198.18.23.73:8765" -> (role, up, total, all cells)."""
    out = {}
    for line in screen.splitlines():
        m = SERVICE_ROW.match(line)
        if m:
            out[f"{m[1]} {m[2]}"] = (m[3], int(m[4]), int(m[5]), line.split())
    return out


def servers(screen: str) -> list[tuple[str | None, str, str, str, str]]:
    """Real server rows: (service or None in one service's view, "ip:port", health,
    kernel weight, the whole line)."""
    out = []
    for line in screen.splitlines():
        m = SERVER_ROW.match(line)
        if m:
            out.append((f"{m[1]} {m[2]}" if m[1] else None, m[3], m[4], m[5], line))
    return out


def row(screen: str, key: str) -> tuple[str, int, int, list[str]]:
    """One service's row, or an empty one while it is not on screen."""
    return services(screen).get(key, ("", 0, 0, []))


def header_vrrp(screen: str) -> str:
    return screen.splitlines()[1].strip()


def keepalived_truth(lab: Topology, director: str) -> dict[str, dict[str, Any]]:
    """Instance name -> keepalived's own JSON dump data, plus "master_router" (BACKUP)."""
    own = {
        d["data"]["iname"]: d["data"]
        for d in json.loads(dump(lab, director, "JSON", "keepalived.json"))
    }
    for name, router in master_routers(dump(lab, director, "DATA", "keepalived.data")).items():
        own[name]["master_router"] = router
    return own


def expected_vrrp_line(truth: dict[str, dict[str, Any]]) -> str:
    """The header's VRRP line as keepalived's own state says it must read."""
    parts = []
    for name in sorted(truth):
        d = truth[name]
        state = {1: "BACKUP", 2: "MASTER", 3: "FAULT"}[d["state"]]
        text = f"{name} {state} {d['effective_priority']}"
        if d["effective_priority"] != d["base_priority"]:
            text = f"{name} {state} {d['effective_priority']} (base {d['base_priority']})"
        if state == "BACKUP":
            text += f" ← {d['master_router']} ({d['master_priority']})"
        parts.append(text)
    return " │ ".join(parts)


def stable_ipvs(lab: Topology) -> dict[str, Any]:
    """ipvsadm -Ln in lvs1, read until two reads agree (no traffic in flight)."""

    def agree() -> dict[str, Any] | None:
        a = lab.ipvs(NS, stats=False)
        b = lab.ipvs(NS, stats=False)
        return a if a == b else None

    return lab.wait_for(agree, 30, 0.5, "two identical ipvsadm -Ln listings")


@pytest.fixture(scope="module")
def console(seed: Topology) -> Iterator[Console]:
    c = Console(seed, NS, WIDE)
    try:
        c.wait(lambda s: len(services(s)) == 4, "the first frame with the four services")
        yield c
    finally:
        c.close()


def home(console: Console) -> str:
    """Back to the unfiltered Services view."""
    console.keys("Escape", "Escape", "1")  # (an open filter line would take the "1")
    return console.wait(lambda s: len(services(s)) == 4, "the Services view, unfiltered")


def test_services_view_matches_ipvsadm_ip_addr_and_keepalived(
    seed: Topology, console: Console
) -> None:
    table = stable_ipvs(seed)
    truth = keepalived_truth(seed, NS)
    want_line = expected_vrrp_line(truth)
    # The first frames may come before the first keepalived reading (roles "-"); the
    # console reads keepalived off the poll thread and joins it once it is there.
    screen = console.wait(
        lambda s: (
            header_vrrp(s) == want_line
            and len(services(s)) == 4
            and all(r[0] in ("MASTER", "BACKUP") for r in services(s).values())
        ),
        f"the header to read {want_line!r} and every service a role",
    )
    host = seed.run(NS, "hostname").stdout.strip()
    assert screen.splitlines()[0].split()[0] == host  # the host, first thing on screen
    rows = services(screen)
    assert set(rows) == set(table)  # every service of ipvsadm, nothing else
    holds = {vip: seed.has_addr(NS, vip) for vip in VIPS}
    role = {VIP1: truth["VI_1"]["state"], VIP2: truth["VI_2"]["state"]}
    for key, (shown_role, up, total, cells) in rows.items():
        vip, port = key.split()[1].split(":")
        assert total == len(table[key].dests), key
        assert up == total, key  # all healthy (the port-80 ones: nothing checks them)
        assert ("eth0" in cells) == holds[vip] and ("absent" in cells) == (not holds[vip]), key
        assert shown_role == {1: "BACKUP", 2: "MASTER"}[role[vip]], key
        assert int(port) in (PORT, MANUAL_PORT)


def test_open_a_service_then_filter_and_sort(seed: Topology, console: Console) -> None:
    home(console)
    console.line("/", f"{VIP1}:{PORT}")
    console.wait(lambda s: list(services(s)) == [f"TCP {VIP1}:{PORT}"], "the filter to narrow")
    console.close_line("Enter")  # keep the filter
    console.keys("Enter")  # open the one service left
    screen = console.wait(
        lambda s: f"of TCP  {VIP1}:{PORT}" in s and len(servers(s)) == 2, "its real servers"
    )
    dests = stable_ipvs(seed)[f"TCP {VIP1}:{PORT}"].dests
    rows = servers(screen)
    assert {r[1] for r in rows} == set(dests)
    for service, addr, health, weight, line in rows:
        assert service is None  # one service's view: no Service column
        assert health == "up" and weight == str(dests[addr].weight), line
    # Sort: by service (":sort service"), then reversed ("r"): ipvsadm's keys, backwards.
    home(console)
    console.line(":", "sort service")
    console.close_line("Enter")
    order = sorted(services(console.screen()), key=lambda k: tuple(map(int, re.findall(r"\d+", k))))
    screen = console.wait(lambda s: list(services(s)) == order, f"ascending order {order}")
    console.keys("r")
    console.wait(lambda s: list(services(s)) == order[::-1], "the reversed order")
    console.line("/", VIP2)
    screen = console.wait(
        lambda s: set(services(s)) == {f"TCP {VIP2}:{PORT}", f"TCP {VIP2}:{MANUAL_PORT}"},
        f"only {VIP2}'s services",
    )
    assert list(services(screen)) == [k for k in order[::-1] if VIP2 in k]  # sort kept
    console.close_line("Escape")  # Escape drops the filter too
    console.wait(lambda s: list(services(s)) == order[::-1], "all four services again")


def test_vrrp_view_matches_keepalived(seed: Topology, console: Console) -> None:
    truth = keepalived_truth(seed, NS)
    console.keys("3")
    screen = console.wait(lambda s: "On the wire" in s and "VI_2" in s, "the VRRP view")
    for name, d in truth.items():
        line = next(ln for ln in screen.splitlines() if ln.startswith(name + " "))
        cells = line.split()
        state = {1: "BACKUP", 2: "MASTER"}[d["state"]]
        assert cells[1:5] == [str(d["vrid"]), state, str(d["effective_priority"]),
                              str(d["base_priority"])], line  # fmt: skip
        if state == "BACKUP":
            assert f"{d['master_router']} ({d['master_priority']})" in line
    speakers = {
        (int(m[1]), m[2], int(m[3]))
        for m in re.finditer(r"^\s*(\d+) (198\.18\.23\.\d+)\s+(\d+)\s", screen, re.M)
    }
    assert speakers == {(51, ADDR["lvs1"], 100), (52, ADDR["lvs2"], 100)}
    home(console)


def test_failover_to_lvs1_when_keepalived_stops_on_lvs2(lab: Topology, console: Console) -> None:
    home(console)
    with lab.keepalived_stopped("lvs2"):
        lab.wait_for(lambda: lab.vip_holders(VIP2) == [NS], what=f"{NS} to take {VIP2} over")
        truth = keepalived_truth(lab, NS)
        assert truth["VI_2"]["state"] == 2  # keepalived itself says MASTER now
        want = expected_vrrp_line(truth)
        screen = console.wait(
            lambda s: (
                header_vrrp(s) == want and all(r[0] == "MASTER" for r in services(s).values())
            ),
            f"the header to read {want!r} and every service MASTER",
        )
        rows = services(screen)
        for key, (_role, up, total, cells) in rows.items():
            assert "eth0" in cells and "absent" not in cells, key  # both VIPs here now
            assert up == total == len(lab.ipvs(NS, stats=False)[key].dests), key
        console.keys("5")
        events = console.wait(lambda s: "VI_2" in s and "MASTER" in s, "the failover event")
        assert VIP2 in events  # the VIP arriving is its own event
        # The wire: only lvs1 still advertises VRID 52 (lvs2 went silent).
        console.keys("3")
        console.wait(
            lambda s: re.search(rf"^\s*52 {re.escape(ADDR['lvs1'])}\s+90\s", s, re.M),
            "lvs1 advertising VRID 52 at priority 90",
        )
    lab.wait_for(lambda: lab.vip_holders(VIP2) == ["lvs2"], what="lvs2 to take VI_2 back")
    want = expected_vrrp_line(keepalived_truth(lab, NS))
    console.keys("1")
    console.wait(lambda s: header_vrrp(s) == want, f"the header back to {want!r}")


def test_real_server_failure_during_the_session(lab: Topology, console: Console) -> None:
    home(console)
    gone = f"{RS2}:{PORT}"
    with lab.http_stopped("rs2"):
        lab.wait_for(
            lambda: all(gone not in lab.ipvs_dests(NS, v) for v in VIPS),
            what="keepalived to remove rs2 from IPVS",
        )
        screen = console.wait(
            lambda s: all(row(s, f"TCP {v}:{PORT}")[1:3] == (1, 2) for v in VIPS),
            "1/2 real servers up on both 8765 services",
        )
        table = lab.ipvs(NS, stats=False)
        for v in VIPS:
            assert set(table[f"TCP {v}:{PORT}"].dests) == {f"{RS_ADDRS[0]}:{PORT}"}
        assert services(screen)[f"TCP {VIP1}:{MANUAL_PORT}"][1:3] == (2, 2)  # unchecked
        console.keys("2")  # every real server of every service
        screen = console.wait(
            lambda s: (
                sorted(r[0] or "" for r in servers(s) if r[1] == gone and r[2] == "down")
                == [f"TCP {v}:{PORT}" for v in VIPS]
            ),
            f"{gone} shown down in both 8765 services",
        )
        for _svc, _addr, _health, _weight, line in (r for r in servers(screen) if r[1] == gone):
            assert "not in IPVS" in line or "HTTP_GET" in line or "refused" in line, line
        ok = [r for r in servers(screen) if r[1] == f"{RS_ADDRS[0]}:{PORT}"]
        assert len(ok) == 2 and all(r[2] == "up" for r in ok), ok
    lab.wait_for(lambda: all(gone in lab.ipvs_dests(NS, v) for v in VIPS), what="rs2 back in IPVS")
    home(console)
    console.wait(
        lambda s: all(row(s, f"TCP {v}:{PORT}")[1:3] == (2, 2) for v in VIPS),
        "2/2 real servers again",
    )


def test_80x24_nothing_garbled(seed: Topology, console: Console) -> None:
    home(console)
    console.resize(SMALL)
    try:
        screen = console.wait(
            lambda s: (
                len(s.splitlines()) <= SMALL[1]
                and len(services(s)) == 4
                and column_header(s) is not None
                and footer(s).endswith("^p palette")
            ),
            "the 80x24 layout",
        )
        lines = screen.splitlines()
        assert all(len(ln) <= SMALL[0] for ln in lines), lines
        assert "\ufffd" not in screen
        # Drawn for 80 columns, not cut by the terminal: the footer's right end is there.
        assert footer(screen).endswith("^p palette"), footer(screen)
        assert lines[0].split()[0] == seed.run(NS, "hostname").stdout.strip()
        rows = services(screen)
        assert set(rows) == set(seed.ipvs(NS, stats=False))  # labels whole, not cut
        head = column_header(screen)
        assert head is not None
        # The columns that fit keep whole labels, in order; the rest dropped, not squeezed.
        labels = [w.strip("▲▼") for w in head.split()]  # the sort column is marked
        assert labels[:4] == ["Service", "Role", "RS", "Active"], head
        for view, marker in (("3", "VI_1"), ("2", f"{RS_ADDRS[0]}:{PORT}"), ("5", "")):
            console.keys(view)
            shown = console.wait(lambda s, m=marker: m in s, f"view {view} at 80x24")
            assert all(len(ln) <= SMALL[0] for ln in shown.splitlines())
            assert "\ufffd" not in shown
    finally:
        console.resize(WIDE)
        home(console)
