"""The console's parts that need no running App: config, themes, keymap, layout, cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from lvstop import config
from lvstop.ui import format as fmt
from lvstop.ui.keys import ACTIONS, BY_NAME, find_command, keymap
from lvstop.ui.table import Column, LiveTable, _fit
from lvstop.ui.themes import load_theme, load_themes, theme_dirs

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_complete_and_clean() -> None:
    cfg = config.load(ROOT / "config.example.yaml")
    assert cfg.warnings == ()
    assert cfg.interval == 1.0 and cfg.theme == "lvstop-dark" and cfg.read_only is False
    assert set(cfg.thresholds) == set(config.THRESHOLD_KEYS)
    assert dict(cfg.keys) == {"pause": "space"}
    assert cfg.keepalived is True
    assert cfg.keepalived_config == Path("/etc/keepalived/keepalived.conf")
    assert cfg.actions.weight_step == 1
    names = {a.name for a in ACTIONS}
    text = (ROOT / "config.example.yaml").read_text()
    assert all(name in text for name in names)  # every action name documented


def test_config_problems_name_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "interval: 2\n"
        "thresholds:\n"
        "  cps_warning: lots\n"
        "  nonsense: 3\n"
        "keys:\n"
        "  pause: ''\n"
        "read_only: maybe\n"
        "keepalived:\n"
        "  enabled: yes please\n"
        "theme: 7\n"
    )
    cfg = config.load(f)
    w = "\n".join(cfg.warnings)
    assert f"{f}:3: cps_warning must be a number" in w
    assert f"{f}:4: unknown threshold 'nonsense'" in w
    assert f"{f}:6: key for 'pause'" in w
    assert f"{f}:7: read_only must be true or false; using true" in w
    assert f"{f}:9: enabled must be true or false" in w
    assert f"{f}:10: theme must be a theme name" in w
    assert cfg.interval == 2.0 and cfg.read_only is True and cfg.theme is None
    assert dict(cfg.thresholds) == {} and dict(cfg.keys) == {}


def test_shipped_themes_load_and_a_bad_one_is_skipped_with_its_line(tmp_path: Path) -> None:
    shipped = load_themes([theme_dirs()[0]])
    assert shipped.warnings == ()
    assert {"lvstop-dark", "lvstop-light", "lvstop-ansi"} <= set(shipped.names)
    (tmp_path / "bad-colour.yaml").write_text("name: bad\nprimary: '#123456'\nerror: notacolour\n")
    (tmp_path / "bad-key.yaml").write_text("name: k\nprimary: red\ncolour: blue\n")
    (tmp_path / "broken.yaml").write_text("name: b\nprimary: [\n")
    (tmp_path / "good.yaml").write_text("name: good\nprimary: '#336699'\n")
    loaded = load_themes([tmp_path])
    assert loaded.names == ("good",)
    w = "\n".join(loaded.warnings)
    assert f"{tmp_path / 'bad-colour.yaml'}:3:" in w
    assert f"{tmp_path / 'bad-key.yaml'}:3: unknown theme key 'colour'" in w
    assert f"{tmp_path / 'broken.yaml'}:" in w
    with pytest.raises(ValueError, match="unknown theme key"):
        load_theme(tmp_path / "bad-key.yaml")


def test_keymap_overrides_and_rejects_bad_entries() -> None:
    actions, warnings = keymap({"pause": "space", "nope": "x", "quit": "1"})
    by = {a.name: a for a in actions}
    assert by["pause"].key == "space"
    assert by["quit"].key == "q"  # "1" is view.services' key: the default stays
    assert any("unknown action 'nope'" in w for w in warnings)
    assert any("'1' is bound to both" in w for w in warnings)
    assert find_command("vrrp") is BY_NAME["view.vrrp"]
    assert find_command("rs") is BY_NAME["view.servers"]
    assert find_command("bogus") is None


def test_only_allowed_actions_are_offered() -> None:
    assert BY_NAME["open"].allowed("services", read_only=False)
    assert not BY_NAME["open"].allowed("events", read_only=False)
    from dataclasses import replace

    write = replace(BY_NAME["poll"], name="weight.up", writes=True)
    assert write.allowed("servers", read_only=False)
    assert not write.allowed("servers", read_only=True)


class Row:
    def __init__(self, key: str, n: int) -> None:
        self.key = key
        self.n = n


COLUMNS: list[Column[Row]] = [
    Column("name", "Name", 10, lambda r: r.key, align="left"),
    Column("n", "N", 5, lambda r: r.n, marker=True),
    Column("a", "A", 20, lambda r: "a", priority=2),
    Column("b", "B", 20, lambda r: "b", priority=1),
    Column("flex", "Flex", 8, lambda r: "f", priority=1, flex=True),
]


def test_columns_drop_by_priority_and_flex_takes_the_rest() -> None:
    table: LiveTable[Row] = LiveTable(COLUMNS)
    assert [c.key for c in table.visible_columns(80)] == ["name", "n", "a", "b", "flex"]
    assert [c.key for c in table.visible_columns(50)] == ["name", "n", "b", "flex"]
    assert [c.key for c in table.visible_columns(16)] == ["name", "n"]
    _shown, widths = table._fit_columns(60)
    assert widths["flex"] == 8 + (60 - (10 + 1 + 5 + 1 + 20 + 1 + 8))


def test_sort_filter_and_cursor_follow_keys() -> None:
    table: LiveTable[Row] = LiveTable(COLUMNS, search=lambda r: r.key)
    table.set_rows([Row("b", 2), Row("a", 3), Row("c", 1)])
    table.sort_by("n")  # a number column: biggest first, like top
    assert [r.key for r in table.rows] == ["a", "b", "c"] and table.reverse
    table.move_cursor(0)  # on "a"
    table.toggle_reverse()
    assert [r.key for r in table.rows] == ["c", "b", "a"] and table.current.key == "a"
    table.sort_by("name")
    assert [r.key for r in table.rows] == ["a", "b", "c"] and not table.reverse
    table.set_filter("b")
    assert [r.key for r in table.rows] == ["b"]
    table.set_filter("")
    table.sort_by("n", reverse=False)
    table.set_rows([Row("a", 0), Row("c", 9)])  # "b" left; the cursor stays on "a"
    assert table.current.key == "a" and [r.key for r in table.rows] == ["a", "c"]


def test_cells() -> None:
    assert _fit("198.18.23.10:8765", 10, "left") == "198.18.23…"
    assert _fit("12", 5, "right") == "   12"
    assert fmt.nbytes(64083) == "63K" and fmt.nbytes(812) == "812" and fmt.nbytes(None) == "-"
    assert fmt.count(7533000) == "7533K" and fmt.count(42) == "42"
    assert fmt.rate(0.25) == "0.25" and fmt.rate(2.5) == "2.5" and fmt.rate(46.0) == "46"
    assert fmt.duration(3.44) == "3.4s" and fmt.duration(185) == "3m05s"
    assert fmt.duration(3 * 86400 + 4 * 3600) == "3d04h"
    assert fmt.sparkline([0, 1, 2, 4], 3) == "▃▅█"
    assert fmt.sparkline([0, 0], 5) == "▁▁"
