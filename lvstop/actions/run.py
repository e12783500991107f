"""Drive one action: preflight, describe, confirm, apply, verify — and audit the outcome.

Exactly one audit line per attempt, whatever happens: refused (preflight or read-only),
declined (not confirmed), dry-run, applied (and verified) or failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lvstop.actions import audit
from lvstop.actions.audit import AuditError, AuditLog
from lvstop.actions.base import (
    Action,
    ActionFailed,
    ActionRefused,
    BadTarget,
    Description,
    Outcome,
)
from lvstop.errors import LvstopError

Confirmer = Callable[[Description], bool]
Warn = Callable[[str], None]


def _values(action: Action) -> tuple[Mapping[str, object] | None, Mapping[str, object] | None]:
    try:
        return action.audit_values()
    except (LvstopError, OSError):
        return None, None


def _audit(
    log: AuditLog,
    action: Action,
    result: str,
    error: str | None,
    warn: Warn,
    values: tuple[Mapping[str, object] | None, Mapping[str, object] | None] | None = None,
) -> None:
    before, after = values if values is not None else (None, None)
    rec = audit.record(action.name, action.target, before, after, result, error)
    try:
        log.write(rec)
    except AuditError as exc:
        warn(f"{exc.strerror}; this {result} action is NOT in the audit file")


def execute(
    action: Action,
    log: AuditLog,
    confirm: Confirmer | None,
    *,
    dry_run: bool = False,
    warn: Warn = lambda _msg: None,
) -> Outcome:
    """Run `action`; `confirm` None means already confirmed (--yes). Raises
    ActionRefused / BadTarget (nothing changed) or ActionFailed."""
    try:
        action.preflight()
        desc = action.describe()
    except (ActionRefused, BadTarget) as exc:
        _audit(log, action, "refused", str(exc), warn)
        raise
    values = _values(action)
    if dry_run:
        _audit(log, action, "dry-run", None, warn, values)
        return Outcome("dry-run", desc)
    if confirm is not None and not confirm(desc):
        _audit(log, action, "declined", "not confirmed", warn, values)
        raise ActionRefused("not confirmed: nothing changed")
    try:
        action.apply()
        verified = action.verify()
    except ActionRefused as exc:  # the read-only re-check at execution time
        _audit(log, action, "refused", str(exc), warn, values)
        raise
    except ActionFailed as exc:
        _audit(log, action, "failed", str(exc), warn, values)
        raise
    except (LvstopError, OSError) as exc:
        _audit(log, action, "failed", str(exc), warn, values)
        raise ActionFailed(str(exc)) from None
    _audit(log, action, "applied", None, warn, values)
    return Outcome("applied", desc, verified)
