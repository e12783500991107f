"""The public JSON document: required names, value forms, and the shipped schema."""

from __future__ import annotations

import json
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
