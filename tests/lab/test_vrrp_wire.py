"""The passive VRRP listener and rtnetlink events against the real keepalived pair.

Listeners run inside the lab's namespaces as ``python -I -m lvstop.sources.vrrp_listen``
/ ``lvstop.sources.rtnl_events`` and stream JSON lines; every timestamp is
CLOCK_MONOTONIC, shared by all processes in the VM, so times compare directly.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from topology import ADDR, VIP1, VIP2, Topology

LVS1, LVS2 = ADDR["lvs1"], ADDR["lvs2"]
EXPECT = ["--expect", f"51={VIP1}@1", "--expect", f"52={VIP2}@1"]
Item = dict[str, Any]


class JsonLines:
    """A helper process in a namespace whose stdout is JSON lines, collected by a thread."""

    def __init__(self, ns: str, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.items: list[Item] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()
        self.ready = self.wait(lambda i: i.get("kind") == "ready", 60, "helper ready")["t"]

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.items.append(json.loads(line))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait(self, pred: Callable[[Item], bool], timeout: float, what: str) -> Item:
        """The first item (old or new) matching pred."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for item in self.items[seen:]:
                    if pred(item):
                        return item
                seen = len(self.items)
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    err = self.proc.stderr.read() if self.proc.poll() is not None else ""
                    raise TimeoutError(f"no {what} within {timeout} s; {err}")
                self._cond.wait(min(left, 0.5))

    def select(self, pred: Callable[[Item], bool]) -> list[Item]:
        with self._cond:
            return [i for i in self.items if pred(i)]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def vrrp_listener(lab: Topology, ns: str, *extra: str) -> Iterator[JsonLines]:
    argv = [
        lab.python,
        "-I",
        "-m",
        "lvstop.sources.vrrp_listen",
        "-i",
        "eth0",
        "--snapshot-every",
        "0.5",
        *EXPECT,
        *extra,
    ]
    h = JsonLines(ns, argv)
    try:
        yield h
    finally:
        h.close()


@contextlib.contextmanager
def rtnl_watch(lab: Topology, ns: str) -> Iterator[JsonLines]:
    h = JsonLines(ns, [lab.python, "-I", "-m", "lvstop.sources.rtnl_events"])
    try:
        yield h
    finally:
        h.close()


def advert(vrid: int, source: str, prio: int | None = None) -> Callable[[Item], bool]:
    return lambda i: (
        i.get("kind") == "advert"
        and i["vrid"] == vrid
        and i["source"] == source
        and (prio is None or i["priority"] == prio)
    )


def alarms(item: Item) -> set[tuple[str, int]]:
    return {(a["kind"], a["vrid"]) for a in item["alarms"]}


def snapshot_after(h: JsonLines, t: float, timeout: float = 30) -> Item:
    return h.wait(lambda i: i.get("kind") == "snapshot" and i["t"] >= t, timeout, "snapshot")


def test_lvs2_sees_lvs1_for_51_and_its_own_adverts_only_via_outgoing(seed: Topology) -> None:
    with vrrp_listener(seed, "lvs2") as raw, vrrp_listener(seed, "lvs2", "--outgoing") as both:
        # 4 s + skew after start: long enough for a no-master verdict to be possible.
        start = max(raw.ready, both.ready)
        last_raw = snapshot_after(raw, start + 5.0)
        last_both = snapshot_after(both, start + 5.0)

        # The raw socket: lvs1 is the only speaker for VRID 51 (prio 100, v2, PASS).
        a51 = raw.select(lambda i: i.get("kind") == "advert" and i["vrid"] == 51)
        assert len(a51) >= 3
        assert {
            (
                a["source"],
                a["priority"],
                a["version"],
                a["auth_type"],
                a["advert_int"],
                tuple(a["vips"]),
                a["destination"],
                a["ttl"],
                a["interface"],
            )
            for a in a51
        } == {(LVS1, 100, 2, 1, 1.0, (VIP1,), "224.0.0.18", 255, "eth0")}
        speakers = {(s["vrid"], s["source"]): s for s in last_raw["speakers"]}
        assert set(speakers) == {(51, LVS1)}
        # lvs2's own adverts for 52 never reach its raw socket (keepalived switches
        # IP_MULTICAST_LOOP off; raw sockets never see outgoing packets) and lvs1 is a
        # silent backup for 52, so a raw-only listener on lvs2 sees *no* master for 52.
        assert raw.select(lambda i: i.get("kind") == "advert" and i["vrid"] == 52) == []
        assert alarms(last_raw) == {("no_master", 52)}
        assert last_raw["invalid"] == {}

        # With --outgoing (AF_PACKET, PACKET_OUTGOING) lvs2's own adverts are there too.
        own = both.select(advert(52, LVS2))
        assert len(own) >= 3 and all(a["outgoing"] and a["priority"] == 100 for a in own)
        assert all(not a["outgoing"] for a in both.select(advert(51, LVS1)))
        speakers = {(s["vrid"], s["source"]): s for s in last_both["speakers"]}
        assert set(speakers) == {(51, LVS1), (52, LVS2)}
        assert speakers[(52, LVS2)]["vips"] == [VIP2]
        assert last_both["alarms"] == [] and last_both["invalid"] == {}


