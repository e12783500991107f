"""Layer contracts: the model is pure; nothing below the UI imports textual."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "module",
    [
        "lvstop.model",
        "lvstop.model.diff",
        "lvstop.model.serialize",
        "lvstop.model.deserialize",
        "lvstop.model.history",
        "lvstop.model.keepalived",
        "lvstop.model.events",
    ],
)
def test_model_is_pure(module: str) -> None:
    loaded = _modules_after_import(module)
    assert not {m for m in loaded if m.split(".")[0] in ("textual", "pyroute2", "psutil", "rich")}
    assert not {m for m in loaded if m.startswith("lvstop.") and not m.startswith("lvstop.model")}


@pytest.mark.parametrize(
    "module",
    [
        "lvstop.director",
        "lvstop.feed",
        "lvstop.sources.pollthread",
        "lvstop.sources.keepalived.refresh",
        "lvstop.sources.ipvs_netlink",
        "lvstop.sources.procfs",
        "lvstop.sources.conntable",
        "lvstop.sources.rtnl",
        "lvstop.sources.simulated",
        "lvstop.sources.replay",
        "lvstop.sources.keepalived.state",
        "lvstop.cli",
        "lvstop.report",
        "lvstop.config",
        "lvstop.ui.state",
        "lvstop.ui.rows",
        "lvstop.ui.keys",
        "lvstop.ui.format",
        "lvstop.ui.operate",
        "lvstop.actions.run",
        "lvstop.actions.weight",
        "lvstop.actions.drain",
        "lvstop.actions.ipvs_write",
        "lvstop.actions.failover",
        "lvstop.actions.stop_keepalived",
        "lvstop.cli_actions",
    ],
)
def test_lower_layers_never_import_textual(module: str) -> None:
    loaded = _modules_after_import(module)
    assert not {m for m in loaded if m.split(".")[0] in ("textual", "rich")}
