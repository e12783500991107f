"""Fail a VRRP instance (and its sync group) over to the peer, and back.

Through keepalived's track_file mechanism: writing a non-zero value into a weight-0
track file puts the instance in FAULT at once; the master then sends priority 0 and
the backup takes over in about one skew time (measured 0.6 s), far faster and cleaner
than lowering the priority. Writing 0 lets it come back (with preempt). lvstop finds
the file in keepalived's configuration; with none, it refuses and prints the lines to
add. Verified on the wire: a new master must advertise for each VRID within
3 x advert_int + 1 s and the VIPs must leave this node, else the fault is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from lvstop.actions.base import (
    Action,
    ActionFailed,
    ActionRefused,
    BadTarget,
    Change,
    Confirm,
    Description,
    Verified,
)
from lvstop.actions.context import ActionContext
from lvstop.model.keepalived import KeepalivedState
from lvstop.model.vrrp import VrrpState, WireSpeaker
from lvstop.sources.keepalived.config import Config as KaConfig
from lvstop.sources.keepalived.config import TrackFile, TrackRef
from lvstop.sources.keepalived.config import VrrpInstance as KaInstance

FAULT_VALUE = "1"
CLEAR_VALUE = "0"

Addresses = Callable[[], Mapping[str, str]]


class WireWatch:
    """Listens for VRRP adverts from other nodes while a failover is verified."""

    def __init__(self, interfaces: Sequence[str]) -> None:
        from lvstop.sources.vrrp_listen import VrrpListenerThread

        self._thread = VrrpListenerThread(tuple(interfaces))
        self._thread.start()

    def speakers(self) -> tuple[WireSpeaker, ...]:
        return self._thread.snapshot(time.monotonic())

    def close(self) -> None:
        self._thread.stop()


def _local_addresses() -> Mapping[str, str]:
    from lvstop.sources import rtnl

    return rtnl.read_addresses()


@dataclass(slots=True)
class VrrpEnv:
    """What failover needs from this node: keepalived's config and state (from one
    snapshot, wire view included; `wire_at` is that snapshot's monotonic time, None:
    now) and live address and wire readers (for verify)."""

    config: KaConfig
    state: KeepalivedState
    wire_at: float | None = None
    addresses: Addresses = _local_addresses
    watch: Callable[[Sequence[str]], WireWatch] = WireWatch
    clock: Callable[[], float] = time.monotonic


def _defined_before(defs: Sequence[TrackFile], ref: TrackRef) -> TrackFile | None:
    from lvstop.sources.keepalived.lint import _defined_before as lint_defined_before

    found = lint_defined_before(defs, ref)
    return found if isinstance(found, TrackFile) else None


def config_lines(instance: str) -> list[str]:
    """The configuration to add on both directors so lvstop can fail `instance` over."""
    name = f"maint_{instance}"
    return [
        f"track_file {name} {{          # before vrrp_instance {instance}",
        f"    file /etc/keepalived/{name}",
        "    weight 0",
        "}",
        f"vrrp_instance {instance} {{",
        "    ...",
        "    track_file {",
        f"        {name}",
        "    }",
        "}",
    ]


@dataclass(frozen=True, slots=True)
class Handle:
    """The track file that faults the instance, and the instances that go with it."""

    path: str
    name: str
    members: tuple[KaInstance, ...]
    group: str | None


def find_handle(config: KaConfig, instance: str) -> Handle:
    """The weight-0 track file of the instance or its sync group; BadTarget/ActionRefused."""
    inst = next((i for i in config.vrrp_instances if i.name == instance), None)
    if inst is None:
        have = ", ".join(i.name for i in config.vrrp_instances) or "none"
        raise BadTarget(f"no vrrp_instance {instance} in {config.path} (it has: {have})")
    group = config.sync_group_of(instance)
    members: tuple[KaInstance, ...] = (inst,)
    if group is not None:
        names = [m.name for m in group.members]
        members = tuple(i for i in config.vrrp_instances if i.name in names)
    weight_forced = group is not None and not group.sync_group_tracking_weight
    refs = [(i, r) for i in members for r in i.track_files]
    refs += [(inst, r) for r in (group.track_files if group is not None else ())]
    for _owner, ref in refs:
        tf = _defined_before(config.track_files, ref)
        if tf is None or tf.path is None or tf.reverse or ref.reverse:
            continue
        weight = ref.weight if ref.weight is not None else tf.weight
        if weight == 0 or (weight_forced and weight == 1):
            return Handle(tf.path, tf.name, members, group.name if group else None)
    lines = "\n".join(config_lines(instance))
    raise ActionRefused(
        f"{instance} has no weight-0 track_file to fail it over with; add this on both "
        f"directors (then reload keepalived):\n{lines}"
    )


def read_value(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def strtol0(text: str) -> int:
    """C's strtol(text, NULL, 0): sign, then 0x hex / 0 octal / decimal digits, up to
    the first character that does not fit; no digits at all is 0."""
    text = text.lstrip()
    sign = -1 if text[:1] == "-" else 1
    text = text[1:] if text[:1] in "+-" and text else text
    if text[:2].lower() == "0x" and text[2:3] and text[2].lower() in "0123456789abcdef":
        base, text = 16, text[2:]
    elif text[:1] == "0":
        base = 8
    else:
        base = 10
    digits = "0123456789abcdef"[:base]
    n = 0
    for ch in text.lower():
        if ch not in digits:
            break
        n = n * base + digits.index(ch)
    return sign * n


def is_fault(value: str | None) -> bool:
    """Whether keepalived reads a fault from the file (weight 0: any non-zero value)."""
    return bool(value) and strtol0(value or "") != 0


def write_value(path: str, value: str | None) -> None:
    """Replace the file atomically (keepalived watches the directory for moves), or
    remove it when `value` is None (keepalived reads a deleted file as 0)."""
    if value is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".lvstop-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _VrrpAction(Action):
    def __init__(self, ctx: ActionContext, env: VrrpEnv, instance: str) -> None:
        self.ctx = ctx
        self.env = env
        self.instance = instance
        self._handle: Handle | None = None

    @property
    def target(self) -> str:
        return f"vrrp_instance {self.instance}"

    def handle(self) -> Handle:
        if self._handle is None:
            self._handle = find_handle(self.env.config, self.instance)
        return self._handle

    def _members_label(self, h: Handle) -> str:
        names = ", ".join(m.name for m in h.members)
        return f"sync group {h.group} ({names})" if h.group else h.members[0].name

    def _vips(self, h: Handle) -> tuple[str, ...]:
        return tuple(v.address for m in h.members for v in m.vips)

    def _vips_here(self, h: Handle) -> list[str]:
        here = self.env.addresses()
        return [v for v in self._vips(h) if v in here]

    def _deadline(self, h: Handle) -> float:
        return 3 * max(m.advert_int for m in h.members) + 1.0

    def _common_checks(self, h: Handle) -> None:
        self.ctx.guard.check_file(h.path)
        problem = self.ctx.audit.writable()
        if problem is not None:
            raise ActionRefused(problem)
        if not self.env.state.running:
            raise ActionRefused("keepalived is not running on this node")

    def _local_state(self, name: str) -> VrrpState | None:
        inst = self.env.state.instance(name)
        return inst.state if inst is not None else None


class Failover(_VrrpAction):
    """Put the instance (and its sync group) in FAULT so the peer becomes MASTER."""

    name = "failover"

    def __init__(self, ctx: ActionContext, env: VrrpEnv, instance: str) -> None:
        super().__init__(ctx, env, instance)
        self._previous: str | None = None
        self._started = 0.0
        self._watch: WireWatch | None = None

    def peer_evidence(self) -> str | None:
        """Why we believe a peer is ready, or None when nothing shows one."""
        h = self.handle()
        here = self.env.addresses()
        ifaces = {m.interface for m in h.members if m.interface}
        # Judged at the snapshot that heard the wire, not now: reading keepalived and
        # its configuration since then can take a while on a slow machine.
        now = self.env.wire_at if self.env.wire_at is not None else self.env.clock()
        fresh = 3 * max(m.advert_int for m in h.members) + 1.0
        for s in sorted(self.env.state.wire, key=lambda s: -s.last_seen):
            if s.source in here or s.priority == 0 or now - s.last_seen > fresh:
                continue
            if ifaces and s.interface not in ifaces:
                continue
            return (
                f"peer {s.source} is advertising VRID {s.vrid} (priority {s.priority}, "
                f"{max(0.0, now - s.last_seen):.1f} s before lvstop looked): its keepalived "
                "is alive"
            )
        return None

    def describe(self) -> Description:
        h = self.handle()
        current = read_value(h.path)
        changes = [
            Change(f"{m.name} (VRID {m.vrid}) on this node",
                   str(self._local_state(m.name) or "unknown"), "FAULT; the peer becomes MASTER")
            for m in h.members
        ]  # fmt: skip
        changes.append(Change(f"track_file {h.name} ({h.path})",
                              repr(current) if current is not None else "absent",
                              repr(FAULT_VALUE)))  # fmt: skip
        effects = [
            f"VIPs {', '.join(self._vips(h)) or '(none)'} move to the peer; connections "
            "through this node's IPVS to them are cut unless the peer has them (LVS sync)",
            f"verified: a new master must advertise within {self._deadline(h):.0f} s and the "
            "VIPs must leave this node, else lvstop removes the fault again",
            f"the fault stays until `lvstop failback {self.instance}` (it survives keepalived "
            "restarts: the file keeps its value)",
        ]
        if h.group:
            effects.insert(0, f"{self.instance} is in sync group {h.group}: all of "
                              f"{self._members_label(h)} fail over together")  # fmt: skip
        evidence = self.peer_evidence()
        warnings = []
        confirm = Confirm.YES
        if evidence is not None:
            effects.append(evidence)
        else:
            confirm = Confirm.TYPED
            warnings.append(
                "no peer is known to be ready: nothing else was heard advertising VRRP here "
                "recently; if no backup takes over, the VIPs go nowhere until lvstop reverts"
            )
        return Description(
            f"Fail over {self._members_label(h)} to the peer",
            tuple(changes), tuple(effects), tuple(warnings), confirm, self.instance,
        )  # fmt: skip

    def preflight(self) -> None:
        # Read-only first, before looking at anything.
        self.ctx.guard.check_root("a failover (writing keepalived's track file)")
        h = self.handle()
        self._common_checks(h)
        if is_fault(read_value(h.path)):
            raise ActionRefused(
                f"{self.instance} is already failed over ({h.path} holds a fault value): "
                f"use `lvstop failback {self.instance}`"
            )
        states = {m.name: self._local_state(m.name) for m in h.members}
        masters = [n for n, st in states.items() if st is VrrpState.MASTER]
        if not masters and not self._vips_here(h):
            shown = ", ".join(f"{n} {st or 'unknown'}" for n, st in states.items())
            raise ActionRefused(
                f"this node is not MASTER of {self._members_label(h)} ({shown}) and holds none "
                "of its VIPs: nothing to fail over"
            )

    def apply(self) -> None:
        h = self.handle()
        self.ctx.guard.check_file(h.path)
        self._previous = read_value(h.path) if os.path.exists(h.path) else None
        ifaces = sorted({m.interface for m in h.members if m.interface})
        try:
            self._watch = self.env.watch(ifaces)
        except Exception as exc:  # no CAP_NET_RAW, interface gone: cannot verify
            raise ActionRefused(f"cannot listen for VRRP on {', '.join(ifaces)}: {exc}") from None
        self._started = self.env.clock()
        try:
            write_value(h.path, FAULT_VALUE)
        except OSError as exc:
            self._close()
            raise ActionFailed(f"cannot write {h.path}: {exc.strerror}; nothing changed",
                               reverted=True) from None  # fmt: skip

    def _close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def verify(self) -> Verified:
        h = self.handle()
        deadline = self._started + self._deadline(h)
        vrids = {m.vrid for m in h.members if m.vrid is not None}
        new_master: dict[int, WireSpeaker] = {}
        left: list[str] = []
        try:
            while True:
                here = self.env.addresses()
                for s in self._watch.speakers() if self._watch is not None else ():
                    if (s.vrid in vrids and s.priority > 0 and s.source not in here
                            and s.last_seen >= self._started):  # fmt: skip
                        new_master.setdefault(s.vrid, s)
                left = [v for v in self._vips(h) if v in here]
                if new_master.keys() >= vrids and not left:
                    break
                if self.env.clock() >= deadline:
                    return self._revert(h, vrids - new_master.keys(), left)
                time.sleep(0.05)
        finally:
            self._close()
        took = self.env.clock() - self._started
        facts = [f"VRID {v}: new master {s.source} (priority {s.priority})"
                 for v, s in sorted(new_master.items())]  # fmt: skip
        facts.append(f"VIPs {', '.join(self._vips(h))} left this node ({took:.1f} s)")
        return Verified(tuple(facts))

    def _revert(self, h: Handle, missing: set[int], left: list[str]) -> Verified:
        why = []
        if missing:
            why.append(f"no new master for VRID {', '.join(map(str, sorted(missing)))}")
        if left:
            why.append(f"VIPs still here: {', '.join(left)}")
        limit = f"within {self._deadline(h):.0f} s"
        try:
            write_value(h.path, self._previous)
        except OSError as exc:
            raise ActionFailed(
                f"{'; '.join(why)} {limit}; REVERT FAILED: cannot restore {h.path}: "
                f"{exc.strerror}: write 0 into it by hand",
                reverted=False,
            ) from None
        raise ActionFailed(
            f"{'; '.join(why)} {limit}; reverted: removed the fault from {h.path}",
            reverted=True,
        )


class Failback(_VrrpAction):
    """Clear the fault lvstop (or anyone) wrote into the instance's track file."""

    name = "failback"

    def describe(self) -> Description:
        h = self.handle()
        nopreempt = any(m.nopreempt for m in h.members)
        changes = (
            Change(f"track_file {h.name} ({h.path})", repr(read_value(h.path)),
                   repr(CLEAR_VALUE)),
            *(Change(f"{m.name} (VRID {m.vrid}) on this node",
                     str(self._local_state(m.name) or "unknown"),
                     "BACKUP" if nopreempt else "MASTER (preempts the peer)")
              for m in h.members),
        )  # fmt: skip
        effects = [
            "nopreempt: this node stays BACKUP until the peer fails"
            if nopreempt
            else f"this node takes {', '.join(self._vips(h))} back after about 3 advert "
            "intervals (preempt); connections through the peer's IPVS to them are cut"
        ]
        return Description(f"Fail back {self._members_label(h)}", changes, tuple(effects))

    def preflight(self) -> None:
        self.ctx.guard.check_root("a failback (writing keepalived's track file)")
        h = self.handle()
        self._common_checks(h)
        if not is_fault(read_value(h.path)):
            raise ActionRefused(
                f"{self.instance} is not failed over: {h.path} holds no fault value"
            )

    def apply(self) -> None:
        h = self.handle()
        self.ctx.guard.check_file(h.path)
        self._started = self.env.clock()
        try:
            write_value(h.path, CLEAR_VALUE)
        except OSError as exc:
            raise ActionFailed(f"cannot write {h.path}: {exc.strerror}") from None

    def verify(self) -> Verified:
        h = self.handle()
        if any(m.nopreempt for m in h.members):
            return Verified((f"{h.path} cleared; nopreempt: this node stays BACKUP",))
        preempt = max(m.preempt_delay for m in h.members)
        # keepalived's own timers: the master-down interval (3 x advert + skew) plus
        # preempt_delay; the margin covers a loaded machine.
        deadline = self._started + self._deadline(h) + preempt + 5.0
        while True:
            missing = [v for v in self._vips(h) if v not in self.env.addresses()]
            if not missing:
                took = self.env.clock() - self._started
                return Verified((f"VIPs {', '.join(self._vips(h))} are back on this node "
                                 f"({took:.1f} s)",))  # fmt: skip
            if self.env.clock() >= deadline:
                raise ActionFailed(
                    f"the fault is cleared but VIPs {', '.join(missing)} did not come back "
                    f"within {deadline - self._started:.0f} s: check keepalived's state",
                )
            time.sleep(0.1)


