"""Recordings: snapshots written as JSON lines, and a Director that plays them back.

Why: an incident seen once on a real director can be looked at again (and a bug in
the console reproduced) without the director; UI tests and benchmarks get a fixed,
deterministic input that went through exactly the public JSON form. A recording is
one "lvstop.snapshot/1" document per line (`lvstop record`); consecutive documents
as `lvstop snapshot --json` prints them (indented) are read as well.

Playback is one recorded snapshot per poll, in order, so the console's interval
paces it and a test gets the same frames whatever its clock does. Monotonic time is
the recording's own (seconds since its first snapshot), so rates, ages and the wire
view come out as they were recorded. After the last snapshot the director keeps
returning it, with a line in its errors saying the recording has ended.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from lvstop.errors import SourceError
from lvstop.model.capabilities import Capabilities
from lvstop.model.deserialize import SnapshotFormatError, snapshot_from_json
from lvstop.model.diff import SnapshotDiff
from lvstop.model.serialize import snapshot_json
from lvstop.model.snapshot import Snapshot, SourceKind


def write_snapshot(out: IO[str], snap: Snapshot, d: SnapshotDiff | None = None) -> None:
    """Append one snapshot as one line of a recording."""
    out.write(json.dumps(snapshot_json(snap, d), separators=(",", ":")))
    out.write("\n")


def _documents(text: str) -> Iterator[tuple[int, object]]:
    """(line number, decoded document) for each JSON document in `text`."""
    decoder = json.JSONDecoder()
    pos, line = 0, 1
    end = len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            line += text[pos] == "\n"
            pos += 1
        if pos >= end:
            return
        try:
            doc, stop = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise SourceError(f"line {line}: not JSON: {exc.msg} ({where})") from None
        yield line, doc
        line += text.count("\n", pos, stop)
        pos = stop


def recording_frames(text: str) -> Iterator[Snapshot]:
    """The snapshots of a recording, decoded one at a time as they are asked for:
    source "replay", monotonic time counted from the first one. Raises SourceError
    naming the line and field of a bad document when it gets there."""
    first_wall: float | None = None
    last_wall = 0.0
    for line, doc in _documents(text):
        try:
            snap = snapshot_from_json(doc, source=SourceKind.REPLAY)
            if first_wall is None:
                first_wall = snap.wall_time
            elif snap.wall_time < last_wall:
                raise SnapshotFormatError("taken_at: earlier than the snapshot before it")
        except SnapshotFormatError as exc:
            raise SourceError(f"line {line}: {exc}") from None
        last_wall = snap.wall_time
        yield _at_monotonic(snap, snap.wall_time - first_wall)


def load_recording(text: str) -> tuple[Snapshot, ...]:
    """Every snapshot of a recording at once (see `recording_frames`)."""
    snaps = tuple(recording_frames(text))
    if not snaps:
        raise SourceError("no snapshots in it")
    return snaps


def _at_monotonic(snap: Snapshot, mono: float) -> Snapshot:
    """`snap` (loaded with monotonic = wall time) re-anchored at monotonic `mono`."""
    shift = mono - snap.monotonic
    k = snap.keepalived
    if k is not None:
        k = dataclasses.replace(
            k,
            wire=tuple(dataclasses.replace(w, last_seen=w.last_seen + shift) for w in k.wire),
            wire_since=None if k.wire_since is None else k.wire_since + shift,
        )
    return dataclasses.replace(snap, monotonic=mono, keepalived=k)


class ReplayDirector:
    """A Director over a recording (see the module docstring); read-only.

    `frames` is consumed one snapshot per poll, so a long recording starts at once
    and costs memory only for its text: the first frame is taken when the director
    is made (a file that is no recording fails there), a bad document later on fails
    that poll (the console shows the error and keeps the last good frame).
    """

    def __init__(self, frames: Iterable[Snapshot], *, name: str = "a recording") -> None:
        self.name = name
        self._frames = iter(frames)
        self._last: Snapshot | None = None
        self.position = 0
        """How many recorded snapshots were handed out."""
        self.ended = False
        """A poll found no more recorded snapshots."""
        self._pending: Snapshot | None = next(self._frames, None)
        if self._pending is None:
            raise SourceError(f"{name}: no snapshots in it")

    @classmethod
    def open(cls, path: Path) -> ReplayDirector:
        """Replay `path` (errors name the file, and the line of a bad document)."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SourceError(f"cannot read the recording {path}: {reason}") from None
        return cls(_named(recording_frames(text), path), name=str(path))

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(False, f"replay of {self.name}: a recording cannot be changed")

    def snapshot(self, *, connections: bool = False) -> Snapshot:
        """The next recorded snapshot (connections as recorded, whatever is asked)."""
        snap, self._pending = self._pending, None
        if snap is None and not self.ended:
            snap = next(self._frames, None)
            self.ended = snap is None
        if snap is not None:
            self.position += 1
            self._last = snap
            return snap
        assert self._last is not None
        note = f"end of the replay: all {self.position} snapshots of {self.name} shown"
        return dataclasses.replace(self._last, errors=(*self._last.errors, note))

    def close(self) -> None:
        """Nothing to release: the recording's text is all it holds."""


def _named(frames: Iterator[Snapshot], path: Path) -> Iterator[Snapshot]:
    """`frames` with the file's name put before any error's line number."""
    try:
        yield from frames
    except SourceError as exc:
        raise SourceError(f"{path}: {exc}") from None
