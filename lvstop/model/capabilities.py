"""What a director backend can do, so the UI only offers what is possible."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Capabilities:
    """`write`: the backend can change IPVS; `reason` says why not when it cannot."""

    write: bool
    reason: str = ""
