"""No state column is written outside the state machine.

Reads every module under `src/yiyun` and fails on any write of a `state` attribute or
column: `x.state = …` (also in tuple assignments and `+=`), `setattr(x, "state", …)`, and
`state=` / `{"state": …}` given to `.values()` of an UPDATE or INSERT. Creating a row in
its first state (`Meeting(state=…)`) is allowed; every later change goes through
`Machine.transition()` in `core/statemachine.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "yiyun"
THE_MACHINE = SRC / "core" / "statemachine.py"
# Not a workflow state column: the room's in-memory recording status.
ALLOWED = {
    ("meetings/room_recording.py", "rec.state"),
}


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        found: list[ast.expr] = []
        for target in node.targets:
            found.extend(target.elts if isinstance(target, ast.Tuple | ast.List) else [target])
        return found
    if isinstance(node, ast.AugAssign | ast.AnnAssign):
        return [node.target]
    return []


def _is_state_key(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value == "state"


def state_writes(source: str) -> list[tuple[int, str]]:
    """(line, written expression) for every write of a state attribute or column."""
    writes: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        for target in _targets(node):
            if isinstance(target, ast.Attribute) and target.attr == "state":
                writes.append((target.lineno, ast.unparse(target)))
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        is_setattr = isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) >= 2
        if is_setattr and _is_state_key(node.args[1]):
            writes.append((node.lineno, ast.unparse(node.args[0]) + ".state"))
        if isinstance(func, ast.Attribute) and func.attr == "values":
            keys = [k.arg for k in node.keywords]
            for arg in node.args:
                if isinstance(arg, ast.Dict):
                    keys += [k.value for k in arg.keys if isinstance(k, ast.Constant)]
            if "state" in keys:
                writes.append((node.lineno, ast.unparse(node)[:60]))
    return writes


def test_the_check_finds_every_kind_of_write() -> None:
    sample = (
        "meeting.state = 'ended'\n"
        "alert.state, alert.outcome = a, b\n"
        "setattr(task, 'state', 'done')\n"
        "stmt = update(Task).values(state='done')\n"
        "stmt = update(Task).values({'state': 'done'})\n"
        "Meeting(state='open')\n"
        "if meeting.state == 'open': pass\n"
    )
    assert [line for line, _ in state_writes(sample)] == [1, 2, 3, 4, 5]


def test_no_state_column_is_written_outside_the_state_machine() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path == THE_MACHINE:
            continue
        relative = path.relative_to(SRC).as_posix()
        for line, written in state_writes(path.read_text(encoding="utf-8")):
            if (relative, written) not in ALLOWED:
                offenders.append(f"{relative}:{line}: {written}")
    assert offenders == []
