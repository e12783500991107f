"""Positional constructors for frozen, slotted dataclasses on the decode hot path.

A frozen dataclass's generated `__init__` must get past its own frozen `__setattr__`,
so it sets every field through `object.__setattr__`: an attribute lookup and a call
per field. A cold netlink poll of 1,000 services x 10 real servers builds ~10,000
RealServer objects (15 fields) plus their Counters and Rates, and that was most of
the decode cost. Instead the object is born as an instance of a plain "shadow" class
with the same slots (whose attribute stores the interpreter specialises into direct
slot writes) and then given its real class; assigning `__class__` between two classes
of identical layout is what CPython allows it for. The result is the identical object
(same type, fields, equality, hash, repr) in about a quarter of the time; a class with
bases of its own falls back to calling the slot descriptors (about half the time).

Only for classes whose `__init__` does nothing else (no `__post_init__`, no
`InitVar`, no `init=False` fields); callers pass every field, in declaration order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def shadow_class(cls: type[Any]) -> type[Any]:
    """A plain class with `cls`'s slots: build an instance with `object.__new__` of it,
    store every field as an attribute, then assign `__class__ = cls`. For hot paths
    that build several objects in one function (no call per object); every field
    must be stored before the object is used. Raises TypeError where this is not
    equivalent to calling `cls` (see the module docstring)."""
    names = _fields(cls)
    if cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__} has bases: no shadow class of identical layout")
    return type(f"_{cls.__name__}Shadow", (), {"__slots__": tuple(names)})


def _fields(cls: type[Any]) -> list[str]:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has __post_init__: its __init__ does more than assign")
    slots = getattr(cls, "__slots__", None)
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    if slots is None or tuple(slots) != tuple(names) or not all(f.init for f in fields):
        raise TypeError(f"{cls.__name__}: needs slots=True and every field in __init__")
    return names


def positional_constructor(cls: type[T]) -> Callable[..., T]:
    """A function `make(f1, f2, ...)` equivalent to `cls(f1, f2, ...)`, but faster."""
    names = _fields(cls)
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = ["def make(" + ", ".join(names) + "):"]
    if cls.__bases__ == (object,):
        ns["_Shadow"] = shadow_class(cls)
        lines.append("    o = _new(_Shadow)")
        lines += [f"    o.{name} = {name}" for name in names]
        lines.append("    o.__class__ = _cls")
    else:
        lines.append("    o = _new(_cls)")
        for i, name in enumerate(names):
            ns[f"_set{i}"] = getattr(cls, name).__set__
            lines.append(f"    _set{i}(o, {name})")
    lines.append("    return o")
    exec("\n".join(lines), ns)  # the same technique dataclasses uses to build __init__
    make: Callable[..., T] = ns["make"]
    make.__qualname__ = f"positional_constructor({cls.__name__})"
    return make
