"""keepalived.conf as keepalived 2.2.7 reads it: a tree of statements, each with file:line.

The rules follow keepalived's own reader (lib/parser.c), because a linter that reads a
file differently from the daemon gives confident wrong answers:

- `#` and `!` start a comment anywhere outside "double quotes"; `\\#` and `\\!` escape them.
- Words are separated by blanks; a "double-quoted" word keeps its blanks (no escapes:
  keepalived only interprets escapes inside script commands, see `command_words`).
- Every unquoted `{` and `}` is a token of its own, wherever it stands on the line.
- `@ID line` keeps the line only on the node whose config id is ID, `@^ID line` on all
  others. `$NAME=value` defines, `$NAME` / `${NAME}` uses; a definition whose value ends
  in `\\` continues on the next lines and expands to several lines where it is used.
  That is the only line continuation keepalived 2.2.7 has: a trailing `\\` on an ordinary
  line is kept as part of the last word (checked with `keepalived -t`), so it is reported.
- `include GLOB` (and includer/m/w/b/a) reads files matched relative to the including
  file's directory, with {a,b} brace expansion, at the place of the include: blocks
  may even span files, as they can in keepalived.
- `~SEQ` / `~LST` line generators are not expanded; they are reported.

Problems never raise: they come back as `Finding`s next to the tree, so one broken
line cannot hide everything else in the file. Only a main file that cannot be read at
all raises `ConfigUnusable`.
"""

from __future__ import annotations

import enum
import glob
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from lvstop.errors import LvstopError

MAX_LINE = 1023  # keepalived reads lines with fgets(buf, 1024): longer ones are split
_MAX_SUBST_ROUNDS = 32
_MAX_INCLUDE_DEPTH = 32
MAX_NESTING = 32
"""Deepest block nesting read (keepalived's grammar needs 4): deeper blocks are
reported and skipped, so nothing downstream recurses without bound."""
MAX_EXPANSION = 1 << 18
"""Characters $NAME substitution may produce in one configuration: self-doubling
definitions ($A=${A}${A}) grow exponentially, and lvstop must not follow them."""
MAX_BRACE_NAMES = 1024
"""Names one include's {a,b} pattern may expand to (each is globbed)."""


class TooManyNames(ValueError):
    """A {a,b} pattern expands to more than MAX_BRACE_NAMES names."""


class Severity(enum.StrEnum):
    """How bad a finding is; the scale is documented in lvstop.sources.keepalived.lint."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.ERROR: 2, Severity.WARNING: 1, Severity.INFO: 0}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem at file:line, with a one-line fix hint.

    Shared by the parser, the model builder and the lint rules so that every problem,
    wherever it is noticed, is reported the same way.
    """

    file: str
    line: int
    severity: Severity
    code: str
    message: str
    hint: str


class ConfigUnusable(LvstopError):
    """The configuration file cannot be read at all (missing, unreadable, binary)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Node:
    """One statement: its words (keyword first) and, if it opened one, its block.

    `seq` numbers statements in the order keepalived reads them (includes inlined),
    because keepalived resolves some names while reading: a track_file defined after
    the instance that tracks it is not found.
    """

    words: tuple[str, ...]
    file: str
    line: int
    block: tuple[Node, ...] | None = None
    seq: int = 0

    @property
    def keyword(self) -> str:
        return self.words[0] if self.words else ""

    @property
    def args(self) -> tuple[str, ...]:
        return self.words[1:]


@dataclass(frozen=True, slots=True)
class ParsedConfig:
    """The statement tree of a main file and everything it includes."""

    path: str
    nodes: tuple[Node, ...]
    files: tuple[str, ...]
    findings: tuple[Finding, ...]
    config_id: str | None
    conditional_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(slots=True)
class _Token:
    """A line's words, or a lone brace ("{" / "}" in `brace`)."""

    words: tuple[str, ...]
    file: str
    line: int
    brace: str = ""


@dataclass(slots=True)
class _Definition:
    lines: list[str]

    @property
    def multiline(self) -> bool:
        return len(self.lines) > 1


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEF_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)=[ \t]*(.*)\Z", re.S)
_INCLUDE_RE = re.compile(r"include([rmwba]?)[ \t]+(.*)\Z", re.S)


