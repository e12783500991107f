"""lvstop's configuration file: where it is looked for, what it may hold.

A broken file must never keep an operator from their console during an incident:
problems become warnings naming the file (and line when known) and the defaults
apply to whatever could not be read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SEARCH_PATH = (
    Path(os.path.expanduser("~/.config/lvstop/config.yaml")),
    Path("/etc/lvstop/config.yaml"),
)


@dataclass(frozen=True, slots=True)
class Config:
    """Settings in effect; `source` is the file they came from (None: defaults)."""

    interval: float = 1.0
    source: Path | None = None
    warnings: tuple[str, ...] = field(default=())


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
    for key, value in data.items():
        where = f"{path}:{lines.get(key, '?')}"
        if key == "interval":
            interval = _interval(value, where, warnings)
        else:
            warnings.append(f"{where}: unknown setting {key!r} (ignored)")
    return Config(interval=interval, source=path, warnings=tuple(warnings))
