"""The placement scheduler: filters, strategies, failures, bookkeeping, task definitions.

Table cases pin ECS behaviour; Hypothesis properties check invariants against a
brute-force oracle written here independently of dockyard.scheduler.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.errors import InvalidParameterException
from dockyard.scheduler import (
    AGENT,
    CPU,
    DISTINCT_INSTANCE,
    INACTIVE,
    MEMBER_OF,
    MEMORY,
    PORTS,
    ClusterState,
    InstanceView,
    PlacementResult,
    TaskRequest,
    compile_query,
    parse_cpu,
    parse_memory,
    place,
    rank,
    task_request_from_definition,
)

AZ = "ecs.availability-zone"
BINPACK_MEMORY = [{"type": "binpack", "field": "memory"}]
BINPACK_CPU = [{"type": "binpack", "field": "cpu"}]
SPREAD_INSTANCE = [{"type": "spread", "field": "instanceId"}]
SPREAD_AZ = [{"type": "spread", "field": f"attribute:{AZ}"}]
RANDOM = [{"type": "random"}]


def arn(name: str) -> str:
    return f"arn:aws:ecs:us-east-1:000000000000:container-instance/stage01/{name}"


def inst(
    name: str,
    *,
    cpu: int = 2048,
    memory: int = 4096,
    remaining_cpu: int | None = None,
    remaining_memory: int | None = None,
    az: str | None = "a",
    status: str = "ACTIVE",
    agent: bool = True,
    groups: Mapping[str, int] | None = None,
    used_tcp: Sequence[int] = (),
    used_udp: Sequence[int] = (),
    reserved_tcp: Sequence[int] = (22,),
    pending_tcp: int = 0,
    attributes: Mapping[str, str] | None = None,
) -> InstanceView:
    attrs = {AZ: az} if az else {}
    attrs.update(attributes or {})
    groups = dict(groups or {})
    return InstanceView(
        arn=arn(name),
        instance_id=f"i-{name}",
        registered_cpu=cpu,
        registered_memory=memory,
        remaining_cpu=cpu if remaining_cpu is None else remaining_cpu,
        remaining_memory=memory if remaining_memory is None else remaining_memory,
        status=status,
        agent_connected=agent,
        attributes=attrs,
        running_tasks_count=sum(groups.values()),
        task_groups=groups,
        reserved_ports_tcp=frozenset(reserved_tcp),
        used_ports_tcp=frozenset(used_tcp),
        used_ports_udp=frozenset(used_udp),
        pending_dynamic_tcp=pending_tcp,
    )


def req(
    cpu: int = 256,
    memory: int = 512,
    *,
    group: str = "service:web",
    tcp: Sequence[int] = (),
    udp: Sequence[int] = (),
    dynamic_tcp: int = 0,
    port_range: tuple[int, int] = (49153, 65535),
) -> TaskRequest:
    return TaskRequest(
        task_definition="web:1",
        cpu=cpu,
        memory=memory,
        group=group,
        ports_tcp=frozenset(tcp),
        ports_udp=frozenset(udp),
        dynamic_ports_tcp=dynamic_tcp,
        dynamic_port_range=port_range,
    )


def run(
    instances: Sequence[InstanceView],
    request: TaskRequest,
    count: int = 1,
    strategy: Sequence[Mapping[str, str]] = (),
    constraints: Sequence[Mapping[str, str]] = (),
    seed: int = 0,
) -> PlacementResult:
    return place(
        ClusterState(instances), request, count, strategy, constraints, random.Random(seed)
    )


def placed_on(result: PlacementResult) -> list[str]:
    return [p.instance_id.removeprefix("i-") for p in result.placements]


# -- feasibility: each filter and its ECS reason -------------------------------------

FILTERS = [
    pytest.param(inst("x", status="DRAINING"), req(), [], INACTIVE, id="draining"),
    pytest.param(inst("x", agent=False), req(), [], AGENT, id="agent-disconnected"),
    pytest.param(inst("x", remaining_cpu=255), req(cpu=256), [], CPU, id="cpu"),
    pytest.param(inst("x", remaining_memory=511), req(memory=512), [], MEMORY, id="memory"),
    pytest.param(
        inst("x", remaining_cpu=0, remaining_memory=0), req(), [], CPU, id="cpu-before-memory"
    ),
    pytest.param(inst("x", used_tcp=[80]), req(tcp=[80]), [], PORTS, id="tcp-port-used"),
    pytest.param(inst("x"), req(tcp=[22]), [], PORTS, id="tcp-port-reserved"),
    pytest.param(inst("x", used_udp=[53]), req(udp=[53]), [], PORTS, id="udp-port-used"),
    pytest.param(inst("x", used_tcp=[53]), req(udp=[53]), [], None, id="tcp-does-not-block-udp"),
    pytest.param(
        inst("x", used_tcp=[50000], pending_tcp=1),
        req(dynamic_tcp=1, port_range=(50000, 50001)),
        [],
        PORTS,
        id="dynamic-range-exhausted-by-pending",
    ),
    pytest.param(
        inst("x", used_tcp=[50000], reserved_tcp=()),
        req(dynamic_tcp=2, port_range=(50000, 50001)),
        [],
        PORTS,
        id="dynamic-range-one-short",
    ),
    pytest.param(
        inst("x", used_tcp=[50000]),
        req(dynamic_tcp=2, port_range=(50000, 50002)),
        [],
        None,
        id="dynamic-range-just-enough",
    ),
    pytest.param(
        inst("x"),
        req(tcp=[50000], dynamic_tcp=2, port_range=(50000, 50001)),
        [],
        PORTS,
        id="own-static-port-uses-dynamic-range",
    ),
    pytest.param(
        inst("x", remaining_cpu=256, remaining_memory=512), req(), [], None, id="exact-fit"
    ),
    pytest.param(
        inst("x", az="b"),
        req(),
        [{"type": "memberOf", "expression": f"attribute:{AZ} == a"}],
        MEMBER_OF,
        id="member-of",
    ),
    pytest.param(
        inst("x", groups={"service:web": 1}),
        req(),
        [{"type": "distinctInstance"}],
        DISTINCT_INSTANCE,
        id="distinct-instance",
    ),
    pytest.param(
        inst("x", groups={"service:db": 1}),
        req(),
        [{"type": "distinctInstance"}],
        None,
        id="distinct-instance-other-group",
    ),
    pytest.param(
        inst("x", remaining_memory=0, az="b"),
        req(),
        [{"type": "memberOf", "expression": f"attribute:{AZ} == a"}],
        MEMORY,
        id="resources-before-constraints",
    ),
]


@pytest.mark.parametrize(("instance", "request_", "constraints", "reason"), FILTERS)
def test_filter_reason(
    instance: InstanceView,
    request_: TaskRequest,
    constraints: list[dict[str, str]],
    reason: str | None,
) -> None:
    result = run([instance], request_, 1, constraints=constraints)
    if reason is None:
        assert placed_on(result) == ["x"]
        assert result.failures == []
    else:
        assert result.placements == []
        assert [f.to_dict() for f in result.failures] == [{"arn": instance.arn, "reason": reason}]


# -- strategies ----------------------------------------------------------------------

STRATEGIES = [
    pytest.param(
        [
            inst("a", remaining_memory=1024),
            inst("b", remaining_memory=512),
            inst("c", remaining_memory=4096),
        ],
        req(memory=512),
        4,
        BINPACK_MEMORY,
        ["b", "a", "a", "c"],
        id="binpack-memory-least-left-first",
    ),
    pytest.param(
        [inst("a", remaining_memory=256), inst("b", remaining_memory=1024)],
        req(memory=512),
        2,
        BINPACK_MEMORY,
        ["b", "b"],
        id="binpack-skips-what-does-not-fit",
    ),
    pytest.param(
        [inst("a", remaining_cpu=1024), inst("b", remaining_cpu=512, used_tcp=[80])],
        req(cpu=256, tcp=[80]),
        1,
        BINPACK_CPU,
        ["a"],
        id="binpack-cpu-skips-port-conflict",
    ),
    pytest.param(
        [inst("a", memory=2048), inst("b", memory=2048)],
        req(memory=512),
        5,
        BINPACK_MEMORY,
        ["?", "=", "=", "=", "!"],
        id="binpack-fills-one-then-next",
    ),
    pytest.param(
        [inst("a"), inst("b"), inst("c")],
        req(),
        6,
        SPREAD_INSTANCE,
        "each-twice",
        id="spread-instances",
    ),
    pytest.param(
        [inst("a", groups={"service:db": 5}), inst("b", groups={"service:web": 1})],
        req(),
        1,
        SPREAD_INSTANCE,
        ["a"],
        id="spread-counts-only-own-group",
    ),
    pytest.param(
        [inst("a1", az="a"), inst("a2", az="a"), inst("b1", az="b", groups={"service:web": 1})],
        req(),
        3,
        [*SPREAD_AZ, *SPREAD_INSTANCE],
        "a1,a2 then b1",
        id="spread-az-then-instance",
    ),
    pytest.param(
        [
            inst("a1", az="a", remaining_memory=1024),
            inst("a2", az="a", remaining_memory=2048),
            inst("b1", az="b", remaining_memory=4096),
        ],
        req(memory=512),
        2,
        [*SPREAD_AZ, *BINPACK_MEMORY],
        "a1,b1",
        id="spread-az-then-binpack",
    ),
    pytest.param(
        [
            inst("a", remaining_memory=1024, groups={"service:web": 1}),
            inst("b", remaining_memory=1024),
            inst("c", remaining_memory=2048),
        ],
        req(memory=512),
        1,
        [*BINPACK_MEMORY, *SPREAD_INSTANCE],
        ["b"],
        id="binpack-then-spread-breaks-ties",
    ),
    pytest.param(
        [inst("a", az=None), inst("b", az="b", groups={"service:web": 2})],
        req(),
        1,
        SPREAD_AZ,
        ["a"],
        id="spread-missing-attribute-is-its-own-value",
    ),
    pytest.param(
        [inst("a", status="DRAINING"), inst("b", agent=False), inst("c")],
        req(),
        3,
        RANDOM,
        ["c", "c", "c"],
        id="random-only-on-feasible",
    ),
]


@pytest.mark.parametrize(("instances", "request_", "count", "strategy", "expected"), STRATEGIES)
def test_strategy(
    instances: list[InstanceView],
    request_: TaskRequest,
    count: int,
    strategy: list[dict[str, str]],
    expected: list[str] | str,
) -> None:
    for seed in range(5):  # ties are broken at random: the answer must not depend on it
        got = placed_on(run(instances, request_, count, strategy, seed=seed))
        if expected == "each-twice":
            assert Counter(got) == {"a": 2, "b": 2, "c": 2}
        elif expected == "a1,a2 then b1":
            assert sorted(got[:2]) == ["a1", "a2"] and got[2] == "b1"
        elif expected == "a1,b1":
            assert sorted(got) == ["a1", "b1"]
        elif isinstance(expected, list) and expected[0] == "?":
            first, rest = got[0], got[1:]
            assert rest[:3] == [first] * 3 and rest[3] != first
        else:
            assert got == expected


def test_random_is_reproducible_with_the_same_seed() -> None:
    instances = [inst(str(i)) for i in range(20)]
    one = placed_on(run(instances, req(), 10, RANDOM, seed=7))
    two = placed_on(run(instances, req(), 10, RANDOM, seed=7))
    assert one == two
    assert len(set(one)) > 1


def test_default_strategy_is_random() -> None:
    instances = [inst(str(i)) for i in range(20)]
    assert placed_on(run(instances, req(), 8, [], seed=3)) == placed_on(
        run(instances, req(), 8, RANDOM, seed=3)
    )


def test_strategy_after_random_is_ignored() -> None:
    instances = [inst(str(i)) for i in range(20)]
    assert placed_on(run(instances, req(), 8, [*RANDOM, *BINPACK_MEMORY], seed=3)) == placed_on(
        run(instances, req(), 8, RANDOM, seed=3)
    )


# -- failures and partial placement ----------------------------------------------------


def test_places_what_fits_and_explains_the_rest() -> None:
    instances = [inst("a", memory=1024), inst("b", memory=512), inst("c", status="DRAINING")]
    result = run(instances, req(memory=512), 5, BINPACK_MEMORY)
    assert placed_on(result) == ["b", "a", "a"]
    assert result.unplaced == 2
    assert [(f.arn, f.reason) for f in result.failures] == [
        (arn("a"), MEMORY),
        (arn("b"), MEMORY),
        (arn("c"), INACTIVE),
    ]


CLOSEST = [
    pytest.param(
        [inst("a", agent=False), inst("b", remaining_memory=100)],
        req(memory=512),
        "b",
        "has insufficient memory available.",
        id="memory-beats-agent",
    ),
    pytest.param(
        [inst("a", remaining_cpu=100), inst("b", remaining_cpu=200)],
        req(cpu=256),
        "b",
        "has insufficient CPU units available.",
        id="most-cpu-left",
    ),
    pytest.param(
        [inst("a", remaining_memory=100), inst("b", used_tcp=[80])],
        req(tcp=[80]),
        "b",
        "is already using a port required by your task.",
        id="ports",
    ),
    pytest.param(
        [inst("a", az="b")],
        req(),
        "a",
        'encountered error "MemberOf placement constraint unsatisfied.".',
        id="member-of",
    ),
]


@pytest.mark.parametrize(("instances", "request_", "closest", "detail"), CLOSEST)
def test_closest_match(
    instances: list[InstanceView], request_: TaskRequest, closest: str, detail: str
) -> None:
    constraints = [{"type": "memberOf", "expression": f"attribute:{AZ} == a"}]
    result = run(instances, request_, 1, constraints=constraints)
    assert result.closest is not None
    assert (result.closest.instance_id, result.closest.detail) == (closest, detail)
    message = result.event_message("web")
    assert message == (
        "service web was unable to place a task because no container instance met all of its "
        f"requirements. The closest matching container-instance {closest} {detail} For more "
        "information, see the Troubleshooting section of the Amazon ECS Developer Guide."
    )


def test_empty_cluster() -> None:
    result = run([], req(), 2)
    assert (result.placements, result.failures, result.unplaced, result.closest) == (
        [],
        [],
        2,
        None,
    )
    assert result.event_message("web") == (
        "service web was unable to place a task because no container instance met all of its "
        "requirements. Reason: No Container Instances were found in your cluster."
    )


def test_all_placed_has_no_event() -> None:
    result = run([inst("a")], req(), 1)
    assert result.event_message("web") is None and result.unplaced == 0


def test_distinct_instance_places_one_per_instance() -> None:
    instances = [inst("a"), inst("b", groups={"service:web": 1}), inst("c")]
    result = run(instances, req(), 3, constraints=[{"type": "distinctInstance"}])
    assert sorted(placed_on(result)) == ["a", "c"]
    assert {f.reason for f in result.failures} == {DISTINCT_INSTANCE}


def test_member_of_reads_task_groups() -> None:
    instances = [inst("a", groups={"service:db": 1}), inst("b")]
    constraints = [{"type": "memberOf", "expression": "not(task:group == service:db)"}]
    assert placed_on(run(instances, req(), 2, RANDOM, constraints)) == ["b", "b"]


def test_member_of_on_placements_is_evaluated_afresh_each_call() -> None:
    state = ClusterState([inst("a"), inst("b")])
    constraints = [{"type": "memberOf", "expression": "not(task:group == service:web)"}]
    rng = random.Random(0)
    first = place(state, req(), 1, RANDOM, constraints, rng)
    second = place(state, req(), 1, RANDOM, constraints, rng)
    third = place(state, req(), 1, RANDOM, constraints, rng)
    assert {first.placements[0].instance_arn, second.placements[0].instance_arn} == {
        arn("a"),
        arn("b"),
    }
    assert third.placements == [] and {f.reason for f in third.failures} == {MEMBER_OF}


def test_a_placed_task_is_pending_not_running() -> None:
    # As DescribeContainerInstances counts it: runningTasksCount moves when the agent
    # reports RUNNING (tasks.accounting), so a placement alone does not change it.
    state = ClusterState([inst("a")])
    constraints = [{"type": "memberOf", "expression": "runningTasksCount == 0"}]
    rng = random.Random(0)
    for _ in range(2):
        assert len(place(state, req(), 1, RANDOM, constraints, rng).placements) == 1
    assert state.view(arn("a")).pending_tasks_count == 2


def test_several_member_of_constraints_all_apply() -> None:
    instances = [
        inst("a", az="a", attributes={"tier": "gpu"}),
        inst("b", az="a"),
        inst("c", az="b", attributes={"tier": "gpu"}),
    ]
    constraints = [
        {"type": "memberOf", "expression": f"attribute:{AZ} == a"},
        {"type": "memberOf", "expression": "attribute:tier exists"},
    ]
    assert placed_on(run(instances, req(), 2, RANDOM, constraints)) == ["a", "a"]


INVALID = [
    pytest.param([{"type": "pack"}], [], "Invalid placement strategy type", id="strategy-type"),
    pytest.param([{"type": "binpack", "field": "disk"}], [], "binpack field", id="binpack-field"),
    pytest.param([{"type": "spread"}], [], "Invalid spread field", id="spread-no-field"),
    pytest.param([{"type": "random"}] * 6, [], "maximum of 5", id="too-many-strategies"),
    pytest.param([], [{"type": "sameInstance"}], "constraint type", id="constraint-type"),
    pytest.param([], [{"type": "memberOf"}], "expression is required", id="no-expression"),
    pytest.param(
        [], [{"type": "distinctInstance", "expression": "x"}], "cannot be", id="distinct-expr"
    ),
    pytest.param(
        [], [{"type": "memberOf", "expression": "attribute:a =="}], "expected a value", id="expr"
    ),
    pytest.param([], [{"type": "distinctInstance"}] * 11, "maximum of 10", id="too-many"),
]


@pytest.mark.parametrize(("strategy", "constraints", "fragment"), INVALID)
def test_invalid_json_is_rejected_before_placing(
    strategy: list[dict[str, str]], constraints: list[dict[str, str]], fragment: str
) -> None:
    state = ClusterState([inst("a")])
    with pytest.raises(InvalidParameterException) as caught:
        place(state, req(), 1, strategy, constraints, random.Random(0))
    assert fragment in caught.value.message
    assert state.view(arn("a")).remaining_memory == 4096


# -- ClusterState bookkeeping -----------------------------------------------------------


def test_commit_then_release_restores_the_instance() -> None:
    before = inst("a", used_tcp=[443], groups={"service:web": 1})
    state = ClusterState([before])
    request = req(cpu=300, memory=700, tcp=[80], udp=[53], dynamic_tcp=2)
    placement = state.commit(arn("a"), request)
    during = state.view(arn("a"))
    assert (during.remaining_cpu, during.remaining_memory) == (2048 - 300, 4096 - 700)
    assert during.used_ports_tcp == {80, 443} and during.used_ports_udp == {53}
    assert during.pending_dynamic_tcp == 2
    assert during.task_groups == {"service:web": 2} and during.pending_tasks_count == 1
    state.release(placement)
    assert state.view(arn("a")) == before


def test_place_mutates_state_so_the_next_call_sees_it() -> None:
    state = ClusterState([inst("a", memory=1024)])
    rng = random.Random(0)
    assert len(place(state, req(memory=512), 2, [], [], rng).placements) == 2
    assert place(state, req(memory=512), 1, [], [], rng).failures[0].reason == MEMORY


@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param(SPREAD_AZ, id="spread-az"),
        pytest.param(SPREAD_INSTANCE, id="spread-instance"),
        pytest.param(BINPACK_MEMORY, id="binpack"),
    ],
)
def test_release_is_seen_by_the_next_placement(strategy: list[dict[str, str]]) -> None:
    state = ClusterState([inst("a", az="a"), inst("b", az="b")])
    rng = random.Random(0)
    first = place(state, req(), 2, SPREAD_INSTANCE, [], rng).placements
    freed = first[0]
    state.release(freed)
    again = place(state, req(), 1, strategy, [], rng).placements
    if strategy is BINPACK_MEMORY:  # the other instance now has less memory left
        assert again[0].instance_arn == first[1].instance_arn
    else:
        assert again[0].instance_arn == freed.instance_arn


def test_replacing_an_instance_updates_indexes() -> None:
    state = ClusterState([inst("a"), inst("b")])
    state.add(inst("a", status="DRAINING"))
    result = place(state, req(), 4, SPREAD_INSTANCE, [], random.Random(0))
    assert placed_on(result) == ["b"] * 4
    state.remove(arn("b"))
    assert len(state) == 1 and arn("b") not in state


# -- task definitions ---------------------------------------------------------------------

CONTAINER = {"name": "web", "image": "x"}
TASK_DEFINITIONS = [
    pytest.param(
        {"family": "web", "containerDefinitions": [{**CONTAINER, "cpu": 128, "memory": 256}]},
        None,
        {"cpu": 128, "memory": 256, "group": "family:web", "task_definition": "web"},
        id="container-hard-memory",
    ),
    pytest.param(
        {
            "family": "web",
            "containerDefinitions": [
                {**CONTAINER, "memory": 512, "memoryReservation": 128},
                {"name": "side", "cpu": 10, "memory": 64},
            ],
        },
        None,
        {"cpu": 10, "memory": 192},
        id="soft-reservation-wins",
    ),
    pytest.param(
        {
            "family": "web",
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:0:task-definition/web:3",
            "cpu": "1 vCPU",
            "memory": "0.5 GB",
            "containerDefinitions": [{**CONTAINER, "cpu": 128, "memory": 256}],
        },
        None,
        {
            "cpu": 1024,
            "memory": 512,
            "task_definition": "arn:aws:ecs:us-east-1:0:task-definition/web:3",
        },
        id="task-level-wins",
    ),
    pytest.param(
        {"family": "web", "containerDefinitions": [{**CONTAINER, "cpu": 128, "memory": 256}]},
        {"containerOverrides": [{"name": "web", "cpu": 512, "memoryReservation": 100}]},
        {"cpu": 512, "memory": 100},
        id="container-overrides",
    ),
    pytest.param(
        {"family": "web", "cpu": "256", "memory": "512", "containerDefinitions": [CONTAINER]},
        {"cpu": "512", "memory": "1GB"},
        {"cpu": 512, "memory": 1024},
        id="task-overrides",
    ),
    pytest.param(
        {
            "family": "web",
            "containerDefinitions": [
                {
                    **CONTAINER,
                    "memory": 64,
                    "portMappings": [
                        {"containerPort": 80, "hostPort": 8080},
                        {"containerPort": 81},
                        {"containerPort": 82, "hostPort": 0},
                        {"containerPort": 53, "hostPort": 53, "protocol": "udp"},
                        {"containerPortRange": "9000-9002"},
                    ],
                }
            ],
        },
        None,
        {"ports_tcp": {8080}, "ports_udp": {53}, "dynamic_ports_tcp": 5},
        id="bridge-ports",
    ),
    pytest.param(
        {
            "family": "web",
            "networkMode": "host",
            "containerDefinitions": [
                {**CONTAINER, "memory": 64, "portMappings": [{"containerPort": 80}]}
            ],
        },
        None,
        {"ports_tcp": {80}, "dynamic_ports_tcp": 0},
        id="host-mode",
    ),
    pytest.param(
        {
            "family": "web",
            "networkMode": "awsvpc",
            "containerDefinitions": [
                {**CONTAINER, "memory": 64, "portMappings": [{"containerPort": 80}]}
            ],
        },
        None,
        {"ports_tcp": set(), "dynamic_ports_tcp": 0},
        id="awsvpc-no-host-ports",
    ),
]


@pytest.mark.parametrize(("task_definition", "overrides", "expected"), TASK_DEFINITIONS)
def test_task_request_from_definition(
    task_definition: dict[str, Any], overrides: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    request = task_request_from_definition(task_definition, overrides)
    assert {key: getattr(request, key) for key in expected} == expected


def test_task_request_group_and_unknown_override() -> None:
    td = {"family": "web", "containerDefinitions": [{**CONTAINER, "memory": 64}]}
    assert task_request_from_definition(td, None, "service:web").group == "service:web"
    with pytest.raises(InvalidParameterException, match="nope is not a container"):
        task_request_from_definition(td, {"containerOverrides": [{"name": "nope", "cpu": 1}]})
    bad = {"family": "web", "containerDefinitions": [{**CONTAINER, "portMappings": [
        {"containerPort": 80, "protocol": "sctp"}]}]}  # fmt: skip
    with pytest.raises(InvalidParameterException, match="protocol 'sctp'"):
        task_request_from_definition(bad)


@pytest.mark.parametrize(
    ("text", "cpu", "memory"),
    [
        pytest.param("256", 256, 256, id="plain"),
        pytest.param("1 vCPU", 1024, None, id="vcpu"),
        pytest.param("0.25 vcpu", 256, None, id="quarter-vcpu"),
        pytest.param("1 GB", None, 1024, id="gb"),
        pytest.param("0.5GB", None, 512, id="half-gb"),
        pytest.param("2048 MiB", None, 2048, id="mib"),
        pytest.param(512, 512, 512, id="int"),
    ],
)
def test_parse_amounts(text: str | int, cpu: int | None, memory: int | None) -> None:
    if cpu is not None:
        assert parse_cpu(text) == cpu
    if memory is not None:
        assert parse_memory(text) == memory


@pytest.mark.parametrize("text", ["", "lots", "1 TB", "1 vCPU vCPU"])
def test_parse_amount_rejects(text: str) -> None:
    with pytest.raises(InvalidParameterException):
        parse_memory(text)


# -- properties against a brute-force oracle -------------------------------------------

GROUPS = ["service:web", "service:db"]
PORT_RANGE = (50000, 50003)
STAGES = [BINPACK_MEMORY[0], BINPACK_CPU[0], SPREAD_INSTANCE[0], SPREAD_AZ[0], RANDOM[0]]
EXPRESSIONS = [
    f"attribute:{AZ} in [a, b]",
    "not(task:group == service:db)",
    f"attribute:{AZ} exists",
    "runningTasksCount < 3",
]


@st.composite
def instance_views(draw: st.DrawFn, name: str) -> InstanceView:
    cpu = draw(st.sampled_from([512, 1024, 2048]))
    memory = draw(st.sampled_from([512, 1024, 2048]))
    return inst(
        name,
        cpu=cpu,
        memory=memory,
        remaining_cpu=draw(st.sampled_from(range(0, cpu + 1, 256))),
        remaining_memory=draw(st.sampled_from(range(0, memory + 1, 256))),
        az=draw(st.sampled_from(["a", "b", "c", None])),
        status=draw(st.sampled_from(["ACTIVE"] * 5 + ["DRAINING"])),
        agent=draw(st.sampled_from([True] * 5 + [False])),
        groups=draw(st.dictionaries(st.sampled_from(GROUPS), st.integers(1, 2), max_size=2)),
        used_tcp=sorted(draw(st.sets(st.sampled_from([80, 50000, 50001]), max_size=2))),
        pending_tcp=draw(st.integers(0, 1)),
    )


@st.composite
def clusters(draw: st.DrawFn, max_size: int = 10) -> list[InstanceView]:
    size = draw(st.integers(0, max_size))
    return [draw(instance_views(f"n{i}")) for i in range(size)]


requests = st.builds(
    lambda cpu, memory, group, tcp, dynamic: req(
        cpu, memory, group=group, tcp=tcp, dynamic_tcp=dynamic, port_range=PORT_RANGE
    ),
    st.sampled_from([0, 256, 512]),
    st.sampled_from([256, 512, 1024]),
    st.sampled_from(GROUPS),
    st.sampled_from([(), (80,)]),
    st.integers(0, 2),
)
strategies = st.one_of(
    st.lists(st.sampled_from(STAGES), max_size=3),
    st.sampled_from([[*SPREAD_AZ, *SPREAD_INSTANCE], [*SPREAD_AZ, *BINPACK_MEMORY]]),
)
constraint_lists = st.tuples(
    st.booleans(), st.lists(st.sampled_from(EXPRESSIONS), max_size=2, unique=True)
).map(
    lambda pair: (
        [{"type": "distinctInstance"}] * pair[0]
        + [{"type": "memberOf", "expression": e} for e in pair[1]]
    )
)


def oracle_reason(
    view: InstanceView, request: TaskRequest, allowed: set[str] | None, distinct: bool
) -> str | None:
    blocked = view.used_ports_tcp | view.reserved_ports_tcp
    low, high = request.dynamic_port_range
    in_range = {p for p in blocked | request.ports_tcp if low <= p <= high}
    free_dynamic = high - low + 1 - len(in_range) - view.pending_dynamic_tcp
    checks = [
        (INACTIVE, view.status == "ACTIVE"),
        (AGENT, view.agent_connected),
        (CPU, view.remaining_cpu >= request.cpu),
        (MEMORY, view.remaining_memory >= request.memory),
        (
            PORTS,
            not (request.ports_tcp & blocked)
            and (not request.dynamic_ports_tcp or free_dynamic >= request.dynamic_ports_tcp),
        ),
        (MEMBER_OF, allowed is None or view.arn in allowed),
        (DISTINCT_INSTANCE, not (distinct and view.task_groups.get(request.group))),
    ]
    return next((reason for reason, ok in checks if not ok), None)


def oracle_key(
    view: InstanceView,
    strategy: Sequence[Mapping[str, str]],
    group: str,
    views: Sequence[InstanceView],
) -> tuple[int, ...]:
    key: list[int] = []
    for stage in strategy:
        field = stage.get("field", "")
        if stage["type"] == "random":
            break
        if stage["type"] == "binpack":
            key.append(view.remaining_cpu if field == "cpu" else view.remaining_memory)
        elif field == "instanceId":
            key.append(view.task_groups.get(group, 0))
        else:
            value = view.attributes.get(AZ)
            key.append(
                sum(w.task_groups.get(group, 0) for w in views if w.attributes.get(AZ) == value)
            )
    return tuple(key)


def oracle_allowed(
    views: Sequence[InstanceView], constraints: Sequence[Mapping[str, str]]
) -> set[str] | None:
    queries = [compile_query(c["expression"]) for c in constraints if c["type"] == "memberOf"]
    if not queries:
        return None
    return {v.arn for v in views if all(q.matches(v) for q in queries)}


@contextmanager
def indexed_paths(force: bool) -> Iterator[None]:
    """With force, even tiny clusters go through the index-driven code paths."""
    if not force:
        yield
        return
    with mock.patch.object(rank, "SCAN_LIMIT", 0), mock.patch.object(rank, "NARROW_FACTOR", 10**9):
        yield


@pytest.mark.parametrize("force_indexes", [False, True], ids=["scan", "indexed"])
@settings(max_examples=250, deadline=None)
@given(
    cluster=clusters(),
    request_=requests,
    strategy=strategies,
    constraints=constraint_lists,
    steps=st.lists(st.integers(0, 3), min_size=1, max_size=12),
    seed=st.integers(0, 2**16),
)
def test_each_placement_is_the_best_feasible_instance(
    force_indexes: bool,
    cluster: list[InstanceView],
    request_: TaskRequest,
    strategy: list[dict[str, str]],
    constraints: list[dict[str, str]],
    steps: list[int],
    seed: int,
) -> None:
    """One task at a time (with releases mixed in, to exercise the incremental
    indexes): the chosen instance is feasible and has the minimal strategy key,
    and a failure is reported only when no instance is feasible."""
    state = ClusterState(cluster)
    rng = random.Random(seed)
    distinct = any(c["type"] == "distinctInstance" for c in constraints)
    placed = []
    with indexed_paths(force_indexes):
        for step in steps:
            if step == 0 and placed:
                state.release(placed.pop(rng.randrange(len(placed))))
                continue
            views = state.views()
            allowed = oracle_allowed(views, constraints)
            reasons = {v.arn: oracle_reason(v, request_, allowed, distinct) for v in views}
            feasible = [v for v in views if reasons[v.arn] is None]
            result = place(state, request_, 1, strategy, constraints, rng)
            if not feasible:
                assert result.placements == [] and result.unplaced == 1
                assert {f.arn: f.reason for f in result.failures} == reasons
                continue
            assert result.failures == [] and len(result.placements) == 1
            chosen = next(v for v in views if v.arn == result.placements[0].instance_arn)
            assert reasons[chosen.arn] is None
            best = min(oracle_key(v, strategy, request_.group, views) for v in feasible)
            assert oracle_key(chosen, strategy, request_.group, views) == best
            placed.append(result.placements[0])


@settings(max_examples=100, deadline=None)
@given(cluster=clusters(), request_=requests, strategy=strategies, count=st.integers(0, 30))
def test_never_overcommits_cpu_memory_or_ports(
    cluster: list[InstanceView], request_: TaskRequest, strategy: list[dict[str, str]], count: int
) -> None:
    state = ClusterState(cluster)
    result = place(state, request_, count, strategy, [], random.Random(0))
    before = {v.arn: v for v in cluster}
    per_instance = Counter(p.instance_arn for p in result.placements)
    low, high = PORT_RANGE
    for instance_arn, n in per_instance.items():
        old, new = before[instance_arn], state.view(instance_arn)
        assert new.remaining_cpu >= 0 and new.remaining_memory >= 0
        assert new.remaining_cpu == old.remaining_cpu - n * request_.cpu
        assert n == 1 or not request_.ports_tcp  # a static port is taken once per instance
        assert not (old.used_ports_tcp | old.reserved_ports_tcp) & request_.ports_tcp
        blocked = {p for p in new.used_ports_tcp | new.reserved_ports_tcp if low <= p <= high}
        assert high - low + 1 - len(blocked) - new.pending_dynamic_tcp >= 0


@settings(max_examples=100, deadline=None)
@given(instances=st.integers(1, 8), per_instance=st.integers(1, 5), count=st.integers(0, 45))
def test_binpack_fills_one_instance_before_the_next(
    instances: int, per_instance: int, count: int
) -> None:
    cluster = [inst(f"n{i}", memory=512 * per_instance) for i in range(instances)]
    result = run(cluster, req(cpu=0, memory=512), count, BINPACK_MEMORY)
    loads = Counter(p.instance_arn for p in result.placements)
    assert sum(1 for n in loads.values() if n < per_instance) <= 1
    capacity = instances * per_instance
    assert len(loads) == -(-min(count, capacity) // per_instance)
    assert result.unplaced == max(0, count - capacity)


@settings(max_examples=100, deadline=None)
@given(
    zones=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=9),
    count=st.integers(0, 40),
    seed=st.integers(0, 1000),
)
def test_spread_balances_within_one(zones: list[str], count: int, seed: int) -> None:
    cluster = [inst(f"n{i}", az=zone, memory=10**6, cpu=10**6) for i, zone in enumerate(zones)]
    result = run(cluster, req(), count, [*SPREAD_AZ, *SPREAD_INSTANCE], seed=seed)
    per_instance = Counter({v.arn: 0 for v in cluster})
    per_instance.update(p.instance_arn for p in result.placements)
    per_zone = Counter(dict.fromkeys(zones, 0))
    for v in cluster:
        per_zone[v.attributes[AZ]] += per_instance[v.arn]
    assert max(per_zone.values()) - min(per_zone.values()) <= 1
    for zone in set(zones):
        in_zone = [per_instance[v.arn] for v in cluster if v.attributes[AZ] == zone]
        assert max(in_zone) - min(in_zone) <= 1
    only_instances = run(cluster, req(), count, SPREAD_INSTANCE, seed=seed)
    loads = Counter({v.arn: 0 for v in cluster})
    loads.update(p.instance_arn for p in only_instances.placements)
    assert max(loads.values()) - min(loads.values()) <= 1


@settings(max_examples=100, deadline=None)
@given(cluster=clusters(), request_=requests, strategy=strategies, count=st.integers(0, 12))
def test_distinct_instance_never_places_two_on_one_instance(
    cluster: list[InstanceView], request_: TaskRequest, strategy: list[dict[str, str]], count: int
) -> None:
    result = run(cluster, request_, count, strategy, [{"type": "distinctInstance"}])
    loads = Counter(p.instance_arn for p in result.placements)
    assert all(n == 1 for n in loads.values())
    had_group = {v.arn for v in cluster if v.task_groups.get(request_.group)}
    assert not had_group & set(loads)


def test_larger_cluster_matches_the_oracle_on_bench_strategies() -> None:
    """Above SCAN_LIMIT, without patches: the real indexed paths at a bench-like size."""
    rng = random.Random(5)
    cluster = [
        inst(
            f"n{i}",
            cpu=rng.choice([1024, 2048, 4096]),
            memory=rng.choice([2048, 4096, 8192]),
            az="abc"[i % 3],
        )
        for i in range(150)
    ]
    request = req(cpu=256, memory=512, dynamic_tcp=1)
    for strategy in (
        BINPACK_MEMORY,
        [*SPREAD_AZ, *SPREAD_INSTANCE],
        RANDOM,
        [*SPREAD_AZ, *BINPACK_MEMORY],
    ):
        state = ClusterState(cluster)
        for _ in range(400):
            views = state.views()
            feasible = [v for v in views if oracle_reason(v, request, None, False) is None]
            result = place(state, request, 1, strategy, [], rng)
            chosen = next(v for v in views if v.arn == result.placements[0].instance_arn)
            best = min(oracle_key(v, strategy, request.group, views) for v in feasible)
            assert oracle_key(chosen, strategy, request.group, views) == best