def decomment(line: str) -> tuple[str, bool, bool]:
    """Strip a comment and surrounding blanks the way keepalived does.

    Returns (text, continued, unterminated_quote). `continued` is True when the line
    ends in a backslash, which keepalived notices even at the end of a comment.
    """
    s = line.lstrip(" \t")
    out: list[str] = []
    quote = False
    comment = False
    continued = False
    i = 0
    while i < len(s):
        c = s[i]
        if c == '"':
            if not comment:
                quote = not quote
                out.append(c)
            i += 1
            continue
        if c == "\\":
            if i + 1 < len(s):
                if not comment:
                    if not quote and s[i + 1] in "#!":
                        out.append(s[i + 1])
                    else:
                        out.append(s[i : i + 2])
                i += 2
                continue
            continued = True
            break
        if not quote and c in "#!":
            comment = True
        if not comment:
            out.append(c)
        i += 1
    return "".join(out).rstrip(" \t"), continued, quote


def split_words(text: str) -> tuple[tuple[str, ...], bool]:
    """Split a line into words: blanks separate, "double quotes" group.

    Returns (words, unmatched_quote); keepalived drops the rest of the line at an
    unmatched quote, and so does this.
    """
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\v\f\r\n":
            i += 1
        if i >= n:
            break
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                return tuple(words), True
            words.append(text[i + 1 : end])
            i = end + 1
        else:
            j = i
            while j < n and text[j] not in ' \t\v\f\r\n"':
                j += 1
            words.append(text[i:j])
            i = j
    return tuple(words), False


_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPES["v"] = "\v"


def command_words(text: str) -> tuple[str, ...]:
    """Split a script command like keepalived does before exec (no shell involved).

    Both quote kinds group, and C-like escapes (\\n, \\t, \\x41, \\101, \\cX) apply, as
    in keepalived's alloc_strvec_quoted_escaped. Used only to show commands: lvstop never
    runs anything taken from a configuration.
    """
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        cur: list[str] = []
        quote = ""
        while i < n:
            c = text[i]
            if c == "\\" and i + 1 < n:
                i += 1
                e = text[i]
                if e == "x" and i + 1 < n and text[i + 1] in "0123456789abcdefABCDEF":
                    j = i + 1
                    while j < n and text[j] in "0123456789abcdefABCDEF":
                        j += 1
                    cur.append(chr(int(text[i + 1 : j], 16) & 0xFF))
                    i = j
                elif e == "c" and i + 1 < n:
                    cur.append(chr(ord(text[i + 1]) & 0x1F))
                    i += 2
                elif e in "01234567":
                    j = i
                    while j < n and j < i + 3 and text[j] in "01234567":
                        j += 1
                    cur.append(chr(int(text[i:j], 8) & 0xFF))
                    i = j
                else:
                    cur.append(_ESCAPES.get(e, e))
                    i += 1
                continue
            if quote:
                if c == quote:
                    quote = ""
                else:
                    cur.append(c)
                i += 1
                continue
            if c in "\"'":
                quote = c
                i += 1
                continue
            if c in " \t":
                break
            cur.append(c)
            i += 1
        words.append("".join(cur))
    return tuple(words)


def expand_braces(pattern: str, limit: int = MAX_BRACE_NAMES) -> list[str]:
    """csh-style {a,b} expansion, nested, as glob(GLOB_BRACE) does for include.

    Raises TooManyNames beyond `limit` names (ten groups of two are already 1024).
    """
    out: list[str] = []
    for name in _expand_braces(pattern):
        if len(out) >= limit:
            raise TooManyNames(f"{pattern!r} expands to more than {limit} names")
        out.append(name)
    return out


def _expand_braces(pattern: str) -> Iterator[str]:
    depth = 0
    start = -1
    for i, c in enumerate(pattern):
        if c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth:
            depth -= 1
            if depth == 0:
                inner = pattern[start + 1 : i]
                parts: list[str] = []
                level, last = 0, 0
                for j, ch in enumerate(inner):
                    if ch == "{":
                        level += 1
                    elif ch == "}":
                        level -= 1
                    elif ch == "," and level == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                parts.append(inner[last:])
                if len(parts) == 1:
                    # "{x}" without a comma is literal in csh and in glibc
                    for r in _expand_braces(pattern[i + 1 :]):
                        yield pattern[: i + 1] + r
                    return
                head, tail = pattern[:start], pattern[i + 1 :]
                for p in parts:
                    yield from _expand_braces(head + p + tail)
                return
    yield pattern


