"""The weights lvstop changed, remembered in a file so `restore` works after a restart.

Keyed by the service and real server in ipvsadm notation. Only the weight from
before lvstop's *first* change is kept: drain (5 -> 0) then weight 3, and restore
still goes back to 5, the weight the operator started from. A restore forgets it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lvstop.actions.base import ActionRefused
from lvstop.model.ipvs import RealServerKey, ServiceKey
from lvstop.model.notation import real_server_label, service_spec

DEFAULT_STATE_FILE = Path("/var/lib/lvstop/weights.json")
VERSION = 1


def memory_key(service: ServiceKey, rs: RealServerKey) -> str:
    family = " -6" if service.is_fwmark and service.family == 10 else ""
    return f"{service_spec(service)}{family} {real_server_label(rs)}"


@dataclass(frozen=True, slots=True)
class Remembered:
    weight: int
    saved_at: float
    action: str


class WeightMemory:
    """The state file (default /var/lib/lvstop/weights.json); written atomically."""

    def __init__(self, path: Path = DEFAULT_STATE_FILE) -> None:
        self.path = path

    def load(self) -> dict[str, Remembered]:
        """Every remembered weight; a missing file is empty, a broken one refuses."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ActionRefused(f"cannot read state file {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
            entries = data["weights"]
            return {
                str(k): Remembered(int(v["weight"]), float(v["saved_at"]), str(v["action"]))
                for k, v in entries.items()
            }
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ActionRefused(
                f"state file {self.path} is not lvstop's (or is damaged): fix or remove it"
            ) from None

    def get(self, service: ServiceKey, rs: RealServerKey) -> Remembered | None:
        return self.load().get(memory_key(service, rs))

    def remember(
        self, items: list[tuple[ServiceKey, RealServerKey, int]], action: str
    ) -> list[tuple[ServiceKey, RealServerKey]]:
        """Keep each weight unless an earlier change already recorded one; return the
        newly remembered ones (to forget again if the change then fails)."""
        entries = self.load()
        now = time.time()
        added = []
        for service, rs, weight in items:
            key = memory_key(service, rs)
            if key not in entries:
                entries[key] = Remembered(weight, now, action)
                added.append((service, rs))
        if added:
            self._save(entries)
        return added

    def forget(self, items: list[tuple[ServiceKey, RealServerKey]]) -> None:
        entries = self.load()
        for service, rs in items:
            entries.pop(memory_key(service, rs), None)
        self._save(entries)

    def writable(self) -> str | None:
        probe = self.path.parent
        while not probe.exists():
            probe = probe.parent
        return (
            None
            if os.access(probe, os.W_OK | os.X_OK)
            else (f"state file {self.path} is not writable")
        )

    def _save(self, entries: dict[str, Remembered]) -> None:
        data = {
            "version": VERSION,
            "weights": {
                k: {"weight": v.weight, "saved_at": v.saved_at, "action": v.action}
                for k, v in sorted(entries.items())
            },
        }
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o750, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".weights.", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f, indent=1)
                    f.write("\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o640)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise ActionRefused(f"cannot write state file {self.path}: {exc.strerror}") from None
