"""Every error code an ELBv2 handler can answer is one botocore models for that operation,
or one of the query protocol's common codes (ValidationError, ...).

The codes are found by reading the code, not by running it: from each handler in
`api/elbv2.HANDLERS`, every Dockyard function it names (called, passed, or kept in a
table it reads, such as the attribute rules) is followed, and every `AwsError` class
it names outside an `except` clause counts, minus what an enclosing `try` catches.
This over-approximates (a class named but never raised counts), so a pass is strong.
Read precisely: `refs._get(tx, arn, "<type>")` raises that type's NotFound only (its
table names them all); `attributes.merged(stored, [], table)` changes nothing, so it
raises nothing; `key in TABLE` does not raise what the table holds.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import pytest
from botocore.session import get_session

from dockyard.api.elbv2 import HANDLERS, attributes, refs
from dockyard.elbv2.errors import ElbError, ListenerNotFound, TooManyTags, ValidationError
from dockyard.errors import AwsError

# Codes any query-protocol operation may answer (AWS's common errors; Dockyard answers
# the decoder's and validator's ValidationError and the SigV4 ones).
COMMON = {
    "ValidationError",
    "InvalidAction",
    "MissingAction",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "AccessDenied",
    "RequestExpired",
    "ThrottlingException",
    "InternalFailure",
    "ServiceUnavailable",
}
# The shared hierarchy's codes that the query protocol spells differently.
QUERY_SPELLING = {
    "UnrecognizedClientException": "InvalidClientTokenId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
    "ServerException": "InternalFailure",
}
Raisable = type[AwsError]
# Codes a handler names that cannot reach a client, with the reason.
UNREACHABLE = {
    ("ModifyRule", "ListenerNotFound"): "the rule's own listener, read in its transaction",
    ("ModifyListener", "LoadBalancerNotFound"): "the listener's own load balancer, likewise",
}


@cache
def modeled(operation: str) -> frozenset[str]:
    model = get_session().get_service_model("elbv2").operation_model(operation)
    return frozenset(shape.metadata["error"]["code"] for shape in model.error_shapes)


def _is_error(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, AwsError)


def _ours(value: object) -> bool:
    module = getattr(value, "__module__", "") or ""
    inside = module.startswith("dockyard.") and not module.startswith("dockyard.store")
    return inside or module == __name__


class Reach:
    """The AwsError classes a function can raise, following Dockyard functions it names."""

    def __init__(self) -> None:
        self._done: dict[Callable[..., Any], frozenset[Raisable]] = {}

    def of(self, fn: Callable[..., Any]) -> frozenset[Raisable]:
        fn = inspect.unwrap(fn)
        if fn in self._done:
            return self._done[fn]
        self._done[fn] = frozenset()  # a cycle adds nothing new
        try:
            source = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError):
            return frozenset()
        walk = _Walk(self, fn)
        walk.visit(ast.parse(source))
        self._done[fn] = frozenset(walk.found)
        return self._done[fn]

    def of_value(self, value: object, depth: int = 0) -> set[Raisable]:
        """A named value: a function (followed), an error class, or a table holding them."""
        if _is_error(value):
            return {value}  # type: ignore[set-item]
        if isinstance(value, types.FunctionType) and _ours(value):
            return set(self.of(value))
        if depth < 3 and isinstance(value, dict):
            return self._of_all(value.values(), depth)
        if depth < 3 and isinstance(value, list | tuple | set | frozenset):
            return self._of_all(value, depth)
        return set()

    def _of_all(self, values: Iterable[object], depth: int) -> set[Raisable]:
        found: set[Raisable] = set()
        for item in values:
            found |= self.of_value(item, depth + 1)
        return found


class _Walk(ast.NodeVisitor):
    def __init__(self, reach: Reach, fn: Callable[..., Any]) -> None:
        self.reach = reach
        self.names: dict[str, Any] = dict(fn.__globals__)
        closure = inspect.getclosurevars(fn)
        self.names.update(closure.nonlocals)
        self.found: set[Raisable] = set()

    def resolve(self, node: ast.expr) -> object:
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            if isinstance(base, types.ModuleType | type):
                return getattr(base, node.attr, None)
        return None

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        """Defaults and body; annotations name types, they raise nothing."""
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        for statement in node.body:
            self.visit(statement)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_Name(self, node: ast.Name) -> None:
        self.found |= self.reach.of_value(self.resolve(node))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        value = self.resolve(node)
        if value is not None:
            self.found |= self.reach.of_value(value)
        else:
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        args = node.args
        if (
            self.resolve(node.func) is refs._get
            and len(args) >= 3
            and isinstance(args[2], ast.Constant)
        ):
            self.found |= {refs.KINDS[args[2].value][1], ValidationError}
            for arg in args:
                self.visit(arg)
            return
        unchanged = len(args) >= 2 and isinstance(args[1], ast.List) and not args[1].elts
        if unchanged and self.resolve(node.func) is attributes.merged:
            return  # the complete list of stored attributes, nothing changed: no error
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        """`key in TABLE` only tests membership: the table's errors are not raised."""
        self.visit(node.left)
        for op, right in zip(node.ops, node.comparators, strict=True):
            if not (isinstance(op, ast.In | ast.NotIn) and isinstance(right, ast.Name)):
                self.visit(right)

    def visit_Try(self, node: ast.Try) -> None:
        caught: list[type] = []
        for handler in node.handlers:
            kinds = handler.type
            elements = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
            caught += [
                c for e in elements if e is not None and isinstance(c := self.resolve(e), type)
            ]
        inner = _Walk.__new__(_Walk)
        inner.reach, inner.names, inner.found = self.reach, self.names, set()
        for statement in node.body:
            inner.visit(statement)
        self.found |= {e for e in inner.found if not issubclass(e, tuple(caught))}
        for handler in node.handlers:
            for statement in handler.body:
                self.visit(statement)
        for statement in [*node.orelse, *node.finalbody]:
            self.visit(statement)