class _Reader:
    """Turns files into tokens: comments, conditionals, definitions and includes applied."""

    def __init__(self, config_id: str | None) -> None:
        self.config_id = config_id
        self.findings: list[Finding] = []
        self.files: list[str] = []
        self.defs: dict[str, _Definition] = {}
        self.conditional_ids: set[str] = set()
        self._chain: list[str] = []
        self._pending_def: _Definition | None = None
        self._expanded = 0  # characters produced by $NAME substitution so far
        self._expansion_reported = False

    def add(self, file: str, line: int, sev: Severity, code: str, message: str, hint: str) -> None:
        self.findings.append(Finding(file, line, sev, code, message, hint))

    # -- files ------------------------------------------------------------------------

    def tokens(self, path: str, text: str) -> Iterator[_Token]:
        self.files.append(path)
        self._chain.append(os.path.realpath(path))
        try:
            yield from self._file_tokens(path, text)
        finally:
            self._chain.pop()

    def _file_tokens(self, path: str, text: str) -> Iterator[_Token]:
        self._pending_def = None
        raw_lines = text.split("\n")
        if raw_lines and raw_lines[-1] == "":
            raw_lines.pop()
        for lineno, raw in enumerate(raw_lines, 1):
            raw = raw.rstrip("\r")
            size = len(raw.encode("utf-8", "replace"))
            if size > MAX_LINE:
                self.add(
                    path,
                    lineno,
                    Severity.ERROR,
                    "line-too-long",
                    f"line is {size} bytes; keepalived reads at most {MAX_LINE} and "
                    "treats the rest as a new line",
                    "shorten the line, e.g. move long values into a $NAME= definition",
                )
            text_, continued, open_quote = decomment(raw)
            if self._pending_def is not None:
                # a multi-line definition goes on until a line without a trailing '\'
                if not raw.strip():
                    self._pending_def = None
                    continue
                self._pending_def.lines.append(text_)
                if not continued:
                    self._pending_def = None
                continue
            if open_quote:
                self.add(
                    path,
                    lineno,
                    Severity.ERROR,
                    "quote-unmatched",
                    "unterminated double quote",
                    'close the quote ("...")',
                )
            if not text_ and not continued:
                continue
            yield from self._logical(text_, path, lineno, continued=continued)

    # -- one logical line -------------------------------------------------------------

    def _logical(
        self, text: str, path: str, lineno: int, *, continued: bool = False, depth: int = 0
    ) -> Iterator[_Token]:
        if depth > _MAX_SUBST_ROUNDS:
            return
        extra: list[str] = []
        for _round in range(_MAX_SUBST_ROUNDS):
            if text.startswith("@"):
                kept = self._conditional(text)
                if kept is None:
                    return
                text = kept
            m = _DEF_RE.match(text) if text.startswith("$") else None
            if m is not None:
                definition = _Definition([m.group(2)])
                self.defs[m.group(1)] = definition
                if continued:
                    self._pending_def = definition
                return
            if text.startswith("~SEQ") or text.startswith("~LST"):
                self.add(
                    path,
                    lineno,
                    Severity.WARNING,
                    "unsupported",
                    f"{text[:4]} line generators are not expanded by lvstop: the lines "
                    "they produce are not checked",
                    "expand the generated lines by hand if you want them linted",
                )
                return
            if "$" not in text or text.startswith("~"):
                break
            replaced, more = self._substitute(text, path, lineno)
            if replaced is None:
                break
            self._expanded += len(replaced) + sum(len(x) for x in more)
            if self._expanded > MAX_EXPANSION:
                self._too_much_expansion(path, lineno)
                return
            text = replaced
            extra = more + extra
            if not text.startswith("@") and "$" not in text:
                break
        else:
            self.add(
                path,
                lineno,
                Severity.ERROR,
                "definition-loop",
                "definitions expand into each other without end",
                "break the cycle",
            )
            return
        if continued:
            what = f"'{text.split()[-1]}\\'" if text.split() else "a stray '\\'"
            self.add(
                path,
                lineno,
                Severity.ERROR,
                "continuation",
                "a trailing '\\' does not continue a line in keepalived 2.2.7 (only in "
                f"$NAME= definitions): keepalived reads {what} here and the next line "
                "as a statement of its own",
                "join the lines, or put the value in a multi-line $NAME= definition",
            )
        m = _INCLUDE_RE.match(text)
        if m is not None:
            yield from self._include(m.group(2).strip(), m.group(1), path, lineno)
        else:
            yield from _brace_split(text, path, lineno, self)
        for more_line in extra:
            yield from self._logical(more_line, path, lineno, depth=depth + 1)

    def _too_much_expansion(self, path: str, lineno: int) -> None:
        if not self._expansion_reported:
            self._expansion_reported = True
            self.add(
                path,
                lineno,
                Severity.ERROR,
                "definition-explodes",
                f"$NAME definitions expand to more than {MAX_EXPANSION} characters (a "
                "definition that contains itself more than once?): lvstop stops "
                "expanding them here",
                "make the definitions expand to their final text without repeating themselves",
            )

    def _conditional(self, text: str) -> str | None:
        negate = text.startswith("@^")
        rest = text[2:] if negate else text[1:]
        cut = re.search(r"[ \t]", rest)
        if cut is None:
            return None
        ident = rest[: cut.start()]
        self.conditional_ids.add(ident)
        matches = self.config_id is not None and ident == self.config_id
        if matches == negate:
            return None
        return rest[cut.start() :].lstrip(" \t")

    def _substitute(self, text: str, path: str, lineno: int) -> tuple[str | None, list[str]]:
        """Replace $NAME / ${NAME}; None when nothing was replaced."""
        out: list[str] = []
        more: list[str] = []
        i = 0
        found = False
        while True:
            j = text.find("$", i)
            if j < 0 or j + 1 >= len(text):
                out.append(text[i:])
                break
            out.append(text[i:j])
            braced = text[j + 1] == "{"
            m = _NAME_RE.match(text, j + 2 if braced else j + 1)
            end = -1
            if m is not None:
                if braced:
                    k = m.end()
                    while k < len(text) and (text[k] == " " or text[k].isdigit()):
                        k += 1
                    if k < len(text) and text[k] == "}":
                        end = k + 1
                elif m.end() == len(text) or text[m.end()] in " \t,)":
                    end = m.end()
            if m is None or end < 0:
                out.append("$")
                i = j + 1
                continue
            name = m.group(0)
            value = self._value(name, path)
            if value is None:
                self.add(
                    path,
                    lineno,
                    Severity.INFO,
                    "undefined-variable",
                    f"${name} is not defined (so far): keepalived keeps the text as it is",
                    f"define it first with ${name}=..., or escape the '$' if it is literal",
                )
                out.append(text[j:end])
                i = end
                continue
            at_end = end == len(text)
            if value.multiline and not at_end:
                self.add(
                    path,
                    lineno,
                    Severity.WARNING,
                    "definition-midline",
                    f"multi-line ${name} is only expanded at the end of a line: keepalived "
                    "keeps the text as it is here",
                    f"move ${name} to the end of the line, or make it a one-line definition",
                )
                out.append(text[j:end])
                i = end
                continue
            found = True
            out.append(value.lines[0])
            if value.multiline:
                more = value.lines[1:]
            i = end
            if at_end:
                break
        if not found:
            return None, []
        return "".join(out), more

    def _value(self, name: str, path: str) -> _Definition | None:
        if name in self.defs:
            return self.defs[name]
        builtins = {
            "_PWD": os.path.dirname(os.path.abspath(path)),
            "_INSTANCE": "",
            "_HASH": "#",
            "_BANG": "!",
            "_RANDOM": "0",
        }
        if name in builtins:
            return _Definition([builtins[name]])
        return None

    def _include(self, pattern: str, variant: str, path: str, lineno: int) -> Iterator[_Token]:
        base = os.path.dirname(path)
        matched: list[str] = []
        try:
            names = expand_braces(pattern)
        except TooManyNames as exc:
            self.add(
                path,
                lineno,
                Severity.ERROR,
                "include-pattern",
                f"include {exc}: lvstop does not read it",
                "name the files with fewer {a,b} groups, or use a glob",
            )
            return
        for pat in names:
            full = pat if os.path.isabs(pat) else os.path.join(base, pat)
            hits = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
            matched.extend(h for h in hits if os.path.exists(h))
        if not matched:
            strict = bool(variant)
            self.add(
                path,
                lineno,
                Severity.ERROR if strict else Severity.WARNING,
                "include-missing",
                f"include {pattern!r} matches no file"
                + (
                    f" (include{variant} makes this a configuration error)"
                    if strict
                    else ": keepalived goes on without it"
                ),
                "fix the path (relative paths are relative to this file's directory)",
            )
            return
        for inc in matched:
            real = os.path.realpath(inc)
            if real in self._chain or len(self._chain) >= _MAX_INCLUDE_DEPTH:
                self.add(
                    path,
                    lineno,
                    Severity.ERROR,
                    "include-loop",
                    f"include of {inc} loops back to a file already being read",
                    "remove the circular include",
                )
                continue
            try:
                text = read_config_text(inc)
            except ConfigUnusable as exc:
                self.add(
                    path,
                    lineno,
                    Severity.ERROR,
                    "include-unreadable",
                    str(exc),
                    "make the file readable, or remove the include",
                )
                continue
            yield from self.tokens(inc, text)


