"""Operations on the director: weight, drain, restore, failover, failback.

Actions are named data (`Action.name` is the CLI verb and the keymap name) with
describe(), preflight(), apply() and verify(); `run.execute` drives one through
confirmation and the audit log. Used by the CLI verbs and the UI alike; no textual.
The classes are in weight.py, drain.py and failover.py; NAMES lists the action names
a keymap may refer to.
"""

NAMES = ("weight", "drain", "restore", "failover", "failback", "stop-keepalived")
