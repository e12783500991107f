"""The audit trail: one JSON line per attempted action, in a file and in syslog/journald.

Who did what, from where, to what, and how it ended, written before the process can
forget it. The file is append-only JSON lines so `tail`, `jq` and lvstop's Events
view can read it; syslog carries the same record to journald for central logging.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import socket
import syslog
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_AUDIT_LOG = Path("/var/log/lvstop/audit.jsonl")
RESULTS = ("applied", "refused", "failed", "dry-run", "declined")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One line of the audit file. `before`/`after` are what the action showed."""

    time: float
    host: str
    user: str
    sudo_user: str | None
    ssh_client: str | None
    tty: str | None
    pid: int
    action: str
    target: str
    before: Mapping[str, object] | None
    after: Mapping[str, object] | None
    result: str
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), default=str)

    @property
    def severity(self) -> str:
        """For the Events view: "critical" failed, "warning" refused, else "info"."""
        return {"failed": "critical", "refused": "warning"}.get(self.result, "info")

    def summary(self) -> str:
        """One human sentence for the Events view (EventKind.ACTION)."""
        who = self.user + (f" (sudo from {self.sudo_user})" if self.sudo_user else "")
        where = f" from {self.ssh_client}" if self.ssh_client else ""
        text = f"{self.action} {self.target}: {self.result} by {who}{where}"
        if self.before and self.after:
            text += "; " + ", ".join(
                f"{k}: {self.before.get(k)} -> {v}" for k, v in self.after.items()
            )
        return text + (f" ({self.error})" if self.error else "")


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _tty() -> str | None:
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                return os.ttyname(fd)
    return None


def _ssh_client(env: Mapping[str, str]) -> str | None:
    """The client address of an SSH session (SSH_CONNECTION, else SSH_CLIENT)."""
    for var in ("SSH_CONNECTION", "SSH_CLIENT"):
        words = env.get(var, "").split()
        if words:
            return words[0]
    return None


def record(
    action: str,
    target: str,
    before: Mapping[str, object] | None,
    after: Mapping[str, object] | None,
    result: str,
    error: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> AuditRecord:
    """A record stamped with now and who is running this process."""
    if result not in RESULTS:
        raise ValueError(f"unknown audit result {result!r}")
    env = os.environ if env is None else env
    return AuditRecord(
        time=time.time(),
        host=socket.gethostname(),
        user=_user(os.geteuid()),
        sudo_user=env.get("SUDO_USER") or None,
        ssh_client=_ssh_client(env),
        tty=_tty(),
        pid=os.getpid(),
        action=action,
        target=target,
        before=before,
        after=after,
        result=result,
        error=error,
    )


class AuditError(OSError):
    """The audit file could not be written."""


class AuditLog:
    """Appends records to `path` (directory 0750, file 0640 when lvstop creates them)
    and, with `use_syslog`, to syslog (facility AUTHPRIV, so journald keeps it with
    other privileged actions)."""

    def __init__(self, path: Path = DEFAULT_AUDIT_LOG, *, use_syslog: bool = True) -> None:
        self.path = path
        self.use_syslog = use_syslog

    def writable(self) -> str | None:
        """None when a record can be appended, else why not (checked before acting)."""
        if self.path.exists():
            ok = self.path.is_file() and os.access(self.path, os.W_OK)
        else:
            probe = self.path.parent
            while not probe.exists():
                probe = probe.parent
            ok = probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)
        return None if ok else f"audit log {self.path} is not writable"

    def write(self, rec: AuditRecord) -> None:
        line = rec.to_json() + "\n"
        try:
            self._append(line)
        finally:
            if self.use_syslog:
                self._syslog(rec, line)

    def _append(self, line: str) -> None:
        directory = self.path.parent
        try:
            if not directory.exists():
                directory.mkdir(mode=0o750, parents=True, exist_ok=True)
                os.chmod(directory, 0o750)
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            try:
                if created:
                    os.fchmod(fd, 0o640)
                # One write of a whole line to an O_APPEND file: lines never interleave.
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            why = f"cannot write audit log {self.path}: {exc.strerror}"
            raise AuditError(exc.errno, why) from None

    @staticmethod
    def _syslog(rec: AuditRecord, line: str) -> None:
        priority = syslog.LOG_NOTICE if rec.result in ("applied", "dry-run") else syslog.LOG_WARNING
        syslog.openlog("lvstop", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
        try:
            syslog.syslog(
                priority,
                f"action={rec.action} result={rec.result} target={rec.target!r} "
                f"user={rec.user} audit={line.strip()}",
            )
        finally:
            syslog.closelog()


def read_records(path: Path) -> Iterator[AuditRecord]:
    """Records of an audit file, oldest first; unreadable lines are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        with contextlib.suppress(ValueError, TypeError):
            data = json.loads(line)
            if isinstance(data, dict):
                yield AuditRecord(**data)
