"""What another server's commit wakes here, by what it wrote: the NOTIFY payload
(store/changes.py, ha/notify.py), merging a debounce window, the wakeups (ha/wakeups.py)."""

from __future__ import annotations

import pytest

from dockyard.ha.notify import parse_change
from dockyard.ha.wakeups import Changes, Key, Wake, merge, wakeups
from dockyard.store import Kind
from dockyard.store.changes import PAYLOAD_LIMIT, Touched, change_payload, touch

CLUSTER = "arn:aws:ecs:us-east-1:000000000000:cluster/c1"
SVC = "arn:aws:ecs:us-east-1:000000000000:service/c1/web"
INST = "arn:aws:ecs:us-east-1:000000000000:container-instance/c1/i1"
TG = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg/0123456789abcdef"


def _kinds(kinds: set[str]) -> Changes:  # kinds without details: each unknown
    return Changes(frozenset(kinds))


def _known(**details: set[Key]) -> Changes:
    return Changes(frozenset(details), {k: frozenset(v) for k, v in details.items()})


@pytest.mark.parametrize(
    ("kinds", "leader", "expected"),
    [
        pytest.param(None, True, Wake(desired=True, services=True, lb=True), id="unknown-leader"),
        pytest.param(None, False, Wake(desired=True, services=False, lb=False), id="unknown"),
        pytest.param({"TASK"}, True, Wake(desired=True, services=True, lb=False), id="task"),
        pytest.param({"TASK"}, False, Wake(desired=True, services=False, lb=False), id="follower"),
        pytest.param({"SERVICE"}, True, Wake(desired=False, services=True, lb=False), id="svc"),
        pytest.param({"LISTENER"}, True, Wake(desired=False, services=False, lb=True), id="lb"),
        pytest.param({"TARGET"}, True, Wake(desired=False, services=True, lb=True), id="target"),
        pytest.param({"CERTIFICATE"}, True, Wake(False, False, True), id="certificate"),
        pytest.param({"CONTAINER_INSTANCE"}, True, Wake(True, True, True), id="instance"),
        pytest.param({"INSTANCE_CAPACITY"}, True, Wake(False, False, False), id="capacity"),
        pytest.param({"CLUSTER"}, True, Wake(False, True, False), id="cluster"),
        pytest.param({"ALARM", "TAGS"}, True, Wake(False, False, False), id="nothing"),
        pytest.param(set(), True, Wake(False, False, False), id="empty"),
    ],
)
def test_wakeups_by_kinds_alone(kinds: set[str] | None, leader: bool, expected: Wake) -> None:
    """Kinds without details (an old payload, or details too long): each kind unknown."""
    assert wakeups(None if kinds is None else _kinds(kinds), leader) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            _known(TASK={(CLUSTER, "service:web")}),
            Wake(True, False, False, task_groups=frozenset({(CLUSTER, "service:web")})),
            id="task-group",
        ),
        pytest.param(_known(TASK=set()), Wake(True, False, False), id="task-no-group"),
        pytest.param(
            _known(SERVICE={SVC}),
            Wake(False, False, False, service_arns=frozenset({SVC})),
            id="service",
        ),
        pytest.param(
            _known(CONTAINER_INSTANCE={INST}),
            Wake(True, False, True, instances=frozenset({INST})),
            id="instance",
        ),
        pytest.param(
            _known(TARGET_GROUP={TG}, TARGET={TG}),
            Wake(False, False, True, target_groups=frozenset({TG})),
            id="targets",
        ),
        pytest.param(
            _known(INSTANCE_CAPACITY=set(), TASK={(CLUSTER, "service:web")}),
            Wake(True, False, False, task_groups=frozenset({(CLUSTER, "service:web")})),
            id="capacity-and-task",
        ),
        pytest.param(
            Changes(frozenset({"TASK", "SERVICE"}), {"TASK": frozenset({(CLUSTER, "g")})}),
            Wake(True, True, False),
            id="one-kind-unknown",
        ),
        pytest.param(
            _known(TASK={(CLUSTER, "service:web")}, CLUSTER=set()),
            Wake(True, True, False),
            id="cluster-wakes-all",
        ),
        pytest.param(
            _known(CAPACITY_PROVIDER=set()), Wake(False, True, False), id="provider-wakes-all"
        ),
    ],
)
def test_wakeups_narrowed_by_details(changes: Changes, expected: Wake) -> None:
    assert wakeups(changes, leader=True) == expected
    follower = wakeups(changes, leader=False)
    assert follower == Wake(desired=expected.desired, services=False, lb=False)


def _touched(*writes: tuple[Kind, str, dict[str, object] | None]) -> Touched:
    touched: Touched = {}
    for kind, key, doc in writes:
        touch(touched, kind, key, doc)
    return touched


