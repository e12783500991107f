"""Actions without a kernel: notation, encoding, planning, rollback, memory, audit, guard.

The kernel write itself and keepalived are proven in the lab (tests/lab/test_actions.py);
here a small in-memory table stands in so the all-or-nothing and verify logic can be
driven into its failure paths, which a healthy kernel never takes.
"""

from __future__ import annotations

import json
import os
import stat
import struct
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from lvstop.actions import audit, guard
from lvstop.actions.audit import AuditLog, read_records
from lvstop.actions.base import ActionFailed, ActionRefused, BadTarget, Confirm, Description
from lvstop.actions.context import ActionContext
from lvstop.actions.drain import Drain, DrainWatch
from lvstop.actions.guard import ReadOnlyGuard
from lvstop.actions.ipvs_write import dest_attrs, service_attrs
from lvstop.actions.memory import WeightMemory
from lvstop.actions.run import execute
from lvstop.actions.targets import Target
from lvstop.actions.weight import Restore, SetWeight
from lvstop.config import load as load_config
from lvstop.model.ipvs import (
    Family,
    Forward,
    Protocol,
    RealServer,
    RealServerKey,
    Service,
    ServiceKey,
)
from lvstop.model.keepalived import KeepalivedState, RealServerStatus
from lvstop.model.notation import (
    NotationError,
    parse_real_server,
    parse_service,
    parse_weight,
)
from lvstop.sources.genl import iter_attrs

VIP1 = ServiceKey.inet(Protocol.TCP, "198.18.23.73", 8765)
VIP2 = ServiceKey.inet(Protocol.TCP, "198.18.23.74", 8765)
RS1 = RealServerKey("198.18.23.4", 8765)
RS2 = RealServerKey("198.18.23.10", 8765)


def nat(key: RealServerKey, weight: int, **kw: int) -> RealServer:
    return RealServer(key.address, key.port, Forward.MASQ, weight, 500, 100, **kw)


class FakeTable:
    """Services in memory; set_weight replaces only the weight, like the kernel with
    every attribute sent back. `fail_on` makes the n-th write (0-based) fail."""

    def __init__(self, services: Sequence[Service], fail_on: int | None = None) -> None:
        self.svcs = list(services)
        self.writes: list[tuple[ServiceKey, RealServer, int]] = []
        self.fail_on = fail_on
        self.tamper: bool = False

    def services(self) -> Sequence[Service]:
        return tuple(self.svcs)

    def set_weight(self, service: ServiceKey, rs: RealServer, weight: int) -> None:
        if self.fail_on is not None and len(self.writes) == self.fail_on:
            self.writes.append((service, rs, -1))
            raise OSError(16, "Device or resource busy")
        self.writes.append((service, rs, weight))
        new = replace(rs, weight=weight)
        if self.tamper:
            new = replace(new, forward=Forward.ROUTE)
        self.svcs = [
            replace(s, real_servers=tuple(new if r.key == rs.key else r for r in s.real_servers))
            if s.key == service
            else s
            for s in self.svcs
        ]

    def close(self) -> None:
        pass

    def weight(self, service: ServiceKey, rs: RealServerKey) -> int:
        svc = next(s for s in self.svcs if s.key == service)
        found = svc.real_server(rs)
        assert found is not None
        return found.weight


def seed_table(**kw: int | None) -> FakeTable:
    return FakeTable(
        [
            Service(VIP1, "rr", real_servers=(nat(RS1, 5, active_conns=3), nat(RS2, 1))),
            Service(VIP2, "rr", 1, 120, real_servers=(nat(RS1, 5, persistent_conns=2),)),
        ],
        **kw,
    )


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ActionContext:
    monkeypatch.setattr(guard, "has_net_admin", lambda: True)
    return ActionContext(
        table=seed_table(),
        guard=ReadOnlyGuard(),
        memory=WeightMemory(tmp_path / "state" / "weights.json"),
        audit=AuditLog(tmp_path / "log" / "audit.jsonl", use_syslog=False),
    )


