"""Failover/failback planning without keepalived: handles, refusals, confirmations.

The handover itself (keepalived, the wire, the VIPs) is proven in the lab.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from lvstop.actions import guard
from lvstop.actions.audit import AuditLog
from lvstop.actions.base import ActionRefused, BadTarget, Confirm
from lvstop.actions.context import ActionContext
from lvstop.actions.failover import (
    Failback,
    Failover,
    StopKeepalived,
    VrrpEnv,
    WireWatch,
    config_lines,
    is_fault,
    strtol0,
    write_value,
)
from lvstop.actions.guard import ReadOnlyGuard
from lvstop.actions.memory import WeightMemory
from lvstop.model.keepalived import KeepalivedState
from lvstop.model.vrrp import (
    KeepalivedProcess,
    KeepalivedProcesses,
    VrrpInstance,
    VrrpState,
    WireSpeaker,
)
from lvstop.sources.keepalived.config import loads

RUNNING = KeepalivedProcesses((KeepalivedProcess("parent", 10, True),))


def conf(tmp_path: Path, *, handle: bool = True, group: bool = False) -> str:
    track = f"track_file maint {{\n file {tmp_path}/maint\n weight 0\n}}\n" if handle else ""
    use = "track_file {\n maint\n}\n" if handle and not group else ""
    sync = (
        "vrrp_sync_group G1 {\n group {\n VI_1\n VI_3\n }\n track_file {\n maint\n }\n}\n"
        if group
        else ""
    )
    inst = (
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n advert_int 1\n"
        f"{use} virtual_ipaddress {{\n 198.18.23.73\n }}\n}}\n"
        "vrrp_instance VI_3 {\n interface eth0\n virtual_router_id 53\n advert_int 2\n"
        " virtual_ipaddress {\n 198.18.23.75\n }\n}\n"
    )
    return track + inst + sync


def env(
    text: str,
    *,
    state: VrrpState = VrrpState.MASTER,
    wire: Sequence[WireSpeaker] = (),
    here: Mapping[str, str] | None = None,
) -> VrrpEnv:
    ks = KeepalivedState(
        processes=RUNNING,
        instances=(VrrpInstance("VI_1", 51, "eth0", state, 100, 100, 1.0, ("198.18.23.73",)),),
        wire=tuple(wire),
    )
    addresses = {"198.18.23.42": "eth0", "198.18.23.73": "eth0"} if here is None else here

    def no_watch(_ifaces: Sequence[str]) -> WireWatch:
        raise AssertionError("unit tests never listen")

    return VrrpEnv(
        loads(text), ks, addresses=lambda: addresses, watch=no_watch, clock=lambda: 1000.0
    )


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ActionContext:
    monkeypatch.setattr(guard.os, "geteuid", lambda: 0)
    return ActionContext(
        guard=ReadOnlyGuard(),
        memory=WeightMemory(tmp_path / "w.json"),
        audit=AuditLog(tmp_path / "audit.jsonl", use_syslog=False),
    )


def peer(source: str = "198.18.23.44", seen: float = 999.5, priority: int = 100) -> WireSpeaker:
    return WireSpeaker(52, "eth0", source, priority, 1.0, ("198.18.23.74",), 1, 2, seen)


def test_no_track_file_refuses_with_the_lines_to_add(ctx: ActionContext, tmp_path: Path) -> None:
    action = Failover(ctx, env(conf(tmp_path, handle=False)), "VI_1")
    with pytest.raises(ActionRefused) as err:
        action.preflight()
    message = str(err.value)
    assert "no weight-0 track_file" in message
    for line in config_lines("VI_1"):
        assert line in message
    assert "track_file maint_VI_1 {" in message and "file /etc/keepalived/maint_VI_1" in message


def test_unknown_instance_is_bad_input(ctx: ActionContext, tmp_path: Path) -> None:
    with pytest.raises(BadTarget, match=r"no vrrp_instance VI_9 .*\(it has: VI_1, VI_3\)"):
        Failover(ctx, env(conf(tmp_path)), "VI_9").preflight()


def test_a_live_peer_needs_a_plain_yes(ctx: ActionContext, tmp_path: Path) -> None:
    action = Failover(ctx, env(conf(tmp_path), wire=[peer()]), "VI_1")
    action.preflight()
    desc = action.describe()
    assert desc.confirm is Confirm.YES
    text = "\n".join(desc.lines())
    assert "VI_1 (VID 51)".replace("VID", "VRID") in text and "MASTER -> FAULT" in text
    assert "peer 198.18.23.44 is advertising VRID 52" in text
    assert f"track_file maint ({tmp_path}/maint): absent -> '1'" in text
    assert "within 4 s" in text


def test_unknown_peer_needs_the_typed_name(ctx: ActionContext, tmp_path: Path) -> None:
    stale = peer(seen=990.0)  # older than 3 x advert + 1
    ourselves = peer(source="198.18.23.42")
    silent = peer(priority=0)
    desc = Failover(ctx, env(conf(tmp_path), wire=[stale, ourselves, silent]), "VI_1").describe()
    assert desc.confirm is Confirm.TYPED and desc.typed_word == "VI_1"
    assert any("no peer is known to be ready" in w for w in desc.warnings)


def test_sync_group_fails_over_together(ctx: ActionContext, tmp_path: Path) -> None:
    desc = Failover(ctx, env(conf(tmp_path, group=True), wire=[peer()]), "VI_1").describe()
    assert desc.title == "Fail over sync group G1 (VI_1, VI_3) to the peer"
    assert [c.target for c in desc.changes][:2] == ["VI_1 (VRID 51) on this node",
                                                    "VI_3 (VRID 53) on this node"]  # fmt: skip
    assert "within 7 s" in "\n".join(desc.lines())  # 3 x the longest advert_int + 1


def test_backup_node_has_nothing_to_fail_over(ctx: ActionContext, tmp_path: Path) -> None:
    e = env(conf(tmp_path), state=VrrpState.BACKUP, here={"198.18.23.42": "eth0"})
    with pytest.raises(ActionRefused, match="not MASTER"):
        Failover(ctx, e, "VI_1").preflight()


def test_already_failed_over_and_failback_states(ctx: ActionContext, tmp_path: Path) -> None:
    text = conf(tmp_path)
    with pytest.raises(ActionRefused, match="not failed over"):
        Failback(ctx, env(text), "VI_1").preflight()
    write_value(str(tmp_path / "maint"), "1")
    with pytest.raises(ActionRefused, match="already failed over"):
        Failover(ctx, env(text), "VI_1").preflight()
    back = Failback(ctx, env(text), "VI_1")
    back.preflight()
    assert "'1' -> '0'" in "\n".join(back.describe().lines())


def test_read_only_and_non_root_refuse(
    ctx: ActionContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx.guard = ReadOnlyGuard(flag=True)
    with pytest.raises(ActionRefused, match="--read-only"):
        Failover(ctx, env(conf(tmp_path)), "VI_1").preflight()
    ctx.guard = ReadOnlyGuard()
    monkeypatch.setattr(guard.os, "geteuid", lambda: 1000)
    with pytest.raises(ActionRefused, match="needs root"):
        Failover(ctx, env(conf(tmp_path)), "VI_1").preflight()


def test_keepalived_not_running_refuses(ctx: ActionContext, tmp_path: Path) -> None:
    e = env(conf(tmp_path))
    e.state = KeepalivedState()
    with pytest.raises(ActionRefused, match="keepalived is not running"):
        Failover(ctx, e, "VI_1").preflight()


def test_fault_values_as_keepalived_reads_them(tmp_path: Path) -> None:
    values = (None, "", "0", "abc", "0x", "09", "1", "0x20", "010", "-254", " 7 junk")
    assert [is_fault(v) for v in values] == [
        False, False, False, False, False, False, True, True, True, True, True,
    ]  # fmt: skip
    assert (strtol0("010"), strtol0("0x20"), strtol0("-3x")) == (8, 32, -3)
    path = tmp_path / "f"
    write_value(str(path), "1")
    assert path.read_text() == "1\n" and oct(path.stat().st_mode & 0o777) == "0o644"
    write_value(str(path), None)
    assert not path.exists()


def test_peer_evidence_is_judged_at_the_snapshot(ctx: ActionContext, tmp_path: Path) -> None:
    e = env(conf(tmp_path), wire=[peer(seen=999.5)])
    e.clock = lambda: 1030.0  # reading keepalived took half a minute since the snapshot
    assert Failover(ctx, e, "VI_1").describe().confirm is Confirm.TYPED
    e.wire_at = 1000.0
    assert Failover(ctx, e, "VI_1").describe().confirm is Confirm.YES


def test_stop_keepalived_always_needs_the_typed_word(ctx: ActionContext, tmp_path: Path) -> None:
    desc = StopKeepalived(ctx, env(conf(tmp_path)), "VI_1").describe()
    assert desc.confirm is Confirm.TYPED and desc.typed_word == "stop-keepalived"
    text = "\n".join(desc.lines())
    assert "drops EVERY VRRP instance here (VI_1, VI_3)" in text
    assert "198.18.23.73, 198.18.23.75" in text and "health checkers" in text
    ctx.guard = ReadOnlyGuard(config=True)
    with pytest.raises(ActionRefused, match="read_only: true"):
        StopKeepalived(ctx, env(conf(tmp_path)), "VI_1").preflight()
