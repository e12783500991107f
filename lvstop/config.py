"""lvstop's configuration file: where it is looked for, what it may hold.

A broken file must never keep an operator from their console during an incident:
problems become warnings naming the file and line, and the defaults apply to
whatever could not be read. Every key is documented in config.example.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

SEARCH_PATH = (
    Path(os.path.expanduser("~/.config/lvstop/config.yaml")),
    Path("/etc/lvstop/config.yaml"),
)

THRESHOLD_KEYS = ("stale_after", "cps_warning", "cps_critical", "active_warning", "active_critical")


def _no_keys() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ActionsConfig:
    """The `actions:` section: where actions are audited and weights remembered, and
    the UI's +/- weight step."""

    audit_log: Path = Path("/var/log/lvstop/audit.jsonl")
    state_file: Path = Path("/var/lib/lvstop/weights.json")
    weight_step: int = 1


@dataclass(frozen=True, slots=True)
class Config:
    """Settings in effect; `source` is the file they came from (None: defaults).

    `theme` None means the console's default; `thresholds` maps THRESHOLD_KEYS to
    numbers (absent: no colouring for that one); `keys` maps action names to keys.
    """

    interval: float = 1.0
    theme: str | None = None
    read_only: bool = False
    thresholds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    keys: Mapping[str, str] = field(default_factory=_no_keys)
    keepalived: bool = True
    keepalived_config: Path | None = None
    actions: ActionsConfig = field(default_factory=ActionsConfig)
    source: Path | None = None
    warnings: tuple[str, ...] = field(default=())


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


def _lines(node: yaml.Node | None, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Line (1-based) of every mapping key, by its path, from the YAML node tree."""
    out: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                path = (*prefix, str(k.value))
                out[path] = k.start_mark.line + 1
                out.update(_lines(v, path))
    return out


class _Reader:
    def __init__(self, path: Path, lines: dict[tuple[str, ...], int]) -> None:
        self.path = path
        self.lines = lines
        self.warnings: list[str] = []

    def where(self, *keys: str) -> str:
        return f"{self.path}:{self.lines.get(tuple(keys), '?')}"

    def warn(self, keys: tuple[str, ...], message: str) -> None:
        self.warnings.append(f"{self.where(*keys)}: {message}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.warn((key,), f"{key} must be a mapping; ignored")
            return {}
        return value

    def boolean(self, value: Any, keys: tuple[str, ...], default: bool) -> bool:
        if isinstance(value, bool):
            return value
        self.warn(keys, f"{keys[-1]} must be true or false; using {str(default).lower()}")
        return default


def _thresholds(r: _Reader, value: Any) -> Mapping[str, float]:
    out: dict[str, float] = {}
    for name, v in r.mapping(value, "thresholds").items():
        if name not in THRESHOLD_KEYS:
            r.warn(
                ("thresholds", str(name)),
                f"unknown threshold {name!r} (known: {', '.join(THRESHOLD_KEYS)}); ignored",
            )
        elif isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            r.warn(("thresholds", name), f"{name} must be a number >= 0; ignored")
        else:
            out[name] = float(v)
    return MappingProxyType(out)


def _keys(r: _Reader, value: Any) -> Mapping[str, str]:
    out: dict[str, str] = {}
    for name, key in r.mapping(value, "keys").items():
        if not isinstance(key, str) or not key.strip():
            r.warn(("keys", str(name)), f"key for {name!r} must be a non-empty string; ignored")
        else:
            out[str(name)] = key.strip()
    return MappingProxyType(out)


def load(explicit: Path | None = None) -> Config:
    """Read `explicit` or the first existing file of SEARCH_PATH."""
    candidates = [explicit] if explicit is not None else [p for p in SEARCH_PATH if p.exists()]
    if not candidates:
        return Config()
    path = candidates[0]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return Config(warnings=(f"{path}: cannot read config: {exc.strerror}; using defaults",))
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        return Config(source=path, warnings=(f"{where}: {problem}; using defaults",))
    if data is None:
        return Config(source=path)
    if not isinstance(data, dict):
        return Config(source=path, warnings=(f"{path}:1: expected a mapping of settings",))
    r = _Reader(path, _lines(root))
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "interval":
            values["interval"] = _interval(value, r.where("interval"), r.warnings)
        elif key == "theme":
            if isinstance(value, str) and value.strip():
                values["theme"] = value.strip()
            else:
                r.warn(("theme",), "theme must be a theme name; using the default")
        elif key == "read_only":
            # Unsure means safe: a typo must not silently allow writes.
            values["read_only"] = r.boolean(value, ("read_only",), True)
        elif key == "thresholds":
            values["thresholds"] = _thresholds(r, value)
        elif key == "keys":
            values["keys"] = _keys(r, value)
        elif key == "keepalived":
            section = r.mapping(value, "keepalived")
            for name, v in section.items():
                if name == "enabled":
                    values["keepalived"] = r.boolean(v, ("keepalived", "enabled"), True)
                elif name == "config":
                    if isinstance(v, str) and v.strip():
                        values["keepalived_config"] = Path(v.strip())
                    else:
                        r.warn(("keepalived", "config"), "config must be a file path; ignored")
                else:
                    r.warn(("keepalived", str(name)), f"unknown keepalived setting {name!r}")
        elif key == "actions":
            values["actions"] = _actions(value, r.where("actions"), r.warnings)
        else:
            r.warn((str(key),), f"unknown setting {key!r} (ignored)")
    return Config(
        **values,
        source=path,
        warnings=tuple(r.warnings),
    )
