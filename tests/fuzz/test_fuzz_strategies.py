"""The fuzzer's own strategies (dockyard.testing.fuzz): what they promise, checked."""

from __future__ import annotations

from collections import Counter

import pytest
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.api.models import service_model
from dockyard.testing.fuzz import Plausible, _weighted, params_for, stem
from tests.fuzz.harness import endpoints


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clusterArn", "cluster"),
        ("clusters", "cluster"),
        ("ClusterName", "cluster"),
        ("LoadBalancerArns", "loadbalancer"),
        ("TargetGroupArn", "targetgroup"),
        ("ResourceId", "resource"),
        ("Names", "name"),
        ("Name", "name"),  # too short to strip a suffix: stays itself
        ("status", "statu"),
        ("id", "id"),
    ],
)
def test_stem_names_what_a_member_refers_to(name: str, expected: str) -> None:
    assert stem(name) == expected


PLAUSIBLE = Plausible()
for member, value in [
    ("clusterArn", "arn:aws:ecs:us-east-1:000000000000:cluster/default"),
    ("clusterName", "default"),
    ("ResourceId", "service/default/web"),
    ("TargetGroupArn", "arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/tg/1"),
    ("TargetGroupName", "tg"),
]:
    PLAUSIBLE.add(member, value)


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("cluster", ["arn:aws:ecs:us-east-1:000000000000:cluster/default", "default"]),
        ("clusters", ["arn:aws:ecs:us-east-1:000000000000:cluster/default", "default"]),
        ("TargetGroupArns", ["arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/tg/1"]),
        ("ResourceId", ["service/default/web"]),
        # an ARN member with no value of its own gets every ARN, never a bare name
        (
            "resourceArn",
            [
                "arn:aws:ecs:us-east-1:000000000000:cluster/default",
                "arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/tg/1",
            ],
        ),
    ],
)
def test_plausible_values_follow_the_member_name(member: str, expected: list[str]) -> None:
    assert PLAUSIBLE.lookup(member) == expected


def test_weights_are_kept() -> None:
    """Hypothesis' one_of merges repeated strategies; _weighted must not lose the weights."""
    seen: Counter[str] = Counter()

    @settings(max_examples=300, derandomize=True, database=None)
    @given(_weighted((9, st.text("a", min_size=1)), (1, st.text("b", min_size=1))))
    def draw(value: str) -> None:
        seen[value[0]] += 1

    draw()
    assert seen["a"] > 3 * seen["b"], seen


TAME_OPERATIONS = [
    pytest.param(e.model_name, name, id=f"{e.label}-{name}")
    for e in endpoints()
    if e.label != "cloudwatch-query"  # the same model as cloudwatch-json
    for name in sorted(e.handlers)
]


@pytest.mark.parametrize(("model", "action"), TAME_OPERATIONS)
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_tame_params_pass_botocores_validator(model: str, action: str, data: st.DataObject) -> None:
    """Tame examples reach the handlers: botocore's own validator finds nothing to refuse."""
    operation = service_model(model).operation_model(action)
    params = data.draw(params_for(operation, PLAUSIBLE, wild=False))
    if operation.input_shape is not None:
        report = ParamValidator().validate(params, operation.input_shape)
        assert not report.has_errors(), report.generate_report()
