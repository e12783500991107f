"""keepalived status changes: the aligned fast path against a plain comparison by key.

`_status_changes` compares two reads position by position when they list the same
servers in the same order (keys compared part by part, statuses with ==), else by
key. Either way the result must be every server whose status differs, in table
order, as a lookup by key gives it.
"""

from __future__ import annotations

import random

import pytest

from lvstop.model import Protocol, ServiceKey
from lvstop.model.events import _rs_order, _status_changes
from lvstop.model.ipvs import RealServerKey
from lvstop.model.keepalived import KeepalivedState, RealServerStatus, RsId
from lvstop.model.vrrp import Health


def _status(rng: random.Random) -> RealServerStatus:
    down = rng.random() < 0.3
    return RealServerStatus(
        rng.choice([1, 2]),
        0 if down else rng.choice([1, 2]),
        Health.DOWN if down else Health.UP,
        1 if down else 0,
        1,
        "HTTP_GET failed" if down else None,
        rng.random() < 0.5,
    )


def _reads(seed: int) -> tuple[dict[RsId, RealServerStatus], dict[RsId, RealServerStatus]]:
    rng = random.Random(seed)
    svcs = [ServiceKey.inet(Protocol.TCP, f"10.0.0.{s}", 80) for s in range(rng.randrange(1, 5))]
    before = {
        (svc, RealServerKey(f"172.16.0.{r}", 8080)): _status(rng)
        for svc in svcs
        for r in range(rng.randrange(0, 12))
    }
    after: dict[RsId, RealServerStatus] = {}
    for (svc, rs), st in before.items():
        # Equal keys and statuses as new objects (a fresh read), some changed.
        key = (
            ServiceKey.inet(Protocol.TCP, svc.address or "", svc.port),
            RealServerKey(rs.address, rs.port),
        )
        roll = rng.random()
        after[key] = st if roll < 0.3 else (_status(rng) if roll < 0.6 else RealServerStatus(
            st.configured_weight, st.effective_weight, st.health, st.failed_checkers,
            st.checkers, st.last_error, st.inhibit_on_failure,
        ))  # fmt: skip
    items = list(after.items())
    roll = rng.random()
    if roll < 0.2 and items:
        del items[rng.randrange(len(items))]
    elif roll < 0.4 and items:
        (svc, rs), st = items[0]
        items.insert(0, ((svc, RealServerKey("172.16.9.9", rs.port)), st))
    elif roll < 0.6 and len(items) > 1:
        i = rng.randrange(len(items) - 1)
        items[i], items[i + 1] = items[i + 1], items[i]
    elif roll < 0.7 and items:
        (svc, rs), st = items[-1]
        items[-1] = ((svc, RealServerKey(rs.address, 8081)), st)  # same address, new port
    return before, dict(items)


@pytest.mark.parametrize("seed", range(300))
def test_status_changes_equal_a_lookup_by_key(seed: int) -> None:
    before, after = _reads(seed)
    want = sorted(
        ((rid, before.get(rid), now) for rid, now in after.items() if before.get(rid) != now),
        key=lambda c: _rs_order(c[0]),
    )
    got = _status_changes(KeepalivedState(real_servers=before), KeepalivedState(real_servers=after))
    assert [(c.rid, c.was, c.now) for c in got] == want
