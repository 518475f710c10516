"""Subjects and comparisons of the cluster query language.

Role: given a parsed `subject op argument(s)`, build the predicate that reads the
subject from an instance and compares it the way that subject's values compare
(numbers numerically, agent versions by parts, registration times by time).
Neighbour: `query`, which parses; this module never sees the expression text.
Arguments are checked here, at compile time: a bad date or a non-integer task
count raises ValueError, which `query` reports with its position.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .query import Predicate, QuerySubject

PatternCompiler = Callable[[str], re.Pattern[str]]

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
}  # fmt: skip
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_DAY = 86400


def exists_predicate(subject: str) -> Predicate:
    """`exists` is only valid for attributes (checked by the parser)."""
    name = subject.removeprefix("attribute:")
    return lambda inst: name in inst.attributes


def comparison(
    subject: str, op: str, args: Sequence[str], compile_pattern: PatternCompiler
) -> Predicate:
    """`op` is a positive operator: ==, >, >=, <, <=, in, =~ (the parser negates)."""
    if subject.startswith("attribute:"):
        name = subject.removeprefix("attribute:")
        return _string_subject(lambda inst: inst.attributes.get(name), op, args, compile_pattern)
    if subject == "ec2InstanceId":
        return _string_subject(lambda inst: inst.instance_id, op, args, compile_pattern)
    if subject == "agentConnected":
        lowered = [a.lower() for a in args]
        return _string_subject(
            lambda inst: "true" if inst.agent_connected else "false", op, lowered, compile_pattern
        )
    if subject == "task:group":
        return _group_subject(op, args, compile_pattern)
    if subject == "agentVersion":
        wanted = _version_key(args[0])
        compare = _ORDER[op]
        return lambda inst: _compare_versions(inst.agent_version, wanted, args[0], compare)
    if subject == "registeredAt":
        return _registered_at(op, args[0])
    if subject == "runningTasksCount":
        if not re.fullmatch(r"\d+", args[0]):
            raise ValueError(f"runningTasksCount needs a whole number, not {args[0]!r}")
        count, compare = int(args[0]), _ORDER[op]
        return lambda inst: compare(inst.running_tasks_count, count)
    raise AssertionError(subject)  # pragma: no cover - the parser knows every subject


def _string_subject(
    read: Callable[[QuerySubject], str | None],
    op: str,
    args: Sequence[str],
    compile_pattern: PatternCompiler,
) -> Predicate:
    if op == "=~":
        pattern = compile_pattern(args[0])
        return lambda inst: (value := read(inst)) is not None and bool(pattern.fullmatch(value))
    if op == "in":
        return lambda inst: (
            (value := read(inst)) is not None and any(_equal(value, a) for a in args)
        )
    arg, compare = args[0], _ORDER[op]
    return lambda inst: (value := read(inst)) is not None and _ordered(value, arg, compare)


def _group_subject(op: str, args: Sequence[str], compile_pattern: PatternCompiler) -> Predicate:
    """task:group compares as a set: true if ANY task group on the instance matches."""
    if op == "=~":
        pattern = compile_pattern(args[0])
        return lambda inst: any(
            n > 0 and pattern.fullmatch(group) for group, n in inst.task_groups.items()
        )
    wanted = tuple(args)
    return lambda inst: any(inst.task_groups.get(group, 0) > 0 for group in wanted)


def _equal(value: str, arg: str) -> bool:
    return _ordered(value, arg, operator.eq)


def _ordered(value: str, arg: str, compare: Callable[[object, object], bool]) -> bool:
    """Numbers compare as numbers when both sides are numeric, else as strings."""
    if _NUMBER.fullmatch(value) and _NUMBER.fullmatch(arg):
        return compare(float(value), float(arg))
    return compare(value, arg)


def _version_key(text: str) -> tuple[int, ...] | None:
    # A local part (Dockyard's `0.1.0+<content hash>`, wire/package.py) does not order.
    parts = text.strip().removeprefix("v").split("+", 1)[0].split(".")
    if not all(p.isdigit() for p in parts):
        return None
    key = [int(p) for p in parts]
    while len(key) > 1 and key[-1] == 0:  # 1.14.0 == 1.14
        key.pop()
    return tuple(key)


def _compare_versions(
    have: str, wanted: tuple[int, ...] | None, raw: str, compare: Callable[[object, object], bool]
) -> bool:
    have_key = _version_key(have)
    if have_key is None or wanted is None:
        return compare(have, raw)
    return compare(have_key, wanted)


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _registered_at(op: str, arg: str) -> Predicate:
    """A bare date compares calendar days (UTC); a timestamp compares seconds."""
    try:
        when = datetime.fromisoformat(arg.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"registeredAt needs a date such as 2018-06-18 or 2018-06-18T22:28:28Z, not {arg!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    compare = _ORDER[op]
    if _DATE_ONLY.fullmatch(arg):
        day = math.floor(when.timestamp() / _DAY)
        return lambda inst: compare(math.floor(inst.registered_at / _DAY), day)
    second = math.floor(when.timestamp())
    return lambda inst: compare(math.floor(inst.registered_at), second)
