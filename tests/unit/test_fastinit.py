"""The fast constructors build exactly what the dataclass constructors build."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from lvstop.model import Counters, Forward, Rates, RealServer, Snapshot
from lvstop.model.fastinit import positional_constructor
from lvstop.model.ipvs import Family


def test_real_server_identical_to_dataclass_constructor() -> None:
    args = (
        "2001:db8::4", 8765, Forward.TUNNEL, 7, 100, 10, 3, 4, 5,
        Counters(1, 2, 3, 4, 5), Rates(1.0, 2.0, 3.0, 4.0, 5.0), Family.INET6, 1, 6080, 2,
    )  # fmt: skip
    fast = positional_constructor(RealServer)(*args)
    slow = RealServer(*args)
    assert type(fast) is RealServer
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert (fast.address, fast.tun_port, fast.stats.outbytes) == ("2001:db8::4", 6080, 5)
    with pytest.raises(AttributeError):
        fast.weight = 1  # type: ignore[misc]


@pytest.mark.parametrize("cls", [Counters, Rates])
def test_counters_and_rates(cls: type[Counters] | type[Rates]) -> None:
    assert positional_constructor(cls)(9, 8, 7, 6, 5) == cls(9, 8, 7, 6, 5)


def test_every_field_is_required() -> None:
    with pytest.raises(TypeError):
        positional_constructor(Counters)(1, 2)


def test_refuses_classes_whose_init_does_more() -> None:
    with pytest.raises(TypeError, match="__post_init__"):
        positional_constructor(Snapshot)

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class Hidden:
        a: int
        b: int = field(init=False, default=0)

    for cls in (NoSlots, Hidden):
        with pytest.raises(TypeError, match="slots"):
            positional_constructor(cls)
    with pytest.raises(TypeError, match="not a dataclass"):
        positional_constructor(int)


def test_class_with_a_base_of_its_own_takes_the_descriptor_path() -> None:
    class Mixin:
        __slots__ = ()

        def total(self) -> int:
            return self.a + self.b  # type: ignore[attr-defined,no-any-return]

    @dataclass(frozen=True, slots=True)
    class Pair(Mixin):
        a: int
        b: int

    made = positional_constructor(Pair)(2, 3)
    assert type(made) is Pair and made == Pair(2, 3) and made.total() == 5


def test_objects_are_born_with_their_real_class() -> None:
    """No shadow class leaks: type, isinstance, pickling and dataclass helpers all agree."""
    import dataclasses
    import pickle

    made = positional_constructor(Counters)(1, 2, 3, 4, 5)
    assert type(made) is Counters and isinstance(made, Counters)
    assert pickle.loads(pickle.dumps(made)) == made
    assert dataclasses.replace(made, conns=9) == Counters(9, 2, 3, 4, 5)
    assert dataclasses.asdict(made) == {
        "conns": 1, "inpkts": 2, "outpkts": 3, "inbytes": 4, "outbytes": 5
    }  # fmt: skip
