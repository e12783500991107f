"""The console's actions as named data: keys, `:` commands, the palette and help.

Every way of doing something (a key, a `:` command, a palette entry, a help line)
comes from this one registry, so they cannot drift apart. Keymaps refer to action
names and may be overridden in the config file; an action that changes the director
(`writes`) is hidden, unbound and refused in read-only mode, and one scoped to some
views is offered only there ("keys shown only when allowed").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

VIEWS = ("services", "servers", "vrrp", "conns", "events")
VIEW_TITLES = {
    "services": "Services",
    "servers": "Real servers",
    "vrrp": "VRRP",
    "conns": "Connections",
    "events": "Events",
}
TABLE_VIEWS = frozenset(VIEWS)
SERVERS = frozenset({"servers"})
VRRP = frozenset({"vrrp"})


@dataclass(frozen=True, slots=True)
class KeyAction:
    """One named action. `key` is Textual key syntax (comma-separated alternatives);
    `commands` are the words accepted after `:`; `views` None means everywhere.
    `footer` puts it in the key bar, `short` is its label there on a narrow
    terminal and `rank` how soon it is dropped there (0 never, 3 first)."""

    name: str
    key: str
    description: str
    commands: tuple[str, ...] = ()
    views: frozenset[str] | None = None
    writes: bool = False
    footer: bool = True
    short: str = ""
    rank: int = 2

    def allowed(self, view: str, read_only: bool) -> bool:
        if self.writes and read_only:
            return False
        return self.views is None or view in self.views

    @property
    def key_display(self) -> str:
        return ",".join(_pretty(k) for k in self.key.split(","))


def _pretty(key: str) -> str:
    names = {
        "escape": "Esc",
        "enter": "Enter",
        "question_mark": "?",
        "slash": "/",
        "colon": ":",
        "greater_than_sign": ">",
        "less_than_sign": "<",
        "ctrl+p": "^p",
        "ctrl+r": "^r",
        "plus": "+",
        "minus": "-",
        "space": "Space",
    }
    return names.get(key, key)


ACTIONS: tuple[KeyAction, ...] = (
    KeyAction("view.services", "1", "Services", ("services", "svc", "s"), short="Svc", rank=1),
    KeyAction(
        "view.servers",
        "2",
        "All real servers",
        ("servers", "rs", "realservers"),
        short="RS",
        rank=1,
    ),
    KeyAction("view.vrrp", "3", "VRRP", ("vrrp", "ha"), rank=1),
    KeyAction(
        "view.conns", "4", "Connections", ("conns", "connections", "co"), short="Conns", rank=1
    ),
    KeyAction("view.events", "5", "Events", ("events", "ev"), short="Ev", rank=1),
    KeyAction(
        "open",
        "enter",
        "Open service",
        ("open",),
        views=frozenset({"services"}),
        short="Open",
        rank=1,
    ),
    KeyAction("back", "escape", "Back / clear filter", ("back",), footer=False),
    KeyAction(
        "weight.up", "plus", "Weight +step", ("weight+",), SERVERS, writes=True, short="W+", rank=1
    ),
    KeyAction(
        "weight.down",
        "minus",
        "Weight -step",
        ("weight-",),
        SERVERS,
        writes=True,
        short="W-",
        rank=1,
    ),
    KeyAction(
        "drain", "d", "Drain (weight 0)", ("drain",), SERVERS, writes=True, short="Drain", rank=1
    ),
    KeyAction(
        "restore",
        "R",
        "Restore weight",
        ("restore",),
        SERVERS,
        writes=True,
        short="Restore",
        rank=1,
    ),
    KeyAction(
        "failover",
        "F",
        "Fail over instance",
        ("failover",),
        VRRP,
        writes=True,
        short="Failover",
        rank=1,
    ),
    KeyAction(
        "failback",
        "B",
        "Fail back instance",
        ("failback",),
        VRRP,
        writes=True,
        short="Failback",
        rank=1,
    ),
    KeyAction("filter", "slash", "Filter", ("filter",), views=TABLE_VIEWS, rank=1),
    KeyAction(
        "sort.next", "greater_than_sign", "Sort next column", ("sort",), TABLE_VIEWS, footer=False
    ),
    KeyAction("sort.prev", "less_than_sign", "Sort previous column", (), TABLE_VIEWS, footer=False),
    KeyAction("sort.reverse", "r", "Reverse sort", ("reverse",), TABLE_VIEWS, short="Rev"),
    KeyAction("pause", "p", "Pause", ("pause", "resume")),
    KeyAction("poll", "ctrl+r", "Poll now", ("poll", "refresh"), footer=False),
    KeyAction("command", "colon", "Command", (), short="Cmd", rank=3),
    KeyAction("help", "question_mark", "Help", ("help",), rank=0),
    KeyAction("palette", "ctrl+p", "Palette", ("palette",), footer=False),
    KeyAction("quit", "q", "Quit", ("quit", "q")),
)
"""Every action, in help order. `writes` ones act through lvstop/actions (ui/operate.py)."""

BY_NAME = {a.name: a for a in ACTIONS}


def keymap(
    overrides: Mapping[str, str], actions: tuple[KeyAction, ...] = ACTIONS
) -> tuple[tuple[KeyAction, ...], tuple[str, ...]]:
    """The actions with the config's key overrides applied, and one warning per bad entry.

    A bad entry (unknown action, empty key, key already taken) is ignored: the
    default key stays, so a typo never leaves an operator without a key.
    """
    warnings: list[str] = []
    by_name = {a.name: a for a in actions}
    chosen = dict(by_name)
    for name, key in overrides.items():
        if name not in by_name:
            warnings.append(f"keys: unknown action {name!r} (known: {', '.join(by_name)})")
            continue
        if not isinstance(key, str) or not key.strip():
            warnings.append(f"keys: {name}: a key must be a non-empty string")
            continue
        chosen[name] = replace(by_name[name], key=key.strip())
    taken: dict[str, str] = {}
    for action in chosen.values():
        for k in action.key.split(","):
            if k in taken and taken[k] != action.name:
                warnings.append(
                    f"keys: {k!r} is bound to both {taken[k]} and {action.name}; "
                    f"keeping the default for {action.name}"
                )
                chosen[action.name] = by_name[action.name]
                break
            taken[k] = action.name
    return tuple(chosen[a.name] for a in actions), tuple(warnings)


def find_command(word: str, actions: tuple[KeyAction, ...] = ACTIONS) -> KeyAction | None:
    w = word.strip().lower()
    for a in actions:
        if w in a.commands or w == a.name:
            return a
    return None