def test_failover_on_the_wire_and_rtnl_event(lab: Topology) -> None:
    polls: list[tuple[float, float, bool]] = []  # (start, end, VIP1 present on lvs2)
    stop_polling = threading.Event()

    def poll() -> None:
        while not stop_polling.is_set():
            t0 = time.monotonic()
            present = lab.has_addr("lvs2", VIP1)
            polls.append((t0, time.monotonic(), present))

    with vrrp_listener(lab, "lvs2", "--outgoing") as wire, rtnl_watch(lab, "lvs2") as rtnl:
        snapshot_after(wire, wire.ready + 1.5)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        lab.wait_for(lambda: len(polls) >= 2, 30, 0.05, "the first ip addr polls")
        assert not any(p[2] for p in polls)
        try:
            with lab.keepalived_stopped("lvs1"):
                zero = wire.wait(advert(51, LVS1, 0), 30, "priority 0 from lvs1")
                took = wire.wait(advert(51, LVS2), 30, "lvs2 advertising VRID 51")
                event = rtnl.wait(
                    lambda i: (
                        i.get("event") == "RTM_NEWADDR"
                        and i["address"] == VIP1
                        and i["interface"] == "eth0"
                    ),
                    30,
                    f"RTM_NEWADDR {VIP1} on lvs2",
                )
                lab.wait_for(lambda: any(p[2] for p in polls), 30, 0.1, "ip addr to show it")
                stop_polling.set()
                poller.join()
                during = snapshot_after(wire, took["received"] + 0.1)
                assert lab.vip_holders(VIP1) == ["lvs2"]
        finally:
            stop_polling.set()

        assert took["outgoing"] and took["priority"] == 90 and took["vips"] == [VIP1]
        assert 0 < took["received"] - zero["received"] < 3.0  # skew time (0.65 s) + TCG
        # The priority-0 advert shows as "leaving", never as a split brain.
        assert ("leaving", 51) in alarms(during)
        assert not {k for k, _ in alarms(during)} & {"split_brain", "no_master"}
        by = {(s["vrid"], s["source"]): s["priority"] for s in during["speakers"]}
        assert by[(51, LVS1)] == 0 and by[(51, LVS2)] == 90

        # When did VIP1 move? keepalived adds it and sends its first MASTER advert in the
        # same step, so lvs2's first advert (seen by another process) marks the move.
        # Polling ``ip addr`` brackets it: after the start of the last poll that did not
        # see it, before the end of the first that did (one poll costs ~0.5-1.5 s here,
        # under TCG, which is why events are worth having).
        last_absent = max(p[0] for p in polls if not p[2])
        first_present = min(p[1] for p in polls if p[2])
        print(
            f"\nVIP move: rtnl event {event['time'] - took['received']:+.3f} s after lvs2's "
            f"first advert; {event['time'] - last_absent:.3f} s after the last poll without "
            f"it started, {first_present - event['time']:.3f} s before the first poll with it "
            f"ended; takeover {took['received'] - zero['received']:.2f} s after priority 0"
        )
        assert abs(event["time"] - took["received"]) < 1.0
        assert last_absent < event["time"] < first_present + 1.0

        # keepalived is back on lvs1 (prio 100, preempt): lvs1 takes VRID 51 back and any
        # overlap during the handover does not last.
        back = wire.wait(
            lambda i: advert(51, LVS1, 100)(i) and i["received"] > took["received"],
            60,
            "lvs1 advertising VRID 51 again",
        )
        lab.wait_for(lambda: lab.vip_holders(VIP1) == ["lvs1"], 60, 0.5, "VIP1 back on lvs1")
        gone = rtnl.wait(
            lambda i: i.get("event") == "RTM_DELADDR" and i["address"] == VIP1,
            30,
            f"RTM_DELADDR {VIP1} on lvs2",
        )
        assert gone["time"] > back["received"] - 0.5
        settled = snapshot_after(wire, back["received"] + 3.0)
        assert alarms(settled) == set()


def test_split_brain_is_detected(lab: Topology) -> None:
    """Bridge port isolation: lvs1 and lvs2 no longer hear each other, but the client
    (an ordinary port) hears both, so both become MASTER of both VRIDs."""
    ports = [f"v-{d}" for d in ("lvs1", "lvs2")]
    with vrrp_listener(lab, "client") as wire:
        snapshot_after(wire, wire.ready + 1.5)
        try:
            for port in ports:
                lab.run(None, "bridge", "link", "set", "dev", port, "isolated", "on")
            t_cut = time.monotonic()
            first = wire.wait(
                lambda i: (
                    i.get("kind") == "snapshot"
                    and {("split_brain", 51), ("split_brain", 52)} <= alarms(i)
                ),
                30,
                "split brain on both VRIDs",
            )
            # It persists (a handover overlap would be gone after 1.5 advert intervals).
            later = snapshot_after(wire, first["t"] + 2.5)
            assert {("split_brain", 51), ("split_brain", 52)} <= alarms(later)
            sb = {a["vrid"]: a for a in later["alarms"] if a["kind"] == "split_brain"}
            assert sb[51]["sources"] == [LVS1, LVS2]  # highest priority first
            assert sb[52]["sources"] == [LVS2, LVS1]
            assert lab.vip_holders(VIP1) == ["lvs1", "lvs2"]
            assert lab.vip_holders(VIP2) == ["lvs1", "lvs2"]
            print(f"\nsplit brain reported {first['t'] - t_cut:.2f} s after the cut")
        finally:
            for port in ports:
                lab.run(None, "bridge", "link", "set", "dev", port, "isolated", "off", check=False)
        t_heal = time.monotonic()
        healed = wire.wait(
            lambda i: i.get("kind") == "snapshot" and i["t"] > t_heal + 2.0 and not alarms(i),
            60,
            "the split brain to heal",
        )
        print(f"healed on the wire {healed['t'] - t_heal:.2f} s after reconnecting")
        lab.wait_for(
            lambda: lab.vip_holders(VIP1) == ["lvs1"] and lab.vip_holders(VIP2) == ["lvs2"],
            60,
            0.5,
            "VIPs back",
        )