class StopKeepalived(Action):
    """The last resort: SIGTERM keepalived's parent on this node.

    Every instance (not just one) releases its VIPs with a priority-0 advert and the
    checkers stop. lvstop cannot start keepalived again for you (it does not know how
    it was started), so this always needs the typed confirmation.
    """

    name = "stop-keepalived"

    def __init__(self, ctx: ActionContext, env: VrrpEnv, instance: str) -> None:
        self.ctx = ctx
        self.env = env
        self.instance = instance
        self._pid: int | None = None
        self._started = 0.0

    @property
    def target(self) -> str:
        return f"keepalived (asked for vrrp_instance {self.instance})"

    def _parent(self) -> int:
        from lvstop.sources.keepalived.runtime.processes import local_daemon

        daemon = local_daemon()
        if daemon is None:
            raise ActionRefused("keepalived is not running on this node")
        return daemon.parent_pid

    def describe(self) -> Description:
        names = [i.name for i in self.env.config.vrrp_instances]
        vips = [v.address for i in self.env.config.vrrp_instances for v in i.vips]
        return Description(
            "STOP keepalived on this node (last resort)",
            (Change("keepalived", "running", "stopped"),),
            (
                f"drops EVERY VRRP instance here ({', '.join(names) or 'none'}), not just "
                f"{self.instance}: the peer takes all of {', '.join(vips) or 'the VIPs'}",
                "stops the health checkers: real servers are no longer checked from this node",
                "lvstop cannot start keepalived again: do it with your service manager",
            ),
            ("prefer a track_file failover (see `lvstop failover` without --stop-keepalived)",),
            Confirm.TYPED,
            "stop-keepalived",
        )

    def preflight(self) -> None:
        self.ctx.guard.check_root("stopping keepalived")
        problem = self.ctx.audit.writable()
        if problem is not None:
            raise ActionRefused(problem)
        self._pid = self._parent()

    def apply(self) -> None:
        import signal

        self.ctx.guard.check_root("stopping keepalived")
        pid = self._pid if self._pid is not None else self._parent()
        self._started = self.env.clock()
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError as exc:
            raise ActionFailed(f"cannot signal keepalived (pid {pid}): {exc.strerror}") from None

    def verify(self) -> Verified:
        deadline = self._started + 15.0
        while self.env.clock() < deadline:
            with contextlib.suppress(OSError):
                if self._pid is not None:
                    os.kill(self._pid, 0)
                    time.sleep(0.2)
                    continue
            return Verified((f"keepalived (pid {self._pid}) has stopped",))
        raise ActionFailed(f"keepalived (pid {self._pid}) is still running after 15 s")