def table(ctx: ActionContext) -> FakeTable:
    assert isinstance(ctx.table, FakeTable)
    return ctx.table


def records(ctx: ActionContext) -> list[audit.AuditRecord]:
    return list(read_records(ctx.audit.path))


# ---------------------------------------------------------------- notation


def test_notation_parses_ipvsadm_forms() -> None:
    assert parse_service("tcp", "198.18.23.73:8765") == VIP1
    v6 = parse_service("udp", "[2001:DB8::0:1]:53")
    assert (v6.family, v6.address, v6.port) == (Family.INET6, "2001:db8::1", 53)
    assert parse_service("fwmark", "7", ipv6=True) == ServiceKey.mark(7, Family.INET6)
    assert parse_real_server("198.18.23.4:0") == RealServerKey("198.18.23.4", 0)
    assert parse_weight("0") == 0 and parse_weight("65535") == 65535


@pytest.mark.parametrize("bad", ["65536", "-1", "1.5", "abc", "", "+3", "²", " 5"])
def test_bad_weights_are_refused(bad: str) -> None:
    with pytest.raises(NotationError, match="0 to 65535"):
        parse_weight(bad)


@pytest.mark.parametrize(
    "bad", ["198.18.23.4", "[2001:db8::1]", "2001:db8::1:80", "x:80", "1.2.3.4:65536"]
)
def test_bad_real_servers_are_refused(bad: str) -> None:
    with pytest.raises(NotationError):
        parse_real_server(bad)


def test_bad_fwmarks_are_refused() -> None:
    for bad in ("0", "-1", "x", "4294967296"):
        with pytest.raises(NotationError):
            parse_service("fwmark", bad)


# ---------------------------------------------------------------- kernel message


def _attrs(blob: bytes) -> dict[int, bytes]:
    (_type, start, length), *_ = iter_attrs(blob, 0, len(blob))
    return {t: blob[o : o + n] for t, o, n in iter_attrs(blob, start, start + length)}


def test_set_dest_carries_every_attribute_as_read() -> None:
    rs = RealServer(
        "2001:db8::53", 123, Forward.TUNNEL, 1, 9, 3, family=Family.INET6, tun_type=2,
        tun_port=6080, tun_flags=1,
    )  # fmt: skip
    got = _attrs(dest_attrs(rs, 7))
    assert got[1] == bytes.fromhex("20010db8000000000000000000000053")
    assert struct.unpack("!H", got[2]) == (123,)
    assert struct.unpack("=I", got[3]) == (Forward.TUNNEL,)
    assert struct.unpack("=I", got[4]) == (7,)  # the weight, and only it, is new
    assert struct.unpack("=II", got[5] + got[6]) == (9, 3)
    assert struct.unpack("=H", got[11]) == (Family.INET6,)
    assert got[13] == b"\x02" and struct.unpack("!H", got[14]) == (6080,)
    assert struct.unpack("=H", got[15]) == (1,)
    with pytest.raises(ValueError):
        dest_attrs(rs, 65536)


def test_service_key_attributes() -> None:
    got = _attrs(service_attrs(VIP1))
    assert struct.unpack("=H", got[1]) == (2,) and struct.unpack("=H", got[2]) == (6,)
    assert got[3][:4] == bytes([198, 18, 23, 73]) and len(got[3]) == 16
    assert struct.unpack("!H", got[4]) == (8765,)
    fw = _attrs(service_attrs(ServiceKey.mark(7, Family.INET6)))
    assert struct.unpack("=H", fw[1]) == (10,) and struct.unpack("=I", fw[5]) == (7,)
    assert 3 not in fw


# ---------------------------------------------------------------- weight


