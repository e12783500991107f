"""Errors that end a command with one clear line and a chosen exit code."""

from __future__ import annotations


class LvstopError(Exception):
    """An error meant for the operator: printed as one line, never as a traceback."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class NotADirector(LvstopError):
    """IPVS is not available here: not loaded, or this host is no LVS director."""

    exit_code = 2


class SourceError(LvstopError):
    """A source could not be read (permission, format, vanished file)."""
