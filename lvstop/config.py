"""lvstop's configuration file: where it is looked for, what it may hold.

A broken file must never keep an operator from their console during an incident:
problems become warnings naming the file (and line when known) and the defaults
apply to whatever could not be read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

SEARCH_PATH = (
    Path(os.path.expanduser("~/.config/lvstop/config.yaml")),
    Path("/etc/lvstop/config.yaml"),
)


@dataclass(frozen=True, slots=True)
class ActionsConfig:
    """The `actions:` section: where actions are audited and weights remembered, and
    the UI's +/- weight step."""

    audit_log: Path = Path("/var/log/lvstop/audit.jsonl")
    state_file: Path = Path("/var/lib/lvstop/weights.json")
    weight_step: int = 1


@dataclass(frozen=True, slots=True)
class Config:
    """Settings in effect; `source` is the file they came from (None: defaults)."""

    interval: float = 1.0
    source: Path | None = None
    warnings: tuple[str, ...] = field(default=())
    read_only: bool = False
    actions: ActionsConfig = field(default_factory=ActionsConfig)


def _actions(value: Any, where: str, warnings: list[str]) -> ActionsConfig:
    if not isinstance(value, dict):
        warnings.append(f"{where}: actions must be a mapping; using defaults")
        return ActionsConfig()
    out = ActionsConfig()
    for key, item in value.items():
        if key == "audit_log" and isinstance(item, str) and os.path.isabs(item):
            out = replace(out, audit_log=Path(item))
        elif key == "state_file" and isinstance(item, str) and os.path.isabs(item):
            out = replace(out, state_file=Path(item))
        elif key in ("audit_log", "state_file"):
            warnings.append(f"{where}: actions.{key} must be an absolute path; using the default")
        elif key == "weight_step":
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 65535:
                warnings.append(f"{where}: actions.weight_step must be 1..65535; using 1")
            else:
                out = replace(out, weight_step=item)
        else:
            warnings.append(f"{where}: unknown setting actions.{key} (ignored)")
    return out


def _interval(value: Any, where: str, warnings: list[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        warnings.append(f"{where}: interval must be a number of seconds in (0, 3600]; using 1.0")
        return 1.0
    return float(value)


def load(explicit: Path | None = None) -> Config:
    """Read `explicit` or the first existing file of SEARCH_PATH."""
    candidates = [explicit] if explicit is not None else [p for p in SEARCH_PATH if p.exists()]
    if not candidates:
        return Config()
    path = candidates[0]
    warnings: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return Config(warnings=(f"{path}: cannot read config: {exc.strerror}; using defaults",))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        return Config(source=path, warnings=(f"{where}: {problem}; using defaults",))
    if data is None:
        return Config(source=path)
    if not isinstance(data, dict):
        return Config(source=path, warnings=(f"{path}: expected a mapping of settings",))
    lines = {
        key: i + 1
        for i, line in enumerate(text.splitlines())
        for key in data
        if isinstance(key, str) and line.startswith(f"{key}:")
    }
    interval = 1.0
    read_only = False
    actions = ActionsConfig()
    for key, value in data.items():
        where = f"{path}:{lines.get(key, '?')}"
        if key == "interval":
            interval = _interval(value, where, warnings)
        elif key == "read_only":
            if isinstance(value, bool):
                read_only = value
            else:
                # Unsure means safe: a typo must not silently allow writes.
                read_only = True
                warnings.append(f"{where}: read_only must be true or false; using true")
        elif key == "actions":
            actions = _actions(value, where, warnings)
        else:
            warnings.append(f"{where}: unknown setting {key!r} (ignored)")
    return Config(
        interval=interval,
        source=path,
        warnings=tuple(warnings),
        read_only=read_only,
        actions=actions,
    )
