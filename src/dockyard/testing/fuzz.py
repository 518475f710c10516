"""Hypothesis strategies built from botocore shapes: requests for fuzzing the API.

`params_for(operation, plausible)` draws the parameters of one operation: every
required member (rarely one left out), a random subset of the optional ones,
strings that honour the shape's enum and length bounds most of the time and
break them sometimes, integers at and beyond their bounds, small lists and maps,
timestamps, blobs, and - above all - *plausible* values: names and ARNs of
resources seeded beforehand (`Plausible`), so that handlers get past their
lookups and the fuzz reaches the code behind them.

Every value keeps its shape's Python type, so botocore's serializers accept it;
`wrong_typed(params)` and the garbage strategies feed what a serializer would
refuse. Used by tests/fuzz; nothing here runs in the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.model import OperationModel, Shape
from hypothesis import strategies as st

# The fixed "now" of fuzzed servers: timestamps near it are plausible, and runs repeat.
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
MAX_DEPTH = 7  # beyond it, structures keep only their required members

Strategy = st.SearchStrategy[Any]


def stem(name: str) -> str:
    """What a member names: `clusterArn`, `clusters`, `ClusterName` -> `cluster`."""
    word = name.lower()
    for suffix in ("arns", "arn", "names", "name", "ids", "id", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)]
    return word


@dataclass
class Plausible:
    """Values naming things that exist, keyed by the stem of the member that carried them."""

    by_stem: dict[str, set[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        if value and len(value) <= 2048:
            self.by_stem.setdefault(stem(name), set()).add(value)

    def learn(self, document: Any, name: str = "") -> None:
        """Collect every string of a request or response, under its member's name."""
        if isinstance(document, Mapping):
            for key, value in document.items():
                self.learn(value, str(key))
        elif isinstance(document, list):
            for item in document:
                self.learn(item, name)
        elif isinstance(document, str) and name:
            self.add(name, document)

    def lookup(self, name: str) -> list[str]:
        """Values for a member: its own stem's, else related stems', else every ARN
        (only ARNs for a member whose name says ARN)."""
        wanted = stem(name)
        arns_only = name.lower().endswith(("arn", "arns"))
        found = set(self.by_stem.get(wanted, ()))
        if not found and len(wanted) > 2:
            found = {
                value
                for key, values in self.by_stem.items()
                if len(key) > 2 and (wanted in key or key in wanted)
                for value in values
            }
        if arns_only:
            found = {value for value in found if value.startswith("arn:")}
        if not found:
            found = {v for values in self.by_stem.values() for v in values if v.startswith("arn:")}
        return sorted(found)


def _bounds(shape: Shape) -> tuple[int | None, int | None]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    return (int(low) if low is not None else None, int(high) if high is not None else None)