def _brace_split(text: str, path: str, lineno: int, reader: _Reader) -> Iterator[_Token]:
    """Yield the words between unquoted braces, and each brace as a token of its own."""
    start = 0
    quote = False
    for i, c in enumerate(text):
        if c == '"':
            quote = not quote
        elif not quote and c in "{}":
            yield from _words_token(text[start:i], path, lineno, reader)
            yield _Token((), path, lineno, c)
            start = i + 1
    yield from _words_token(text[start:], path, lineno, reader)


def _words_token(text: str, path: str, lineno: int, reader: _Reader) -> Iterator[_Token]:
    words, unmatched = split_words(text)
    if unmatched:
        reader.add(
            path,
            lineno,
            Severity.ERROR,
            "quote-unmatched",
            "unmatched double quote: keepalived drops the rest of the line",
            'close the quote ("...")',
        )
    if words:
        yield _Token(words, path, lineno)


@dataclass(slots=True)
class _Building:
    words: tuple[str, ...]
    file: str
    line: int
    seq: int
    children: list[_Building] | None = None

    def freeze(self) -> Node:
        block = None if self.children is None else tuple(c.freeze() for c in self.children)
        return Node(self.words, self.file, self.line, block, self.seq)


def _build_tree(tokens: Iterator[_Token], reader: _Reader) -> tuple[Node, ...]:
    root: list[_Building] = []
    level = root
    stack: list[tuple[list[_Building], _Building | None]] = []
    last: _Building | None = None
    seq = 0
    for tok in tokens:
        if tok.brace == "{":
            if len(stack) >= MAX_NESTING:
                if len(stack) == MAX_NESTING:  # once, for the outermost skipped block
                    reader.add(
                        tok.file,
                        tok.line,
                        Severity.ERROR,
                        "nesting-too-deep",
                        f"blocks nested more than {MAX_NESTING} deep: lvstop skips this "
                        "block (keepalived's own blocks nest 4 deep at most)",
                        "look for a missing '}' above this line",
                    )
                stack.append((level, None))
                level = []
            elif last is not None and last.children is None:
                last.children = []
                stack.append((level, last))
                level = last.children
            else:
                reader.add(
                    tok.file,
                    tok.line,
                    Severity.ERROR,
                    "brace-unexpected",
                    "'{' without a keyword before it: keepalived ignores it, and the '}' "
                    "that matches it then closes the enclosing block",
                    "remove the '{' or put the keyword it belongs to before it",
                )
                stack.append((level, None))
                level = []
            last = None
        elif tok.brace == "}":
            if not stack:
                reader.add(
                    tok.file,
                    tok.line,
                    Severity.ERROR,
                    "brace-extra",
                    "extra '}' with no block open",
                    "remove it, or add the missing '{'",
                )
            else:
                level, _owner = stack.pop()
            last = None
        else:
            last = _Building(tok.words, tok.file, tok.line, seq)
            seq += 1
            level.append(last)
    for _level, owner in reversed(stack):
        if owner is not None:
            reader.add(
                owner.file,
                owner.line,
                Severity.ERROR,
                "brace-unclosed",
                f"block '{' '.join(owner.words)}' is never closed: keepalived reports "
                "missing '}'s and reads everything after it as part of this block",
                "add the missing '}'",
            )
    return tuple(b.freeze() for b in root)


