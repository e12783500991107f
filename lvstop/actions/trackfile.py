"""keepalived track files as a failover handle: find one, read it, write it.

A weight-0 track_file is keepalived's cleanest way to force a failover: any non-zero
value puts the instances tracking it in FAULT. keepalived reads the file with
strtol(..., 0) on every change in its directory, so the value is written atomically.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from lvstop.actions.base import ActionRefused, BadTarget
from lvstop.sources.keepalived.config import Config as KaConfig
from lvstop.sources.keepalived.config import TrackFile, TrackRef
from lvstop.sources.keepalived.config import VrrpInstance as KaInstance

FAULT_VALUE = "1"
CLEAR_VALUE = "0"


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