def test_set_weight_describes_and_changes_only_the_weight(ctx: ActionContext) -> None:
    action = SetWeight(ctx, VIP1, RS1, 9)
    outcome = execute(action, ctx.audit, None)
    assert outcome.result == "applied"
    assert outcome.verified.facts == (
        "TCP 198.18.23.73:8765 -> 198.18.23.4:8765: weight 9 (verified)",
    )
    (svc, sent, weight), = table(ctx).writes  # fmt: skip
    assert (svc, weight) == (VIP1, 9)
    assert sent == nat(RS1, 5, active_conns=3)  # the destination exactly as read
    lines = outcome.description.lines()
    assert lines[1] == "  TCP 198.18.23.73:8765 -> 198.18.23.4:8765: weight 5 -> weight 9"
    assert any("persists only until keepalived next touches" in ln for ln in lines)
    (rec,) = records(ctx)
    assert (rec.action, rec.result, rec.error) == ("weight", "applied", None)
    assert rec.before == {"TCP 198.18.23.73:8765 -> 198.18.23.4:8765": "weight 5"}
    assert rec.after == {"TCP 198.18.23.73:8765 -> 198.18.23.4:8765": "weight 9"}


def test_delta_is_clamped(ctx: ActionContext) -> None:
    execute(SetWeight(ctx, VIP1, RS2, delta=-5), ctx.audit, None)
    assert table(ctx).weight(VIP1, RS2) == 0
    execute(SetWeight(ctx, VIP1, RS2, delta=+3), ctx.audit, None)
    assert table(ctx).weight(VIP1, RS2) == 3


def test_all_services_is_all_or_nothing(ctx: ActionContext) -> None:
    ctx.table = seed_table(fail_on=1)
    with pytest.raises(ActionFailed, match="rolled back") as err:
        execute(SetWeight(ctx, None, RS1, 2, all_services=True), ctx.audit, None)
    assert err.value.reverted is True and err.value.exit_code == 1
    assert table(ctx).weight(VIP1, RS1) == 5 and table(ctx).weight(VIP2, RS1) == 5
    assert [w for _s, _r, w in table(ctx).writes] == [2, -1, 5]  # write, fail, roll back
    (rec,) = records(ctx)
    assert rec.result == "failed" and "rolled back" in (rec.error or "")
    assert ctx.memory.load() == {}  # the failed change left nothing to restore


def test_verify_catches_a_changed_setting_and_reverts(ctx: ActionContext) -> None:
    table(ctx).tamper = True
    with pytest.raises(ActionFailed, match="settings other than the weight changed"):
        execute(SetWeight(ctx, VIP1, RS1, 2), ctx.audit, None)


def test_vanished_between_describe_and_apply(ctx: ActionContext) -> None:
    action = SetWeight(ctx, VIP1, RS2, 4)
    action.preflight()
    action.describe()
    t = table(ctx)
    t.svcs = [replace(s, real_servers=s.real_servers[:1]) if s.key == VIP1 else s for s in t.svcs]
    with pytest.raises(ActionFailed, match="vanished"):
        action.apply()
    assert t.writes == []


def test_unknown_targets_are_bad_input(ctx: ActionContext) -> None:
    with pytest.raises(BadTarget, match=r"no virtual service -t 198\.18\.23\.99:8765"):
        execute(SetWeight(ctx, ServiceKey.inet(Protocol.TCP, "198.18.23.99", 8765), RS1, 1),
                ctx.audit, None)  # fmt: skip
    with pytest.raises(BadTarget, match=r"has no real server 198.18.23.5:8765 \(it has: "):
        execute(SetWeight(ctx, VIP1, RealServerKey("198.18.23.5", 8765), 1), ctx.audit, None)
    with pytest.raises(BadTarget):
        SetWeight(ctx, VIP1, RS1, 70000)
    assert [r.result for r in records(ctx)] == ["refused", "refused"]
    assert table(ctx).writes == []


def test_keepalived_state_shapes_the_description(ctx: ActionContext) -> None:
    status = RealServerStatus(configured_weight=1, effective_weight=1)
    ctx.keepalived = KeepalivedState(real_servers={(VIP1, RS1): status})
    desc = SetWeight(ctx, VIP1, RS1, 3).describe()
    assert any("until keepalived next touches" in s for s in desc.side_effects)
    assert any("already differs from keepalived's effective weight 1" in w for w in desc.warnings)
    desc = SetWeight(ctx, VIP1, RS2, 3).describe()
    assert desc.side_effects == (
        "not managed by keepalived: the weight stays until changed by hand",
    )


