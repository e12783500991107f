"""Console themes from YAML files (themes/*.yaml): each file is one textual Theme.

Textual has no theme file loader. A broken theme file must not cost the operator
their console: it becomes one warning naming the file (and line), the other themes
still load, and the console falls back to the default theme.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from textual.theme import BUILTIN_THEMES, Theme

import lvstop

DEFAULT_THEME = "lvstop-dark"
FALLBACK_THEME = "textual-dark"


def theme_dirs() -> tuple[Path, ...]:
    """Shipped themes (next to the package in a checkout), then the user's own."""
    shipped = Path(lvstop.__file__).resolve().parent.parent / "themes"
    user = Path(os.path.expanduser("~/.config/lvstop/themes"))
    return (shipped, user)


@dataclass(frozen=True, slots=True)
class LoadedThemes:
    themes: tuple[Theme, ...]
    warnings: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.themes)


def load_theme(path: Path) -> Theme:
    """One theme file; ValueError with `file:line: problem` when it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read theme: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ValueError(f"{where}: {getattr(exc, 'problem', None) or 'invalid YAML'}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}:1: a theme is a mapping of Theme arguments (name, primary, ...)")
    lines = {
        key: i + 1
        for i, line in enumerate(text.splitlines())
        for key in data
        if isinstance(key, str) and line.startswith(f"{key}:")
    }
    allowed = set(Theme.__dataclass_fields__)
    for key in data:
        if key not in allowed:
            raise ValueError(
                f"{path}:{lines.get(key, 1)}: unknown theme key {key!r} "
                f"(known: {', '.join(sorted(allowed))})"
            )
    if not isinstance(data.get("name"), str) or not isinstance(data.get("primary"), str):
        raise ValueError(f"{path}:1: a theme needs a 'name' and a 'primary' colour")
    if data.get("ansi"):
        data = _with_ansi_variables(data)
    try:
        theme = Theme(**data)
        theme.to_color_system().generate()
    except Exception as exc:  # Textual raises several types for a bad colour
        bad = next((k for k, v in data.items() if isinstance(v, str) and v in str(exc)), None)
        line = lines.get(bad, 1) if bad else 1
        raise ValueError(f"{path}:{line}: {exc}") from None
    return theme


def _with_ansi_variables(data: dict[str, Any]) -> dict[str, Any]:
    """Textual's stylesheets reference variables (e.g. $ansi-background) that only its
    own ANSI themes define; take the missing ones from its ansi-dark / ansi-light."""
    base = BUILTIN_THEMES["ansi-dark" if data.get("dark", True) else "ansi-light"]
    own = data.get("variables") or {}
    if not isinstance(own, dict):
        return data
    return {**data, "variables": {**base.variables, **own}}


def load_themes(dirs: Iterable[Path] | None = None) -> LoadedThemes:
    themes: dict[str, Theme] = {}
    warnings: list[str] = []
    for folder in dirs if dirs is not None else theme_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            try:
                theme = load_theme(path)
            except ValueError as exc:
                warnings.append(f"{exc}; theme skipped")
                continue
            themes[theme.name] = theme
    return LoadedThemes(tuple(themes.values()), tuple(warnings))