def _weighted(*choices: tuple[int, Strategy]) -> Strategy:
    """one_of with weights (one_of would merge repeated strategies, losing the weights)."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


_ODD_TEXT = [
    "",
    " ",
    "\x00",
    "\ud800",  # a lone surrogate: valid JSON (\ud800), not encodable as UTF-8
    "é" * 3,
    "../../etc/passwd",
    "arn:aws:ecs:us-east-1:000000000000:cluster/",
    "arn:aws:ecs:us-east-1:000000000000:task/x/y/z",
    "arn:",
    "a" * 300,
    "%s%n{0}",
    "NaN",
    "-1",
    "99999999999999999999999",
    "*",
    "<x/>",
    "service/",
    "service/default/",
]


_TAME = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def strings(shape: Shape, plausible: Plausible, hint: str, wild: bool) -> Strategy:
    """Enum members or plausible names first, then text; when `wild`, odd text and
    broken length bounds as well."""
    low, high = _bounds(shape)
    enum = list(getattr(shape, "enum", None) or [])
    known = plausible.lookup(hint)
    cap = min(high if high is not None else 40, 40)
    floor = min(low or 0, cap)
    if enum:  # members the seed used (ServiceNamespace "ecs", Protocol "HTTP") come first
        used = [value for value in known if value in enum]
        members = st.sampled_from(enum)
        if used:
            members = _weighted((3, st.sampled_from(used)), (1, members))
    if not wild:
        if enum:
            return members
        fitting = [v for v in known if floor <= len(v) <= (high if high is not None else 1 << 20)]
        tame = st.text(_TAME, min_size=max(floor, 1), max_size=max(min(cap, 16), floor, 1))
        return _weighted((3, st.sampled_from(fitting)), (1, tame)) if fitting else tame
    odd = list(_ODD_TEXT)
    if high is not None and high < 4096:
        odd.append("x" * (high + 1))
    if low:
        odd.append("x" * (low - 1))
    text = st.text(min_size=floor, max_size=cap)
    if enum:
        return _weighted((12, members), (1, st.sampled_from(odd)), (1, text))
    if known:
        return _weighted((10, st.sampled_from(known)), (4, text), (2, st.sampled_from(odd)))
    return _weighted((4, text), (2, st.sampled_from(odd)))


def integers(shape: Shape, wild: bool) -> Strategy:
    low, high = _bounds(shape)
    if not wild:
        lo = low if low is not None else 0
        return st.integers(lo, high if high is not None else max(lo, 0) + 100)
    edges = {0, 1, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**30}
    for bound in (low, high):
        if bound is not None:
            edges |= {bound - 1, bound, bound + 1}
    lo = low if low is not None else -10
    hi = high if high is not None else 10_000
    return _weighted(
        (3, st.integers(min(lo, hi), max(lo, hi))), (1, st.sampled_from(sorted(edges)))
    )


def floats(shape: Shape, wild: bool) -> Strategy:
    low, high = _bounds(shape)
    if not wild:
        return st.floats(
            float(low) if low is not None else -100.0,
            float(high) if high is not None else 1000.0,
            allow_nan=False,
        )
    edges = [0.0, -1.0, 1e308, -1e308, 5e-324, float("nan"), float("inf"), float("-inf")]
    edges += [float(b) for b in (low, high) if b is not None]
    return _weighted(
        (3, st.floats(-1e6, 1e6, allow_nan=False)),
        (1, st.sampled_from(edges)),
    )


def timestamps(wild: bool) -> Strategy:
    near = st.integers(-3 * 86400, 3600).map(lambda s: NOW + timedelta(seconds=s))
    if not wild:
        return near
    far = st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    )
    return _weighted((3, near), (1, far))


def documents() -> Strategy:
    """JSON values for document-typed shapes."""
    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=6,
    )


class _Builder:
    """Builds (and caches) one strategy per (shape, hint, depth); `wild` also breaks rules."""

    def __init__(self, plausible: Plausible, wild: bool) -> None:
        self.plausible = plausible
        self.wild = wild
        self.cache: dict[tuple[str, str, int], Strategy] = {}

    def value(self, shape: Shape, hint: str, depth: int) -> Strategy:
        key = (shape.name, hint, min(depth, MAX_DEPTH + 1))
        if key not in self.cache:
            self.cache[key] = st.deferred(lambda: self._build(shape, hint, depth))
        return self.cache[key]

    def _build(self, shape: Shape, hint: str, depth: int) -> Strategy:
        kind = shape.type_name
        if getattr(shape, "is_document_type", False):
            return documents()
        if kind == "structure":
            return self.structure(shape, depth)
        if kind == "list":
            return self.list(shape, hint, depth)
        if kind == "map":
            keys = self.value(shape.key, hint, depth + 1)
            values = self.value(shape.value, hint, depth + 1)
            return st.dictionaries(keys, values, max_size=0 if depth > MAX_DEPTH else 3)
        if kind == "string":
            return strings(shape, self.plausible, hint, self.wild)
        if kind in {"integer", "long"}:
            return integers(shape, self.wild)
        if kind in {"float", "double"}:
            return floats(shape, self.wild)
        if kind == "boolean":
            return st.booleans()
        if kind == "timestamp":
            return timestamps(self.wild)
        if kind == "blob":
            return st.binary(max_size=64)
        raise ValueError(f"no strategy for {kind} ({shape.name})")

    def list(self, shape: Shape, hint: str, depth: int) -> Strategy:
        low, high = _bounds(shape)
        item = self.value(shape.member, hint, depth + 1)
        if depth > MAX_DEPTH:
            return st.just([])
        cap = min(high if high is not None else 3, 3)
        valid = st.lists(item, min_size=min(low or 0, cap), max_size=max(cap, low or 0))
        if not self.wild:
            return valid
        beyond: list[tuple[int, Strategy]] = [(1, st.just([]))]
        if high is not None and high <= 5:
            beyond.append((1, st.lists(item, min_size=high + 1, max_size=high + 1)))
        return _weighted((8, valid), *beyond)

    def structure(self, shape: Shape, depth: int) -> Strategy:
        members: Mapping[str, Shape] = shape.members
        if shape.metadata.get("union"):
            names = sorted(members)
            if not names:
                return st.just({})
            return st.sampled_from(names).flatmap(
                lambda name: st.fixed_dictionaries(
                    {name: self.value(members[name], name, depth + 1)}
                )
            )
        required = [name for name in shape.required_members if name in members]
        optional = [name for name in members if name not in required]
        fields = {name: self.value(members[name], name, depth + 1) for name in required}
        extra = (
            {}
            if depth > MAX_DEPTH
            else {name: self.value(members[name], name, depth + 1) for name in optional}
        )
        complete = st.fixed_dictionaries(fields, optional=extra)
        if not required or not self.wild:
            return complete
        # Now and then one required member is missing: the validator must refuse it.
        missing = st.sampled_from(required).flatmap(
            lambda gone: st.fixed_dictionaries(
                {k: v for k, v in fields.items() if k != gone}, optional=extra
            )
        )
        return _weighted((15, complete), (1, missing))


def params_for(
    operation: OperationModel, plausible: Plausible, wild: bool | None = None
) -> Strategy:
    """The parameters of one call to `operation` (a dict botocore's serializers accept).

    Tame ones (`wild=False`) keep every rule botocore's validator checks, to reach the
    handler's own checks and its happy path; wild ones break some, to reach the
    validator and the handler's edges; by default, half and half."""
    shape = operation.input_shape
    if shape is None:
        return st.just({})
    if wild is not None:
        return _Builder(plausible, wild).value(shape, "", 0)
    tame = _Builder(plausible, wild=False).value(shape, "", 0)
    return st.one_of(tame, _Builder(plausible, wild=True).value(shape, "", 0))


# --- what a serializer would refuse ---------------------------------------------------------

_WRONG: list[Any] = [None, 0, -1, 1.5, True, "", "x", [], [1], {}, {"a": 1}, [{}], 2**70]


def wrong_typed(operation: OperationModel) -> Strategy:
    """A JSON object for `operation` with one member of the wrong type (or unknown)."""
    shape = operation.input_shape
    names = sorted(shape.members) if shape is not None else []
    bogus = st.sampled_from(_WRONG)
    member = st.sampled_from(names) if names else st.just("unknownMember")
    return st.dictionaries(member | st.just("unknownMember"), bogus, min_size=1, max_size=3)


def raw_json_bodies() -> Strategy:
    """Bodies a JSON-protocol endpoint must refuse politely."""
    curated = [
        b"",
        b"   ",
        b"null",
        b"[]",
        b"1",
        b'"text"',
        b"{",
        b'{"a":',
        b"{}garbage",
        b"\xff\xfe\x00",
        b'{"\xff": 1}',
        b"NaN",
        b'{"a": NaN}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"a": "\\ud800"}',
        b'{"a": 1e999999}',
        json.dumps({"k": "v" * 10}).encode() * 3,
    ]
    return st.sampled_from(curated) | st.binary(max_size=64)


def raw_form_fields(names: Iterable[str]) -> Strategy:
    """Extra form fields that break the query protocol's key grammar or value types."""
    keys = sorted(names) or ["Name"]
    suffixes = st.sampled_from(
        [
            "",
            ".member.0",
            ".member.a",
            ".member.-1",
            ".member.99999999999999999999",
            ".member.1.x.y",
            ".entry.1.key",
            ".entry.1.value",
            ".entry.x.key",
            ".1",
            "..",
            ".member.1",
        ]
    )
    values = st.sampled_from(["", "x", "-1", "1e400", "nan", "true", "TRUE", "2024-13-45", "%"])
    pair = st.tuples(st.sampled_from(keys), suffixes, values).map(lambda t: (t[0] + t[1], t[2]))
    return st.lists(pair, min_size=1, max_size=4)
