"""The public JSON document: required names, value forms, and the shipped schema."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC
from importlib import resources

import jsonschema
import pytest

from lvstop.model import Counters, Family, Forward, Protocol, Rates, RealServer, Service, ServiceKey
from lvstop.model.conns import ConnKey, ConnTable
from lvstop.model.diff import diff
from lvstop.model.ipvs import Totals
from lvstop.model.serialize import snapshot_json
from lvstop.model.snapshot import Snapshot, SourceKind


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    text = resources.files("lvstop").joinpath("schemas/snapshot.schema.json").read_text()
    loaded: dict[str, object] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def sample(t: float, conns: int) -> Snapshot:
    dr = RealServer(
        "198.18.23.4",
        8765,
        Forward.ROUTE,
        1,
        active_conns=2,
        inactive_conns=5,
        persistent_conns=1,
        stats=Counters(conns, conns * 6, 0, conns * 411, 0),
        rates=Rates(2, 9, 0, 624, 0),
    )
    tun = RealServer(
        "2001:db8::10",
        80,
        Forward.TUNNEL,
        3,
        u_threshold=100,
        l_threshold=10,
        family=Family.INET6,
        tun_type=1,
        tun_port=6080,
        tun_flags=1,
    )
    nat = RealServer("198.18.30.2", 53, Forward.MASQ, 0)
    services = (
        Service(
            ServiceKey.inet(Protocol.TCP, "198.18.23.73", 8765),
            "rr",
            flags=3,
            timeout=120,
            stats=Counters(conns, conns * 6, 0, conns * 411, 0),
            rates=Rates(2, 9, 0, 624, 0),
            real_servers=(dr,),
            vip_present=True,
            vip_interface="eth0",
        ),
        Service(
            ServiceKey.inet(Protocol.UDP, "2001:db8::1", 80),
            "sh",
            flags=2 | 8 | 16,
            netmask=128,
            real_servers=(tun,),
            vip_present=False,
        ),
        Service(
            ServiceKey.mark(42),
            "wlc",
            flags=7,
            timeout=300,
            netmask=24,
            pe_name="sip",
            real_servers=(nat,),
        ),
    )
    conns_table = ConnTable(
        entries=31,
        templates=1,
        groups=(
            (ConnKey("TCP", "198.18.23.73", 8765, "198.18.23.10", 8765, "FIN_WAIT"), 30),
            (ConnKey("TCP", "198.18.23.73", 8765, "198.18.23.10", 8765, "ASSURED"), 1),
        ),
        top_clients=(("198.18.23.200", 31),),
        clients_exact=True,
    )
    return Snapshot(
        1_795_000_000.25 + t,
        t,
        "lvs1",
        SourceKind.NETLINK,
        services,
        totals=Totals(Counters(conns, 1, 0, 1, 0)),
        errors=("example error",),
        connections=conns_table,
    )


def test_document_validates_and_keeps_public_names(schema: dict[str, object]) -> None:
    doc = snapshot_json(sample(0, 30))
    jsonschema.validate(doc, schema)
    assert doc["schema"] == "lvstop.snapshot/1"
    assert doc["source"] == "netlink" and doc["host"] == "lvs1"
    assert doc["taken_at"].endswith("Z") and doc["taken_at"].startswith("2026-11-18T")
    s0, s1, s2 = doc["services"]
    assert (s0["protocol"], s0["family"], s0["address"], s0["port"], s0["fwmark"]) == (
        "tcp",
        "inet",
        "198.18.23.73",
        8765,
        None,
    )
    assert s0["persistence_timeout"] == 120 and s0["flags"] == ["persistent"]
    assert s0["vip_present"] is True and s0["stats"]["conns"] == 30
    assert s0["rates"] == {"cps": 2, "inpps": 9, "outpps": 0, "inbps": 624, "outbps": 0}
    rs = s0["real_servers"][0]
    assert rs["forward"] == "route" and rs["active_conns"] == 2 and rs["persistent_conns"] == 1
    assert s1["address"] == "2001:db8::1" and s1["persistence_timeout"] is None
    assert s1["flags"] == ["sh-fallback", "sh-port"]
    assert s1["real_servers"][0]["tunnel"] == {"type": "gue", "port": 6080, "flags": ["csum"]}
    assert s1["real_servers"][0]["family"] == "inet6"
    assert (s2["protocol"], s2["address"], s2["port"], s2["fwmark"]) == (None, None, None, 42)
    assert s2["flags"] == ["persistent", "one-packet"] and s2["persistence_netmask"] == 24
    assert s2["real_servers"][0]["forward"] == "masq" and s2["vip_present"] is None
    assert doc["connections"]["templates"] == 1 and doc["errors"] == ["example error"]
    assert doc["interval"] is None and s0["interval_rates"] is None


def test_interval_document(schema: dict[str, object]) -> None:
    a, b = sample(10, 30), sample(12, 50)
    doc = snapshot_json(b, diff(a, b))
    jsonschema.validate(doc, schema)
    assert doc["interval"] == 2
    svc = doc["services"][0]
    assert svc["interval_rates"]["cps"] == 10
    assert svc["real_servers"][0]["interval_rates"]["inbps"] == 20 * 411 / 2
    assert doc["totals"]["interval_rates"]["cps"] == 10


def test_schema_rejects_a_broken_document(schema: dict[str, object]) -> None:
    doc = snapshot_json(sample(0, 1))
    doc["services"][0]["real_servers"][0]["forward"] = "dr"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def with_keepalived(snap: Snapshot) -> Snapshot:
    """The sample with a keepalived view of its first service (VI_1 MASTER, rs down)."""
    from types import MappingProxyType

    from lvstop.model.ipvs import RealServerKey
    from lvstop.model.keepalived import (
        AbsentRealServer,
        KeepalivedState,
        RealServerStatus,
        ServiceVrrp,
        UnexplainedEntry,
        VrrpAlarm,
    )
    from lvstop.model.vrrp import (
        Health,
        KeepalivedProcess,
        KeepalivedProcesses,
        VrrpCounters,
        VrrpInstance,
        VrrpState,
        WireSpeaker,
    )

    app = snap.services[0].key
    down = RealServerStatus(1, 1, Health.DOWN, 1, 1, "HTTP_GET failed: /index.html", False)
    ka = KeepalivedState(
        processes=KeepalivedProcesses(
            (KeepalivedProcess("parent", 10, True), KeepalivedProcess("checker", 12, False))
        ),
        config_file="/etc/keepalived/keepalived.conf",
        instances=(
            VrrpInstance(
                "VI_1",
                51,
                "eth0",
                VrrpState.MASTER,
                100,
                100,
                1.0,
                ("198.18.23.73",),
                ("198.18.23.73",),
                last_transition=1_794_999_000.5,
                counters=VrrpCounters(adverts_sent=73, became_master=1),
            ),
            VrrpInstance(
                "VI_2",
                52,
                "eth0",
                VrrpState.BACKUP,
                90,
                80,
                1.0,
                ("198.18.23.74",),
                master_router="198.18.23.44",
                master_priority=100,
            ),
        ),
        services=MappingProxyType({app: ServiceVrrp("VI_1", VrrpState.MASTER)}),
        real_servers=MappingProxyType(
            {(app, RealServerKey("198.18.23.4", 8765)): RealServerStatus(1, 1, Health.UP, 0, 1)}
        ),
        absent_real_servers=(
            AbsentRealServer(app, "198.18.23.10", 8765, down, True, "health check failing"),
        ),
        unexplained=(
            UnexplainedEntry(snap.services[2].key, None, "a manual ipvsadm rule"),
            UnexplainedEntry(app, RealServerKey("198.18.23.99", 8765), "added by hand"),
        ),
        wire=(
            WireSpeaker(
                51,
                "eth0",
                "198.18.23.42",
                100,
                1.0,
                ("198.18.23.73",),
                1,
                2,
                last_seen=snap.monotonic - 0.25,
                adverts=12,
            ),
        ),
        wire_since=snap.monotonic - 30,
        alarms=(VrrpAlarm("no_master", "critical", 52, None, (), "VRID 52: no master"),),
        notes=("a note",),
        errors=("keepalived's checker process (pid 12) is dead",),
    )
    return dataclasses.replace(snap, keepalived=ka)


def test_keepalived_sections_validate_and_read_as_documented(schema: dict[str, object]) -> None:
    doc = snapshot_json(with_keepalived(sample(100, 30)))
    jsonschema.validate(doc, schema)
    s0, s1, _ = doc["services"]
    assert (s0["vrrp_instance"], s0["vrrp_role"]) == ("VI_1", "MASTER")
    assert (s1["vrrp_instance"], s1["vrrp_role"]) == (None, None)
    rs = s0["real_servers"][0]
    assert (rs["weight"], rs["configured_weight"], rs["effective_weight"]) == (1, 1, 1)
    assert (rs["health"], rs["failed_checkers"], rs["last_error"]) == ("up", 0, None)
    assert s1["real_servers"][0]["health"] is None  # keepalived says nothing about it
    k = doc["keepalived"]
    assert k["running"] is True and k["config_file"] == "/etc/keepalived/keepalived.conf"
    assert k["processes"][1] == {"role": "checker", "pid": 12, "alive": False}
    vi1, vi2 = k["instances"]
    assert vi1["state"] == "MASTER" and vi1["last_transition"] == "2026-11-18T10:50:00.500000Z"
    assert vi1["counters"]["adverts_sent"] == 73 and vi1["master_router"] is None
    assert (vi2["master_router"], vi2["master_priority"], vi2["effective_priority"]) == (
        "198.18.23.44",
        100,
        80,
    )
    (sp,) = k["wire"]
    assert sp["age"] == 0.25 and sp["last_seen"] == rfc3339_of(doc, -0.25)
    assert k["wire_listening"] == 30
    assert k["alarms"][0]["kind"] == "no_master" and k["alarms"][0]["interface"] is None
    (absent,) = k["absent_real_servers"]
    assert absent["service"] == {
        "protocol": "tcp",
        "family": "inet",
        "address": "198.18.23.73",
        "port": 8765,
        "fwmark": None,
    }
    assert (absent["health"], absent["failed_checkers"], absent["service_in_ipvs"]) == (
        "down",
        1,
        True,
    )
    manual, stray = k["unexplained"]
    assert manual["service"]["fwmark"] == 42 and manual["real_server"] is None
    assert stray["real_server"] == {"address": "198.18.23.99", "port": 8765}
    assert k["notes"] == ["a note"] and len(k["errors"]) == 1


def rfc3339_of(doc: dict[str, object], offset: float) -> str:
    from datetime import datetime

    from lvstop.model.serialize import rfc3339

    taken = datetime.strptime(str(doc["taken_at"]), "%Y-%m-%dT%H:%M:%S.%fZ")
    return rfc3339(taken.replace(tzinfo=UTC).timestamp() + offset)


def test_without_keepalived_the_new_fields_are_null(schema: dict[str, object]) -> None:
    doc = snapshot_json(sample(0, 1))
    jsonschema.validate(doc, schema)
    assert doc["keepalived"] is None
    svc = doc["services"][0]
    assert (svc["vrrp_instance"], svc["vrrp_role"]) == (None, None)
    keys = ("configured_weight", "effective_weight", "health", "failed_checkers", "last_error")
    assert all(svc["real_servers"][0][k] is None for k in keys)


def test_documents_from_before_the_keepalived_additions_still_validate(
    schema: dict[str, object],
) -> None:
    """Same schema id, only additions: an older lvstop.snapshot/1 document is still valid."""
    doc = snapshot_json(sample(0, 1))
    del doc["keepalived"]
    for svc in doc["services"]:
        del svc["vrrp_instance"], svc["vrrp_role"]
        for rs in svc["real_servers"]:
            for k in ("configured_weight", "effective_weight", "health", "failed_checkers"):
                del rs[k]
            del rs["last_error"]
    jsonschema.validate(doc, schema)


def test_schema_rejects_a_broken_keepalived_section(schema: dict[str, object]) -> None:
    doc = snapshot_json(with_keepalived(sample(0, 1)))
    doc["keepalived"]["instances"][0]["state"] = "master"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_simulated_document_validates(schema: dict[str, object]) -> None:
    from lvstop.sources.simulated import SimulatedDirector

    sim = SimulatedDirector()
    for t in (0, 50, 95, 400):
        jsonschema.validate(snapshot_json(sim.snapshot_at(t, connections=True)), schema)