# ---------------------------------------------------------------- drain, restore, memory


def test_drain_then_restore_across_a_restart(ctx: ActionContext, tmp_path: Path) -> None:
    desc = execute(Drain(ctx, None, RS1, all_services=True), ctx.audit, None).description
    assert table(ctx).weight(VIP1, RS1) == 0 == table(ctx).weight(VIP2, RS1)
    text = "\n".join(desc.lines())
    assert "2 template(s) keep sending their clients here" in text
    # A second change keeps the weight from before the first one.
    execute(SetWeight(ctx, VIP1, RS1, 3), ctx.audit, None)
    restarted = replace(ctx, memory=WeightMemory(ctx.memory.path))
    execute(Restore(restarted, None, RS1, all_services=True), ctx.audit, None)
    assert table(ctx).weight(VIP1, RS1) == 5 == table(ctx).weight(VIP2, RS1)
    assert restarted.memory.load() == {}
    with pytest.raises(BadTarget, match="nothing to restore"):
        execute(Restore(restarted, VIP1, RS1), ctx.audit, None)
    data = json.loads(ctx.memory.path.read_text())
    assert data == {"version": 1, "weights": {}}


def test_drain_warns_when_no_server_is_left(ctx: ActionContext) -> None:
    desc = Drain(ctx, VIP2, RS1).describe()
    assert any("no real server of weight > 0" in w for w in desc.warnings)


def test_damaged_state_file_refuses(ctx: ActionContext) -> None:
    ctx.memory.path.parent.mkdir(parents=True)
    ctx.memory.path.write_text("{not json")
    with pytest.raises(ActionRefused, match="not lvstop's"):
        execute(Drain(ctx, VIP1, RS1), ctx.audit, None)
    assert table(ctx).writes == []


def test_drain_progress_rate_and_eta() -> None:
    now = [100.0]
    watch = DrainWatch([Target(VIP1, RS1)], clock=lambda: now[0])

    def services(active: int) -> list[Service]:
        rs = nat(RS1, 0, active_conns=active, inactive_conns=4, persistent_conns=1)
        return [Service(VIP1, "rr", real_servers=(rs,))]

    first = watch.observe(services(10))
    assert (first.active, first.rate, first.eta, first.done) == (10, None, None, False)
    now[0] = 105.0
    p = watch.observe(services(6))
    assert p.rate == pytest.approx(0.8) and p.eta == pytest.approx(7.5)
    assert "active 6 (from 10)" in p.line() and "ETA 8 s" in p.line()
    now[0] = 110.0
    assert watch.observe(services(0)).done
    assert watch.observe([]).vanished == ("TCP 198.18.23.73:8765 -> 198.18.23.4:8765",)


# ---------------------------------------------------------------- read-only, audit, runner


def test_read_only_refuses_before_reading_anything(ctx: ActionContext) -> None:
    for g, why in ((ReadOnlyGuard(flag=True), "--read-only"),
                   (ReadOnlyGuard(config=True), "read_only: true"),
                   (ReadOnlyGuard(write_denied="no netlink"), "no netlink")):  # fmt: skip
        ctx.guard = g
        with pytest.raises(ActionRefused, match=why):
            execute(SetWeight(ctx, VIP1, RS1, 1), ctx.audit, None)
    assert table(ctx).writes == []
    assert [r.result for r in records(ctx)] == ["refused"] * 3


def test_read_only_is_checked_again_at_execution(ctx: ActionContext) -> None:
    action = SetWeight(ctx, VIP1, RS1, 1)

    def flip(desc: Description) -> bool:
        ctx.guard = ReadOnlyGuard(flag=True)
        return True

    with pytest.raises(ActionRefused):
        execute(action, ctx.audit, flip)
    assert table(ctx).writes == []


def test_no_cap_net_admin_refuses(ctx: ActionContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "has_net_admin", lambda: False)
    with pytest.raises(ActionRefused, match="CAP_NET_ADMIN"):
        execute(SetWeight(ctx, VIP1, RS1, 1), ctx.audit, None)


