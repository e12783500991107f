"""What every action is: named data that can describe, check, apply and verify itself.

The CLI verbs and the UI drive the same objects through `run.execute`, so a weight
change from a key press and one from a script are checked, confirmed, audited and
verified identically.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from lvstop.errors import LvstopError

# Exit codes of the action verbs (documented in the README).
EXIT_OK = 0
EXIT_FAILED = 1  # the change failed or did not verify (reverted where possible)
EXIT_USAGE = 2  # bad input: unknown service/server, weight out of range
EXIT_REFUSED = 3  # read-only, no privileges, preflight refused, not confirmed
EXIT_TIMEOUT = 4  # drain --wait: active connections did not reach 0 in time
EXIT_REVERT_FAILED = 5  # failed AND the automatic revert failed: act by hand


class ActionRefused(LvstopError):
    """The action was not started: nothing changed."""

    exit_code = EXIT_REFUSED


class BadTarget(LvstopError):
    """The input names something that does not exist or is out of range: nothing changed."""

    exit_code = EXIT_USAGE


class ActionFailed(LvstopError):
    """The action was started and did not end as asked; `reverted` says if we undid it."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, reverted: bool | None = None) -> None:
        super().__init__(message, EXIT_REVERT_FAILED if reverted is False else EXIT_FAILED)
        self.reverted = reverted


class Confirm(enum.Enum):
    """How much confirmation an action needs before it runs.

    YES: a plain yes (skipped by --yes). TYPED: the operator must type `Description.
    typed_word` (e.g. the instance name) because lvstop cannot vouch for the outcome;
    --yes alone does not skip it, --yes --force does.
    """

    YES = "yes"
    TYPED = "typed"


@dataclass(frozen=True, slots=True)
class Change:
    """One object changed by an action: what it is and its value before -> after."""

    target: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Description:
    """What an action will do, for a confirmation prompt or modal (see `lines`)."""

    title: str
    changes: tuple[Change, ...]
    side_effects: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    confirm: Confirm = Confirm.YES
    typed_word: str | None = None

    def lines(self) -> list[str]:
        """Plain text lines: title, each change, then warnings and side effects."""
        out = [self.title]
        out += [f"  {c.target}: {c.before} -> {c.after}" for c in self.changes]
        out += [f"  ! {w}" for w in self.warnings]
        out += [f"  - {s}" for s in self.side_effects]
        return out


@dataclass(frozen=True, slots=True)
class Verified:
    """The result of verify(): one sentence per checked fact."""

    facts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `execute` reports: the result word as audited, and what was verified."""

    result: str  # "applied", "dry-run"
    description: Description
    verified: Verified = field(default_factory=Verified)


class Action(abc.ABC):
    """An operation on the director. Subclasses set `name` (the CLI verb / keymap name)."""

    name: ClassVar[str]

    @property
    @abc.abstractmethod
    def target(self) -> str:
        """What the action is about, one short phrase (audit `target`)."""

    @abc.abstractmethod
    def describe(self) -> Description:
        """Target, before -> after and side effects, read from the current state."""

    @abc.abstractmethod
    def preflight(self) -> None:
        """Raise ActionRefused/BadTarget when the action must not run; change nothing."""

    @abc.abstractmethod
    def apply(self) -> None:
        """Make the change; raise ActionFailed (after undoing any partial change)."""

    @abc.abstractmethod
    def verify(self) -> Verified:
        """Check the change took effect; raise ActionFailed (after reverting) if not."""

    def audit_values(self) -> tuple[Mapping[str, object], Mapping[str, object]]:
        """(before, after) for the audit record; from describe() by default."""
        desc = self.describe()
        return (
            {c.target: c.before for c in desc.changes},
            {c.target: c.after for c in desc.changes},
        )
