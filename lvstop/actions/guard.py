"""Read-only mode and privileges: the reasons an action must not run.

Checked when an action is offered (preflight) and again right before it changes
anything (defence in depth: the UI may have offered it minutes earlier).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lvstop.actions.base import ActionRefused

CAP_NET_ADMIN = 12


def effective_capabilities(status: str = "/proc/self/status") -> int | None:
    """This process's effective capability mask (None when unknown)."""
    try:
        with open(status, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return None


def has_net_admin() -> bool:
    caps = effective_capabilities()
    return caps is not None and bool(caps & (1 << CAP_NET_ADMIN))


@dataclass(frozen=True, slots=True)
class ReadOnlyGuard:
    """`flag`: --read-only; `config`: config read_only; `write_denied`: why the backend
    cannot write (e.g. director.capabilities.reason), None when it can."""

    flag: bool = False
    config: bool = False
    write_denied: str | None = None

    @property
    def read_only(self) -> bool:
        return self.reason() is not None

    def reason(self) -> str | None:
        if self.flag:
            return "read-only mode (--read-only)"
        if self.config:
            return "read-only mode (read_only: true in the config file)"
        if self.write_denied:
            return f"read-only: {self.write_denied}"
        return None

    def check_ipvs(self) -> None:
        """Refuse a kernel IPVS change: read-only, or no CAP_NET_ADMIN right now."""
        reason = self.reason()
        if reason is None and not has_net_admin():
            reason = "read-only: changing IPVS needs CAP_NET_ADMIN (run as root)"
        if reason is not None:
            raise ActionRefused(reason)

    def check_root(self, what: str) -> None:
        """Refuse an action on keepalived (track files, signals) unless root."""
        reason = self.reason()
        if reason is None and os.geteuid() != 0:
            reason = f"read-only: {what} needs root"
        if reason is not None:
            raise ActionRefused(reason)

    def check_file(self, path: str) -> None:
        """Refuse writing a keepalived track file lvstop may not write."""
        reason = self.reason()
        directory = os.path.dirname(path) or "."
        if reason is None and not os.access(directory, os.W_OK | os.X_OK):
            reason = f"read-only: cannot write in {directory} (run as root)"
        if reason is None and os.path.exists(path) and not os.access(path, os.W_OK):
            reason = f"read-only: cannot write {path} (run as root)"
        if reason is not None:
            raise ActionRefused(reason)