def test_capability_mask_is_read(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapEff:\t0000000000001000\n")
    assert guard.effective_capabilities(str(status)) == 1 << guard.CAP_NET_ADMIN


def test_declined_and_dry_run_change_nothing(ctx: ActionContext) -> None:
    with pytest.raises(ActionRefused, match="not confirmed"):
        execute(SetWeight(ctx, VIP1, RS1, 1), ctx.audit, lambda d: False)
    assert execute(SetWeight(ctx, VIP1, RS1, 1), ctx.audit, None, dry_run=True).result == "dry-run"
    assert table(ctx).writes == []
    assert [r.result for r in records(ctx)] == ["declined", "dry-run"]
    assert Drain(ctx, VIP1, RS1).describe().confirm is Confirm.YES


def test_audit_record_format_and_modes(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "new" / "audit.jsonl", use_syslog=False)
    env = {"SUDO_USER": "alice", "SSH_CONNECTION": "192.0.2.7 51000 192.0.2.1 22"}
    rec = audit.record("weight", "t", {"a": "weight 1"}, {"a": "weight 2"}, "applied", env=env)
    log.write(rec)
    log.write(audit.record("drain", "t", None, None, "refused", "read-only", env={}))
    lines = log.path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert set(first) == {"time", "host", "user", "sudo_user", "ssh_client", "tty", "pid",
                          "action", "target", "before", "after", "result", "error"}  # fmt: skip
    assert (first["sudo_user"], first["ssh_client"]) == ("alice", "192.0.2.7")
    assert json.loads(lines[1])["ssh_client"] is None
    assert stat.S_IMODE(os.stat(log.path).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(log.path.parent).st_mode) == 0o750
    assert [r.result for r in read_records(log.path)] == ["applied", "refused"]
    with pytest.raises(ValueError):
        audit.record("weight", "t", None, None, "maybe")


def test_unwritable_audit_log_refuses_the_action(ctx: ActionContext, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    ctx.audit = AuditLog(blocker / "audit.jsonl", use_syslog=False)
    warnings: list[str] = []
    with pytest.raises(ActionRefused, match="not writable"):
        execute(SetWeight(ctx, VIP1, RS1, 1), ctx.audit, None, warn=warnings.append)
    assert table(ctx).writes == [] and "NOT in the audit file" in warnings[0]


def test_config_actions_section(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "read_only: true\nactions:\n  audit_log: /x/a.jsonl\n  state_file: rel\n"
        "  weight_step: 5\n  bogus: 1\n"
    )
    got = load_config(cfg)
    assert got.read_only is True
    assert got.actions.audit_log == Path("/x/a.jsonl") and got.actions.weight_step == 5
    assert got.actions.state_file == Path("/var/lib/lvstop/weights.json")
    assert len(got.warnings) == 2
    cfg.write_text("read_only: yes please\n")
    assert load_config(cfg).read_only is True  # unsure means read-only


def test_audit_record_summary_for_the_events_view() -> None:
    env = {"SUDO_USER": "alice", "SSH_CLIENT": "192.0.2.7 51000 22"}
    rec = audit.record("weight", "-t 198.18.23.73:8765 198.18.23.4:8765", {"rs": "weight 1"},
                       {"rs": "weight 5"}, "applied", env=env)  # fmt: skip
    assert rec.severity == "info"
    summary = rec.summary()
    assert summary.startswith("weight -t 198.18.23.73:8765 198.18.23.4:8765: applied by ")
    assert summary.endswith("(sudo from alice) from 192.0.2.7; rs: weight 1 -> weight 5")
    failed = audit.record("failover", "vrrp_instance VI_1", None, None, "failed", "no new master")
    assert failed.severity == "critical" and failed.summary().endswith("(no new master)")


def test_every_action_class_has_a_listed_name() -> None:
    from lvstop.actions import NAMES
    from lvstop.actions.failover import Failback, Failover, StopKeepalived

    classes = (SetWeight, Drain, Restore, Failover, Failback, StopKeepalived)
    assert tuple(c.name for c in classes) == NAMES
