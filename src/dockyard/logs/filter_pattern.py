"""CloudWatch Logs filter patterns, compiled to a predicate over one event's message.

Pure: no store, no clock. `compile_pattern(text)` returns a `Matcher`; a pattern it
cannot read raises `FilterPatternError` (the API answers InvalidParameterException).

    ""                          every event
    ERROR                       terms: every one must occur (case-sensitive substrings)
    ERROR "disk full"           a quoted phrase is one term (with its spaces)
    ERROR -DEBUG                `-term`: events containing it are excluded
    ?ERROR ?WARN                `?term`: at least one of them must occur
    %ERR(OR)?%                  a regular expression between percent signs
    { $.level = "error" }       JSON: the message is a JSON object; selectors `$.a.b[0]`
    { $.latency > 100 }         numeric comparisons = != < > <= >=
    { $.a = "x*" && ($.b != 2 || $.c IS TRUE) }   && || parentheses, `*` wildcards,
                                IS TRUE|FALSE|NULL, NOT EXISTS

Not supported (refused, not mis-read): space-delimited `[ip, user, ...]` patterns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Matcher = Callable[[str], bool]


class FilterPatternError(ValueError):
    """The pattern is not one this server can read."""


def compile_pattern(text: str | None) -> Matcher:
    """A predicate telling whether a message matches `text` (None or blank: all match)."""
    pattern = (text or "").strip()
    if not pattern:
        return _always
    if pattern.startswith("{"):
        if not pattern.endswith("}"):
            raise FilterPatternError("A JSON filter pattern must end with '}'.")
        return _JsonParser(pattern[1:-1]).parse()
    if pattern.startswith("["):
        raise FilterPatternError("Space-delimited filter patterns ([...]) are not supported.")
    return _terms(pattern)


def _always(_message: str) -> bool:
    return True


# --- term patterns ------------------------------------------------------------------------

_TERM = re.compile(
    r'(?P<sign>[-?]?)(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|%(?P<regex>[^%]+)%|(?P<bare>[^\s"]+))'
)


def _terms(pattern: str) -> Matcher:
    required: list[Callable[[str], bool]] = []
    excluded: list[Callable[[str], bool]] = []
    optional: list[Callable[[str], bool]] = []
    position = 0
    while position < len(pattern):
        if pattern[position].isspace():
            position += 1
            continue
        match = _TERM.match(pattern, position)
        if match is None:
            raise FilterPatternError(f"Cannot read the filter pattern at: {pattern[position:]!r}")
        position = match.end()
        if match["regex"] is not None:
            test = _regex_term(match["regex"])
        else:
            term = match["bare"] if match["quoted"] is None else _unescape(match["quoted"])
            test = _substring_term(term)
        {"": required, "-": excluded, "?": optional}[match["sign"]].append(test)

    def matches(message: str) -> bool:
        if any(test(message) for test in excluded):
            return False
        if not all(test(message) for test in required):
            return False
        return not optional or any(test(message) for test in optional)

    return matches


def _regex_term(text: str) -> Callable[[str], bool]:
    try:
        search = re.compile(text).search
    except re.error as exc:
        raise FilterPatternError(f"Invalid regular expression: {exc}") from None
    return lambda message: search(message) is not None


def _substring_term(term: str) -> Callable[[str], bool]:
    return lambda message: term in message


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# --- JSON patterns ------------------------------------------------------------------------

_JSON_TOKEN = re.compile(
    r"""\s*(?:
        (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
      | (?P<selector>\$(?:\.[A-Za-z0-9_@-]+|\[\d+\]|\.\*)*)
      | "(?P<string>(?:[^"\\]|\\.)*)"
      | (?P<word>[^\s()=!<>&|"]+)
    )""",
    re.VERBOSE,
)
_MISSING = object()
Selector = tuple[str | int, ...]


@dataclass(frozen=True)
class _Token:
    kind: str  # op | selector | string | word
    text: str


def _tokens(body: str) -> list[_Token]:
    out, position = [], 0
    body = body.rstrip()
    while position < len(body):
        match = _JSON_TOKEN.match(body, position)
        if match is None or match.end() == position:
            raise FilterPatternError(f"Cannot read the JSON filter pattern at: {body[position:]!r}")
        position = match.end()
        kind = match.lastgroup
        assert kind is not None
        out.append(_Token(kind, match[kind]))
    return out


def _selector(text: str) -> Selector:
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([A-Za-z0-9_@*-]+)|\[(\d+)\]", text[1:]):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _lookup(document: Any, path: Selector) -> Any:
    value = document
    for part in path:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return _MISSING
            value = value[part]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _wildcard(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL)


Predicate = Callable[[Any], bool]  # over the decoded JSON document


class _JsonParser:
    """expr := and ('||' and)* ; and := atom ('&&' atom)* ; atom := '(' expr ')' | compare"""

    def __init__(self, body: str) -> None:
        self.tokens = _tokens(body)
        self.at = 0

    def parse(self) -> Matcher:
        if not self.tokens:
            raise FilterPatternError("The JSON filter pattern is empty.")
        predicate = self._or()
        if self.at != len(self.tokens):
            raise FilterPatternError(f"Unexpected {self.tokens[self.at].text!r} in the pattern.")

        def matches(message: str) -> bool:
            try:
                document = json.loads(message)
            except ValueError:
                return False
            return isinstance(document, dict | list) and predicate(document)

        return matches

    def _peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _next(self) -> _Token:
        token = self._peek()
        if token is None:
            raise FilterPatternError("The JSON filter pattern ends too early.")
        self.at += 1
        return token

    def _or(self) -> Predicate:
        parts = [self._and()]
        while (token := self._peek()) is not None and token.text == "||":
            self.at += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda doc: any(p(doc) for p in parts)

    def _and(self) -> Predicate:
        parts = [self._atom()]
        while (token := self._peek()) is not None and token.text == "&&":
            self.at += 1
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else lambda doc: all(p(doc) for p in parts)

    def _atom(self) -> Predicate:
        token = self._next()
        if token.kind == "op" and token.text == "(":
            inner = self._or()
            if self._next().text != ")":
                raise FilterPatternError("Missing ')' in the JSON filter pattern.")
            return inner
        if token.kind != "selector":
            raise FilterPatternError(f"Expected a selector like $.field, not {token.text!r}.")
        return self._comparison(_selector(token.text))

    def _comparison(self, path: Selector) -> Predicate:
        token = self._next()
        if token.kind == "word" and token.text.upper() in {"IS", "NOT"}:
            return self._keyword(path, token.text.upper())
        if token.kind != "op" or token.text in {"(", ")", "&&", "||"}:
            raise FilterPatternError(f"Expected a comparison operator, not {token.text!r}.")
        value = self._next()
        if value.kind not in {"string", "word"}:
            raise FilterPatternError(f"Expected a value after {token.text!r}.")
        number = _number(value.text) if value.kind == "word" else None
        if number is not None:
            return _numeric(path, token.text, number)
        if token.text not in {"=", "!="}:
            raise FilterPatternError(f"{token.text!r} compares numbers only.")
        text = _unescape(value.text) if value.kind == "string" else value.text
        regex = _wildcard(text)
        equal = token.text == "="

        def compare(doc: Any) -> bool:
            found = _lookup(doc, path)
            if found is _MISSING or isinstance(found, dict | list):
                return False
            shown = json.dumps(found) if isinstance(found, bool) or found is None else str(found)
            return (regex.fullmatch(shown) is not None) == equal

        return compare

    def _keyword(self, path: Selector, first: str) -> Predicate:
        second = self._next().text.upper()
        if first == "NOT" and second == "EXISTS":
            return lambda doc: _lookup(doc, path) is _MISSING
        constants: dict[str, Any] = {"TRUE": True, "FALSE": False, "NULL": None}
        if first == "IS" and second in constants:
            wanted = constants[second]
            return lambda doc: _lookup(doc, path) is wanted
        raise FilterPatternError(
            f"Expected IS TRUE|FALSE|NULL or NOT EXISTS, not {first} {second}."
        )


def _numeric(path: Selector, op: str, number: float) -> Predicate:
    tests: dict[str, Callable[[float], bool]] = {
        "=": lambda v: v == number,
        "!=": lambda v: v != number,
        "<": lambda v: v < number,
        ">": lambda v: v > number,
        "<=": lambda v: v <= number,
        ">=": lambda v: v >= number,
    }
    test = tests[op]

    def compare(doc: Any) -> bool:
        found = _lookup(doc, path)
        if isinstance(found, bool) or not isinstance(found, int | float):
            return False
        return test(float(found))

    return compare
