"""The ECS cluster query language (dockyard.scheduler.query): table cases + properties."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.errors import InvalidParameterException
from dockyard.scheduler import InstanceView, compile_query

REGISTERED = datetime(2018, 6, 18, 22, 28, 28, tzinfo=UTC).timestamp()


def instance(**overrides: Any) -> InstanceView:
    fields: dict[str, Any] = {
        "arn": "arn:aws:ecs:us-east-1:000000000000:container-instance/c1/abc",
        "instance_id": "i-0123456789abcdef0",
        "registered_cpu": 2048,
        "registered_memory": 4096,
        "remaining_cpu": 2048,
        "remaining_memory": 4096,
        "attributes": {
            "ecs.instance-type": "t2.micro",
            "ecs.availability-zone": "us-east-1a",
            "ecs.os-type": "linux",
            "cores": "4",
            "stack": "prod",
            "flag": None,
        },
        "registered_at": REGISTERED,
        "agent_version": "1.14.5",
        "running_tasks_count": 2,
        "task_groups": {"service:web": 1, "family:batch": 1},
    }
    fields.update(overrides)
    return InstanceView(**fields)


MATCHES = [
    pytest.param("attribute:ecs.instance-type == t2.micro", True, id="eq"),
    pytest.param("attribute:ecs.instance-type equals t2.small", False, id="equals-word"),
    pytest.param("attribute:ecs.instance-type != t2.small", True, id="ne"),
    pytest.param("attribute:ecs.instance-type not_equals t2.micro", False, id="not-equals-word"),
    pytest.param("attribute:ecs.instance-type =~ t2.*", True, id="regex"),
    pytest.param("attribute:ecs.instance-type matches t2", False, id="regex-whole-value"),
    pytest.param("attribute:ecs.instance-type =~ *.micro", True, id="wildcard"),
    pytest.param("attribute:ecs.instance-type !~ m5.*", True, id="not-matches"),
    pytest.param("attribute:ecs.instance-type not_matches 't2\\..*'", False, id="quoted-regex"),
    pytest.param(
        "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", True, id="in-brackets"
    ),
    pytest.param("attribute:ecs.availability-zone in (us-east-1b, us-east-1c)", False, id="in-par"),
    pytest.param("attribute:ecs.availability-zone !in [us-east-1b]", True, id="bang-in"),
    pytest.param("attribute:ecs.availability-zone not_in ['us-east-1a']", False, id="not-in"),
    pytest.param("attribute:stack exists", True, id="exists"),
    pytest.param("attribute:flag exists", True, id="exists-without-value"),
    pytest.param("attribute:flag == x", False, id="valueless-compares-false"),
    pytest.param("attribute:gpu exists", False, id="exists-missing"),
    pytest.param("attribute:gpu !exists", True, id="bang-exists"),
    pytest.param("attribute:gpu not_exists", True, id="not-exists"),
    pytest.param("attribute:gpu != x", True, id="ne-missing-is-complement"),
    pytest.param("attribute:gpu == x", False, id="eq-missing"),
    pytest.param("attribute:cores > 3", True, id="numeric-gt"),
    pytest.param("attribute:cores greater_than 10", False, id="numeric-not-lexicographic"),
    pytest.param("attribute:cores >= 4.0", True, id="numeric-ge-float"),
    pytest.param("attribute:cores == 4.0", True, id="numeric-eq"),
    pytest.param("attribute:cores less_than_equal 4", True, id="numeric-le"),
    pytest.param("attribute:stack < zzz", True, id="string-order"),
    pytest.param("ec2InstanceId == i-0123456789abcdef0", True, id="instance-id"),
    pytest.param("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", False, id="instance-id-in"),
    pytest.param("ec2InstanceId =~ i-0123.*", True, id="instance-id-regex"),
    pytest.param("agentConnected == true", True, id="agent-connected"),
    pytest.param("agentConnected == FALSE", False, id="agent-connected-case"),
    pytest.param("agentVersion < 1.14.10", True, id="version-by-parts"),
    pytest.param("agentVersion >= 1.9", True, id="version-1.14-above-1.9"),
    pytest.param("agentVersion == 1.14.5", True, id="version-eq"),
    pytest.param("registeredAt < 2018-09-01", True, id="date-before"),
    pytest.param("registeredAt == 2018-06-18", True, id="date-same-day"),
    pytest.param("registeredAt > 2018-06-18T22:28:27Z", True, id="timestamp-z"),
    pytest.param("registeredAt <= 2018-06-18T22:28:28+00:00", True, id="timestamp-offset"),
    pytest.param("registeredAt > 2018-06-18T22:28:28", False, id="timestamp-naive-utc"),
    pytest.param("runningTasksCount == 2", True, id="running-count"),
    pytest.param("runningTasksCount > 2", False, id="running-count-gt"),
    pytest.param("task:group == service:web", True, id="group"),
    pytest.param("task:group == service:db", False, id="group-absent"),
    pytest.param("not(task:group == service:db)", True, id="not-paren"),
    pytest.param("!(task:group == service:web)", False, id="bang-paren"),
    pytest.param("task:group in [service:db, family:batch]", True, id="group-in"),
    pytest.param("task:group =~ service:.*", True, id="group-regex"),
    pytest.param("task:group != service:web", False, id="group-ne"),
    pytest.param(
        "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d",
        True,
        id="and",
    ),
    pytest.param("attribute:stack == dev && attribute:cores > 1", False, id="and-symbol"),
    pytest.param("attribute:stack == dev or attribute:cores > 1", True, id="or"),
    pytest.param("attribute:stack == dev || runningTasksCount == 0", False, id="or-symbol"),
    pytest.param(
        "attribute:stack == dev and attribute:cores > 1 or task:group == service:web",
        True,
        id="and-binds-tighter",
    ),
    pytest.param(
        "attribute:stack == dev and (attribute:cores > 1 or task:group == service:web)",
        False,
        id="parens-group",
    ),
    pytest.param("not attribute:stack == dev", True, id="not-word"),
    pytest.param(
        "ATTRIBUTE:stack == prod AND Not agentConnected == false", True, id="keyword-case"
    ),
    pytest.param("attribute:stack=='prod'", True, id="no-spaces"),
    pytest.param('attribute:stack == "prod"', True, id="double-quotes"),
    pytest.param("ec2instanceid == i-0123456789abcdef0", True, id="subject-case-insensitive"),
]


@pytest.mark.parametrize(("expression", "expected"), MATCHES)
def test_matches(expression: str, expected: bool) -> None:
    assert compile_query(expression).matches(instance()) is expected


def test_attribute_names_are_case_sensitive() -> None:
    assert not compile_query("attribute:STACK exists").matches(instance())


def test_agent_disconnected_and_other_groups() -> None:
    other = instance(agent_connected=False, task_groups={"service:db": 2}, running_tasks_count=2)
    assert compile_query("agentConnected == false").matches(other)
    assert compile_query("task:group == service:db").matches(other)
    assert not compile_query("task:group == service:web").matches(other)


def test_group_with_zero_count_is_not_running() -> None:
    assert not compile_query("task:group == x").matches(instance(task_groups={"x": 0}))


@pytest.mark.parametrize(
    ("expression", "dynamic"),
    [
        pytest.param("attribute:a == b", False, id="static"),
        pytest.param("attribute:a == b or task:group == g", True, id="group"),
        pytest.param("not runningTasksCount > 3", True, id="count"),
    ],
)
def test_dynamic_flag(expression: str, dynamic: bool) -> None:
    assert compile_query(expression).dynamic is dynamic


ERRORS = [
    pytest.param("", "empty expression", id="empty"),
    pytest.param("attribute:a", "expected an operator", id="no-operator"),
    pytest.param("attribute:a ==", "expected a value", id="no-value"),
    pytest.param("foo == bar", "unknown subject 'foo'", id="unknown-subject"),
    pytest.param("attribute: == x", "unknown subject", id="empty-attribute"),
    pytest.param("attribute:a in x", "expected an argument list", id="in-without-list"),
    pytest.param("attribute:a in [x, y", "expected ',' or ']'", id="unclosed-list"),
    pytest.param("attribute:a in (x]", "expected ',' or ')'", id="mismatched-list"),
    pytest.param("(attribute:a == b", "expected ')'", id="unclosed-paren"),
    pytest.param("attribute:a == b c", "expected 'and', 'or'", id="trailing"),
    pytest.param("attribute:a == b and", "expected a subject", id="dangling-and"),
    pytest.param("attribute:a == 'b", "unterminated quoted string", id="unterminated"),
    pytest.param("attribute:a =~ '[a-'", "invalid pattern", id="bad-regex"),
    pytest.param("ec2InstanceId > i-1", "operator '>' is not valid for ec2InstanceId", id="op"),
    pytest.param("runningTasksCount in [1, 2]", "not valid for runningTasksCount", id="op-in"),
    pytest.param("task:group exists", "not valid for task:group", id="group-exists"),
    pytest.param("runningTasksCount > many", "needs a whole number", id="count-arg"),
    pytest.param("registeredAt < yesterday", "registeredAt needs a date", id="date-arg"),
    pytest.param("attribute:a & b", "unexpected character '&'", id="lone-ampersand"),
]


@pytest.mark.parametrize(("expression", "fragment"), ERRORS)
def test_syntax_errors_are_invalid_parameter(expression: str, fragment: str) -> None:
    with pytest.raises(InvalidParameterException) as caught:
        compile_query(expression)
    assert fragment in caught.value.message
    assert caught.value.code == "InvalidParameterException"
    assert "position" in caught.value.message


# -- properties ---------------------------------------------------------------------

Tree = tuple[Any, ...]
KEYS = ["a", "b"]
VALUES = ["x", "y", "1", "10"]
GROUPS = ["service:web", "service:db"]

atoms = st.one_of(
    st.tuples(st.just("eq"), st.sampled_from(KEYS), st.sampled_from(VALUES)),
    st.tuples(st.just("exists"), st.sampled_from(KEYS)),
    st.tuples(st.just("count"), st.integers(0, 3)),
    st.tuples(st.just("group"), st.sampled_from(GROUPS)),
)
trees: st.SearchStrategy[Tree] = st.recursive(
    atoms,
    lambda sub: st.one_of(
        st.tuples(st.just("not"), sub, st.sampled_from(["!", "not "])),
        st.tuples(st.just("and"), sub, sub, st.sampled_from(["&&", "and", "AND"])),
        st.tuples(st.just("or"), sub, sub, st.sampled_from(["||", "or"])),
    ),
    max_leaves=8,
)


def render(tree: Tree) -> str:
    kind = tree[0]
    if kind == "eq":
        return f"attribute:{tree[1]} == {tree[2]}"
    if kind == "exists":
        return f"attribute:{tree[1]} exists"
    if kind == "count":
        return f"runningTasksCount > {tree[1]}"
    if kind == "group":
        return f"task:group == {tree[1]}"
    if kind == "not":
        return f"{tree[2]}({render(tree[1])})"
    return f"({render(tree[1])}) {tree[3]} ({render(tree[2])})"


def evaluate(tree: Tree, inst: InstanceView) -> bool:
    kind = tree[0]
    ops: dict[str, Callable[[], bool]] = {
        "eq": lambda: (
            inst.attributes.get(tree[1]) is not None
            and _num_or_str(inst.attributes[tree[1]]) == _num_or_str(tree[2])
        ),
        "exists": lambda: tree[1] in inst.attributes,
        "count": lambda: inst.running_tasks_count > tree[1],
        "group": lambda: inst.task_groups.get(tree[1], 0) > 0,
        "not": lambda: not evaluate(tree[1], inst),
        "and": lambda: evaluate(tree[1], inst) and evaluate(tree[2], inst),
        "or": lambda: evaluate(tree[1], inst) or evaluate(tree[2], inst),
    }
    return ops[kind]()


def _num_or_str(text: str | None) -> object:
    """Numbers compare as numbers (the documented semantics: "1.0" == 1)."""
    if text is not None and re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    return text


instances = st.builds(
    lambda attrs, count, groups: instance(
        attributes=attrs,
        running_tasks_count=count,
        task_groups=dict.fromkeys(groups, 1),
    ),
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from([*VALUES, "1.0"])),
    st.integers(0, 4),
    st.sets(st.sampled_from(GROUPS)),
)


@given(trees, instances)
def test_compiled_expression_agrees_with_its_tree(tree: Tree, inst: InstanceView) -> None:
    assert compile_query(render(tree)).matches(inst) is evaluate(tree, inst)


@given(trees, instances)
def test_negation_is_the_complement(tree: Tree, inst: InstanceView) -> None:
    text = render(tree)
    assert compile_query(f"!({text})").matches(inst) is not compile_query(text).matches(inst)


@given(st.sampled_from(KEYS), st.sampled_from(VALUES), instances)
def test_negated_operators_are_complements(key: str, value: str, inst: InstanceView) -> None:
    pairs = [("==", "!="), ("in", "!in"), ("=~", "!~"), ("exists", "!exists")]
    for positive, negative in pairs:
        arg = "" if "exists" in positive else f"[{value}]" if positive == "in" else value
        yes = compile_query(f"attribute:{key} {positive} {arg}").matches(inst)
        no = compile_query(f"attribute:{key} {negative} {arg}").matches(inst)
        assert yes is not no


FUZZ_ALPHABET = list("attribute:ab=!~<>()[],'\" &|andorxy1*")


@given(st.text(alphabet=st.sampled_from(FUZZ_ALPHABET), max_size=40))
def test_any_text_compiles_or_raises_invalid_parameter(text: str) -> None:
    try:
        query = compile_query(text)
    except InvalidParameterException:
        return
    assert isinstance(query.matches(instance()), bool)
