"""The ECS cluster query language: `compile_query(text) -> Query`.

Role: turns a `memberOf` expression (and ListContainerInstances `filter`) into a
predicate over a container instance. Neighbours: `placement` uses it for the
memberOf constraint; the API layer maps `InvalidParameterException` to AWS.

Grammar (keywords are case-insensitive; `!x` and `not x` are the same)::

    expr  := and ( ('||' | 'or') and )*
    and   := unary ( ('&&' | 'and') unary )*
    unary := ('!' | 'not') unary | '(' expr ')' | subject op [argument]
    argument := value | '[' value (',' value)* ']' | '(' value (',' value)* ')'

A value is an unquoted token (`t2.*`, `us-east-1a`, `2018-09-01`) or a quoted
string ('...' or "..."); quote values holding spaces, `|`, `(` or `,`.
Operator semantics, decided here and pinned by tests/unit/test_query.py:

* a negated operator is the exact complement (`a != b` == `!(a == b)`), so an
  instance without the attribute matches `attribute:x != y` and `!exists`;
* `==`/`<`/... compare numerically when both sides are numbers, agentVersion by
  version parts (1.9 < 1.14), registeredAt as a time (a bare date compares days);
* `=~` is a regex that must match the whole value (Java `matches()`); a pattern
  that is not a valid regex but has `*` is read as a wildcard (`*.large`);
* `task:group == g` holds when the instance runs at least one task of group g.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from dockyard.errors import InvalidParameterException

from . import values as v


class QuerySubject(Protocol):
    """What a query reads of an instance; `InstanceView` and the live nodes fit."""

    @property
    def instance_id(self) -> str: ...
    @property
    def agent_connected(self) -> bool: ...
    @property
    def attributes(self) -> Mapping[str, str | None]: ...
    @property
    def registered_at(self) -> float: ...
    @property
    def agent_version(self) -> str: ...
    @property
    def running_tasks_count(self) -> int: ...
    @property
    def task_groups(self) -> Mapping[str, int]: ...


Predicate = Callable[[QuerySubject], bool]


@dataclass(frozen=True, slots=True)
class Query:
    """A compiled expression. `dynamic` is True when it reads task placement
    (task:group, runningTasksCount), i.e. its answer changes as tasks land."""

    text: str
    dynamic: bool
    _predicate: Predicate

    def matches(self, instance: QuerySubject) -> bool:
        return self._predicate(instance)


@lru_cache(maxsize=1024)
def compile_query(text: str) -> Query:
    """Parse `text`; raise InvalidParameterException saying where it is wrong."""
    parser = _Parser(text)
    predicate = parser.parse()
    return Query(text=text, dynamic=parser.dynamic, _predicate=predicate)


# -- lexer ------------------------------------------------------------------------

_SYMBOLS = ("==", "!=", ">=", "<=", "=~", "!~", "&&", "||", ">", "<", "!", "(", ")", "[", "]", ",")
_WORD_STOP = set(" \t\r\n()[],'\"=!<>&|")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "sym" | "word" | "str" | "end"
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "'\"":
            i = _read_string(text, i, tokens)
        elif sym := next((s for s in _SYMBOLS if text.startswith(s, i)), None):
            tokens.append(_Token("sym", sym, i))
            i += len(sym)
        elif ch in _WORD_STOP:
            raise _error(text, i, f"unexpected character {ch!r}")
        else:
            start = i
            while i < len(text) and text[i] not in _WORD_STOP:
                i += 1
            tokens.append(_Token("word", text[start:i], start))
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _read_string(text: str, start: int, tokens: list[_Token]) -> int:
    quote, out, i = text[start], [], start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
        elif ch == quote:
            tokens.append(_Token("str", "".join(out), start))
            return i + 1
        else:
            out.append(ch)
            i += 1
    raise _error(text, start, "unterminated quoted string")


def _error(text: str, pos: int, detail: str) -> InvalidParameterException:
    return InvalidParameterException(
        f"Invalid cluster query expression {text!r}: {detail} at position {pos + 1}."
    )


# -- operators and subjects --------------------------------------------------------

_OPERATORS = {
    "==": "==", "equals": "==", "!=": "!=", "not_equals": "!=",
    ">": ">", "greater_than": ">", ">=": ">=", "greater_than_equal": ">=",
    "<": "<", "less_than": "<", "<=": "<=", "less_than_equal": "<=",
    "exists": "exists", "not_exists": "!exists", "in": "in", "not_in": "!in",
    "=~": "=~", "matches": "=~", "!~": "!~", "not_matches": "!~",
}  # fmt: skip
_NEGATED = {"!=": "==", "!exists": "exists", "!in": "in", "!~": "=~"}
_SET_OPS = frozenset({"==", "!=", "in", "!in", "=~", "!~"})
_ORDER_OPS = frozenset({"==", "!=", ">", ">=", "<", "<="})
# Operators the ECS developer guide lists for each built-in subject.
_VALID_OPS = {
    "agentConnected": _SET_OPS, "ec2InstanceId": _SET_OPS, "task:group": _SET_OPS,
    "agentVersion": _ORDER_OPS, "registeredAt": _ORDER_OPS, "runningTasksCount": _ORDER_OPS,
}  # fmt: skip
_SUBJECTS = {name.lower(): name for name in _VALID_OPS}
_DYNAMIC_SUBJECTS = frozenset({"task:group", "runningTasksCount"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.dynamic = False

    # -- token helpers
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_keyword(self, *words: str) -> bool:
        tok = self.peek()
        return (tok.kind == "sym" and tok.text in words) or (
            tok.kind == "word" and tok.text.lower() in words
        )

    def fail(self, detail: str, tok: _Token | None = None) -> InvalidParameterException:
        tok = tok or self.peek()
        found = "end of expression" if tok.kind == "end" else repr(tok.text)
        return _error(self.text, tok.pos, f"{detail}, found {found}")

    # -- grammar
    def parse(self) -> Predicate:
        if self.peek().kind == "end":
            raise _error(self.text, 0, "empty expression")
        pred = self.parse_or()
        if self.peek().kind != "end":
            raise self.fail("expected 'and', 'or' or end of expression")
        return pred

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.at_keyword("||", "or"):
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else _any_of(parts)

    def parse_and(self) -> Predicate:
        parts = [self.parse_unary()]
        while self.at_keyword("&&", "and"):
            self.take()
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else _all_of(parts)

    def parse_unary(self) -> Predicate:
        if self.at_keyword("!", "not"):
            self.take()
            inner = self.parse_unary()
            return lambda inst: not inner(inst)
        if self.at_keyword("("):
            self.take()
            inner = self.parse_or()
            if not self.at_keyword(")"):
                raise self.fail("expected ')'")
            self.take()
            return inner
        return self.parse_comparison()

    def parse_comparison(self) -> Predicate:
        tok = self.take()
        if tok.kind != "word":
            raise self.fail("expected a subject such as attribute:<name> or ec2InstanceId", tok)
        subject = self.subject_name(tok)
        op_tok = self.peek()
        op = self.parse_operator()
        if subject in _VALID_OPS and op not in _VALID_OPS[subject]:
            raise _error(
                self.text, op_tok.pos, f"operator {op_tok.text!r} is not valid for {subject}"
            )
        self.dynamic |= subject in _DYNAMIC_SUBJECTS
        base = _NEGATED.get(op, op)
        if base == "exists":
            pred = v.exists_predicate(subject)
        else:
            args = self.parse_arguments(list_expected=base == "in")
            try:
                pred = v.comparison(subject, base, args, _compile_pattern)
            except ValueError as exc:
                raise _error(self.text, op_tok.pos, str(exc)) from None
        if base != op:
            positive = pred
            return lambda inst: not positive(inst)
        return pred

    def subject_name(self, tok: _Token) -> str:
        prefix, colon, name = tok.text.partition(":")
        if prefix.lower() == "attribute" and colon and name:
            return f"attribute:{name}"
        subject = _SUBJECTS.get(tok.text.lower())
        if subject is None:
            raise _error(
                self.text, tok.pos,
                f"unknown subject {tok.text!r}; expected attribute:<name>, ec2InstanceId, "
                "agentConnected, agentVersion, registeredAt, runningTasksCount or task:group",
            )  # fmt: skip
        return subject

    def parse_operator(self) -> str:
        tok = self.take()
        if tok.kind == "sym" and tok.text == "!" and self.peek().kind == "word":
            word = self.peek().text.lower()
            if word in ("exists", "in"):
                self.take()
                return "!" + word
        key = tok.text if tok.kind == "sym" else tok.text.lower()
        if tok.kind in ("sym", "word") and key in _OPERATORS:
            return _OPERATORS[key]
        raise self.fail("expected an operator (==, !=, >, >=, <, <=, exists, in, =~, ...)", tok)

    def parse_arguments(self, *, list_expected: bool) -> list[str]:
        if not list_expected:
            return [self.parse_value()]
        if not self.at_keyword("[", "("):
            raise self.fail("expected an argument list such as [a, b]")
        close = "]" if self.take().text == "[" else ")"
        values = [self.parse_value()]
        while self.at_keyword(","):
            self.take()
            values.append(self.parse_value())
        if not self.at_keyword(close):
            raise self.fail(f"expected ',' or {close!r}")
        self.take()
        return values

    def parse_value(self) -> str:
        tok = self.take()
        if tok.kind in ("word", "str"):
            return tok.text
        raise self.fail("expected a value", tok)


def _any_of(parts: list[Predicate]) -> Predicate:
    return lambda inst: any(p(inst) for p in parts)


def _all_of(parts: list[Predicate]) -> Predicate:
    return lambda inst: all(p(inst) for p in parts)


def _compile_pattern(pattern: str) -> re.Pattern[str]:
    """A Java-style regex matched against the whole value, or a `*` wildcard."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        if "*" in pattern:
            return re.compile(fnmatch.translate(pattern))
        raise ValueError(f"invalid pattern {pattern!r}: {exc}") from None