def codes(fn: Callable[..., Any]) -> set[str]:
    return {QUERY_SPELLING.get(error.code, error.code) for error in Reach().of(fn)}


@pytest.mark.parametrize("operation", sorted(HANDLERS))
def test_every_error_code_is_modeled_or_common(operation: str) -> None:
    unmodeled = codes(HANDLERS[operation]) - modeled(operation) - COMMON
    unmodeled -= {code for op, code in UNREACHABLE if op == operation}
    assert unmodeled == set(), (
        f"{operation} may answer {sorted(unmodeled)}, which botocore does not model for it "
        f"(modeled: {sorted(modeled(operation))})"
    )


def test_every_handler_is_an_operation_of_the_model() -> None:
    operations = set(get_session().get_service_model("elbv2").operation_names)
    assert set(HANDLERS) <= operations


# --- the reader itself: it must be able to fail ---------------------------------------------


def _raises_too_many_tags() -> None:
    raise TooManyTags("x")


def _calls_a_helper() -> None:
    _raises_too_many_tags()


def _catches_it() -> None:
    try:
        _raises_too_many_tags()
    except TooManyTags:
        raise ListenerNotFound() from None


def _raises_through_a_parameter(error: type[ElbError] = TooManyTags) -> None:
    raise error("x")


def _passes_a_class() -> None:
    _raises_through_a_parameter(ListenerNotFound)


def test_the_reader_follows_calls_and_try() -> None:
    assert codes(_calls_a_helper) == {"TooManyTags"}
    assert codes(_catches_it) == {"ListenerNotFound"}
    assert codes(_passes_a_class) == {"ListenerNotFound", "TooManyTags"}


def test_the_reader_finds_what_real_handlers_raise() -> None:
    assert codes(HANDLERS["DescribeListenerAttributes"]) == {"ListenerNotFound", "ValidationError"}
    tags = codes(HANDLERS["AddTags"])
    assert {"TooManyTags", "DuplicateTagKeys", "LoadBalancerNotFound", "RuleNotFound"} <= tags
    assert "ValidationError" in codes(HANDLERS["ModifyTargetGroupAttributes"])
    assert "TooManyLoadBalancers" in codes(HANDLERS["CreateLoadBalancer"])
    assert "TooManyTargetGroups" in codes(HANDLERS["CreateTargetGroup"])


def test_an_unmodeled_code_is_reported() -> None:
    """DescribeListenerAttributes models ListenerNotFound only: TooManyTags would fail."""
    assert codes(_raises_too_many_tags) - modeled("DescribeListenerAttributes") - COMMON == {
        "TooManyTags"
    }