def read_config_text(path: str) -> str:
    """A configuration file's text; ConfigUnusable when it cannot be one."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ConfigUnusable(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigUnusable(f"{path}: is a directory, not a configuration file") from None
    except OSError as exc:
        raise ConfigUnusable(f"{path}: cannot read: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise ConfigUnusable(f"{path}: binary data (NUL bytes), not a keepalived configuration")
    return data.decode("utf-8", "replace")


def parse_text(text: str, path: str = "<string>", *, config_id: str | None = None) -> ParsedConfig:
    """Parse configuration text as if read from `path` (includes resolve next to it)."""
    reader = _Reader(config_id)
    nodes = _build_tree(reader.tokens(path, text), reader)
    return ParsedConfig(
        path=path,
        nodes=nodes,
        files=tuple(reader.files),
        findings=tuple(reader.findings),
        config_id=config_id,
        conditional_ids=frozenset(reader.conditional_ids),
    )


def parse_file(path: str, *, config_id: str | None = None) -> ParsedConfig:
    """Parse a main configuration file and everything it includes."""
    return parse_text(read_config_text(path), path, config_id=config_id)


def iter_nodes(nodes: Sequence[Node]) -> Iterator[Node]:
    """Every node of a tree, depth first, in file order."""
    for node in nodes:
        yield node
        if node.block:
            yield from iter_nodes(node.block)
