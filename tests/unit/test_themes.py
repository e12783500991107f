"""The shipped themes are valid Textual themes (the console loads them by name)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from textual.theme import Theme

THEMES = sorted((Path(__file__).resolve().parents[2] / "themes").glob("*.yaml"))


def test_there_are_dark_light_and_ansi_themes() -> None:
    names = {p.stem for p in THEMES}
    assert {"lvstop-dark", "lvstop-light", "lvstop-ansi"} <= names


@pytest.mark.parametrize("path", THEMES, ids=[p.stem for p in THEMES])
def test_theme_builds(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    theme = Theme(**data)
    assert theme.name == path.stem
    assert theme.to_color_system().generate()  # every colour parses