def test_touch_records_groups_keys_and_target_groups() -> None:
    touched = _touched(
        (Kind.TASK, "t1", {"clusterArn": CLUSTER, "group": "service:web"}),
        (Kind.TASK, "t2", {"clusterArn": CLUSTER, "group": "service:web"}),
        (Kind.TASK, "t3", {"clusterArn": CLUSTER}),  # no group: no service's
        (Kind.SERVICE, SVC, {}),
        (Kind.TARGET, f"{TG}|10.0.0.1|80", {}),
        (Kind.CONTAINER_INSTANCE, INST, None),  # deleted: its key is known
        (Kind.ALARM, "a", {}),
        (Kind.INSTANCE_CAPACITY, INST, {}),
    )
    assert touched == {
        "TASK": {(CLUSTER, "service:web")},
        "SERVICE": {SVC},
        "TARGET": {TG},
        "CONTAINER_INSTANCE": {INST},
    }
    deleted = _touched(
        (Kind.TASK, "t1", {"clusterArn": CLUSTER, "group": "service:web"}), (Kind.TASK, "t", None)
    )
    assert deleted == {"TASK": None}  # a deleted task's group is not known


def test_payloads_round_trip_with_details() -> None:
    writer = "host:1|x/ab12"  # a writer id may hold `|`
    touched = _touched(
        (Kind.TASK, "t1", {"clusterArn": CLUSTER, "group": "service:web"}),
        (Kind.TASK, "t2", {"clusterArn": CLUSTER, "group": "family:a|b"}),  # `|` in a group
        (Kind.SERVICE, SVC, {}),
    )
    payload = change_payload(writer, {"TASK", "SERVICE", "TAGS"}, touched)
    assert payload.startswith(f"{writer}|SERVICE,TAGS,TASK|{{")
    assert payload.count("|") == writer.count("|") + 2
    assert parse_change(payload) == (
        writer,
        Changes(
            frozenset({"TASK", "SERVICE", "TAGS"}),
            {
                "TASK": frozenset({(CLUSTER, "service:web"), (CLUSTER, "family:a|b")}),
                "SERVICE": frozenset({SVC}),
            },
        ),
    )


def test_unknown_kinds_and_old_payloads_carry_no_details() -> None:
    touched: Touched = {"TASK": None, "SERVICE": {SVC}}
    _, changes = parse_change(change_payload("a/1", {"TASK", "SERVICE"}, touched))
    assert changes == Changes(frozenset({"TASK", "SERVICE"}), {"SERVICE": frozenset({SVC})})
    assert change_payload("a/1", {"TASK"}, {"TASK": None}) == "a/1|TASK"
    assert change_payload("a/1", {"ALARM"}, None) == "a/1|ALARM"
    assert parse_change("host:1|x/ab12|SERVICE,TASK") == (
        "host:1|x/ab12",
        Changes(frozenset({"SERVICE", "TASK"})),
    )
    assert parse_change("a/1") == ("a/1", None)  # a writer id alone: anything may have changed
    assert parse_change("a/1|TASK|{not json") == ("a/1", Changes(frozenset({"TASK"})))


def test_details_too_long_for_notify_are_left_out() -> None:
    arns = {f"{SVC}-{n}" for n in range(200)}
    payload = change_payload("a/1", {"SERVICE", "TASK"}, {"SERVICE": arns, "TASK": set()})
    assert len(payload.encode()) <= PAYLOAD_LIMIT
    assert payload == "a/1|SERVICE,TASK"  # every kind then unknown: every service
    assert wakeups(parse_change(payload)[1], leader=True).services
    fits = {f"{SVC}-{n}" for n in range(50)}
    payload = change_payload("a/1", {"SERVICE"}, {"SERVICE": fits})
    assert len(payload.encode()) <= PAYLOAD_LIMIT
    assert parse_change(payload)[1] == _known(SERVICE=fits)


def test_merging_a_debounce_window() -> None:
    a = _known(TASK={(CLUSTER, "service:a")}, SERVICE={SVC})
    b = _known(TASK={(CLUSTER, "service:b")}, TARGET={TG})
    assert merge(a, b) == _known(
        TASK={(CLUSTER, "service:a"), (CLUSTER, "service:b")}, SERVICE={SVC}, TARGET={TG}
    )
    unknown_task = Changes(frozenset({"TASK", "ALARM"}))
    merged = merge(a, unknown_task)
    assert merged == Changes(frozenset({"TASK", "SERVICE", "ALARM"}), {"SERVICE": frozenset({SVC})})
    assert merge(merged, b) == Changes(
        frozenset({"TASK", "SERVICE", "ALARM", "TARGET"}),
        {"SERVICE": frozenset({SVC}), "TARGET": frozenset({TG})},
    )  # an unknown kind stays unknown
    assert merge(a, None) is None and merge(None, a) is None
    assert merge(Changes(), a) == a
