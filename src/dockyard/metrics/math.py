"""Metric math: CloudWatch's expression language, the subset GetMetricData needs.

Pure: `parse(text)` gives an AST, `evaluate(ast, env, grid)` computes it from the
time series of other queries (`env`: query id -> series) and the period grid of
the request (for FILL). No store, no clock.

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := '-' unary | power
    power   := atom ('^' unary)?
    atom    := NUMBER | ID | FUNC '(' args? ')' | '(' expr ')' | '[' expr (',' expr)* ']'

Values are numbers, time series (timestamp -> value) or arrays of series, with
CloudWatch's semantics: arithmetic between two series keeps the timestamps both
have; with a number it applies to every point; SUM/AVG/MIN/MAX of one series is a
number, of an array of series a series (per timestamp). Non-finite results (x/0)
are dropped, as CloudWatch drops non-numeric values.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Series = dict[float, float]
Value = float | Series | list[Series]

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/^(),\[\]])|(?P<bad>\S))"
)
_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "^": operator.pow,
}
FUNCTIONS = frozenset({"SUM", "AVG", "MIN", "MAX", "ABS", "FILL", "METRICS"})


class MathError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says why."""


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Ref:
    id: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Array:
    items: tuple[Node, ...]


Node = Num | Ref | Call | Binary | Array


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is None:
            continue
        if kind == "bad":
            raise MathError(f"Unexpected character {match.group(kind)!r}.")
        tokens.append((kind, match.group(kind)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise MathError("Unexpected end of expression.")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise MathError(f"Expected {expected!r} but found {token[1]!r}.")
        self.pos += 1
        return token

    def expr(self) -> Node:
        node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            node = Binary(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() == "-":
            self.take()
            return Binary("*", Num(-1.0), self.unary())
        node = self.atom()
        if self.peek() == "^":
            self.take()
            node = Binary("^", node, self.unary())
        return node

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Num(float(text))
        if kind == "name":
            if self.peek() == "(":
                return self.call(text)
            if text.upper() in FUNCTIONS or not text[0].islower():
                raise MathError(f"Unrecognized metric identifier {text!r}.")
            return Ref(text)
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if text == "[":
            items = [self.expr()]
            while self.peek() == ",":
                self.take()
                items.append(self.expr())
            self.take("]")
            return Array(tuple(items))
        raise MathError(f"Unexpected {text!r}.")

    def call(self, name: str) -> Node:
        if name not in FUNCTIONS:
            raise MathError(f"Unknown function {name}.")
        self.take("(")
        args: list[Node] = []
        if self.peek() != ")":
            args.append(self.expr())
            while self.peek() == ",":
                self.take()
                args.append(self.expr())
        self.take(")")
        return Call(name, tuple(args))


def parse(text: str) -> Node:
    parser = _Parser(text)
    if not parser.tokens:
        raise MathError("The expression is empty.")
    node = parser.expr()
    if parser.pos != len(parser.tokens):
        raise MathError(f"Unexpected {parser.tokens[parser.pos][1]!r}.")
    return node


def references(node: Node) -> set[str]:
    """The query ids an expression reads (METRICS() reads every MetricStat query)."""
    if isinstance(node, Ref):
        return {node.id}
    if isinstance(node, Binary):
        return references(node.left) | references(node.right)
    if isinstance(node, Call | Array):
        children = node.args if isinstance(node, Call) else node.items
        return set().union(*(references(child) for child in children))
    return set()


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def _apply(op: str, left: Value, right: Value) -> Value:
    fn = _BINARY[op]

    def one(a: float, b: float) -> float:
        try:
            return fn(a, b)
        except (ZeroDivisionError, OverflowError, ValueError):
            return math.nan

    def keep(series: Mapping[float, float]) -> Series:
        return {t: v for t, v in series.items() if isinstance(v, float) and _finite(v)}

    if isinstance(left, list) or isinstance(right, list):
        if isinstance(left, list) and isinstance(right, list):
            raise MathError("Arithmetic between two arrays of time series is not supported.")
        if isinstance(left, list):
            return [_as_series(_apply(op, item, right)) for item in left]
        assert isinstance(right, list)
        return [_as_series(_apply(op, left, item)) for item in right]
    if isinstance(left, dict) and isinstance(right, dict):
        return keep({t: one(v, right[t]) for t, v in left.items() if t in right})
    if isinstance(left, dict):
        assert isinstance(right, float)
        return keep({t: one(v, right) for t, v in left.items()})
    if isinstance(right, dict):
        return keep({t: one(left, v) for t, v in right.items()})
    return one(left, right)


def _as_series(value: Value) -> Series:
    if not isinstance(value, dict):
        raise MathError("Expected a time series.")
    return value


def _reduce(name: str, values: Sequence[float]) -> float:
    if name == "SUM":
        return math.fsum(values)
    if name == "AVG":
        return math.fsum(values) / len(values)
    return min(values) if name == "MIN" else max(values)


def _aggregate(name: str, args: list[Value]) -> Value:
    if len(args) == 1 and isinstance(args[0], dict):  # one series -> a number
        values = list(args[0].values())
        return _reduce(name, values) if values else math.nan
    series: list[Series] = []
    for arg in args:
        if isinstance(arg, list):
            series.extend(arg)
        elif isinstance(arg, dict):
            series.append(arg)
        else:
            raise MathError(f"{name} expects time series.")
    stamps = sorted({t for s in series for t in s})
    return {t: _reduce(name, [s[t] for s in series if t in s]) for t in stamps}


def evaluate(
    node: Node, env: Mapping[str, Series], grid: Sequence[float], metric_ids: Sequence[str] = ()
) -> Value:
    """The value of `node`; `env` maps query ids to series, `grid` is every period start
    of the request (FILL fills it), `metric_ids` are the MetricStat queries (METRICS())."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Ref):
        if node.id not in env:
            raise MathError(f"Unrecognized metric identifier {node.id!r}.")
        return dict(env[node.id])
    if isinstance(node, Binary):
        left = evaluate(node.left, env, grid, metric_ids)
        return _apply(node.op, left, evaluate(node.right, env, grid, metric_ids))
    if isinstance(node, Array):
        items = [evaluate(item, env, grid, metric_ids) for item in node.items]
        return [
            s for item in items for s in (item if isinstance(item, list) else [_as_series(item)])
        ]
    args = [evaluate(arg, env, grid, metric_ids) for arg in node.args]
    if node.name == "METRICS":
        if args:
            raise MathError("METRICS() takes no arguments here.")
        return [dict(env[i]) for i in metric_ids if i in env]
    if node.name in {"SUM", "AVG", "MIN", "MAX"}:
        if not args:
            raise MathError(f"{node.name} needs an argument.")
        return _aggregate(node.name, args)
    if node.name == "ABS":
        if len(args) != 1:
            raise MathError("ABS takes one argument.")
        return _map(args[0], abs)
    if len(args) != 2 or not isinstance(args[1], float):  # FILL(m, value)
        raise MathError("FILL takes a time series and a number.")
    fill = args[1]
    return _map_series(args[0], lambda s: {t: s.get(t, fill) for t in grid} | s)


def _map(value: Value, fn: Callable[[float], float]) -> Value:
    if isinstance(value, float):
        return fn(value)
    return _map_series(value, lambda s: {t: fn(v) for t, v in s.items()})


def _map_series(value: Value, fn: Callable[[Series], Series]) -> Value:
    if isinstance(value, list):
        return [fn(s) for s in value]
    return fn(_as_series(value))


def as_series(value: Value, grid: Sequence[float]) -> Series:
    """What a result row shows: a series as is, a number on every grid timestamp."""
    if isinstance(value, list):
        raise MathError("The expression returns an array of time series; expected one.")
    if isinstance(value, float):
        return dict.fromkeys(grid, value) if _finite(value) else {}
    return dict(sorted(value.items()))
