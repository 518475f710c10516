"""Spread indexes kept by `ClusterState` equal ones built afresh, with many groups and
task shapes (issue 9).

A commit or release refreshes only the indexes it can move: those of the task's group,
and those of a task shape (cpu, memory) the instance crossed as it filled or emptied.
Random commits and releases of tasks of several groups and shapes on instances that
fill up must leave every index exactly as a new one built from the nodes.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.scheduler import ClusterState, InstanceView
from dockyard.scheduler.model import TaskRequest
from dockyard.scheduler.spread import Members, SpreadIndex

GROUPS = ["service:a", "service:b", "service:c"]
SHAPES = [(128, 256), (512, 512), (1024, 2048)]


def request(group: str, shape: tuple[int, int]) -> TaskRequest:
    return TaskRequest(task_definition="td", cpu=shape[0], memory=shape[1], group=group)


def instance(i: int) -> InstanceView:
    return InstanceView(
        arn=f"arn:i/{i}",
        instance_id=f"i-{i}",
        registered_cpu=2048,
        registered_memory=2048,
        remaining_cpu=2048,
        remaining_memory=2048,
        attributes={"zone": "ab"[i % 2]},
    )


def assert_indexes_fresh(state: ClusterState) -> None:
    for key, index in state._indexes.items():
        fresh = SpreadIndex(*key, state.nodes())
        assert {v: n for v, n in index.totals.items() if n} == {
            v: n for v, n in fresh.totals.items() if n
        }, key
        assert index._level_of == fresh._level_of, key
        assert {v: len(b) for v, b in index.members.items()} == {
            v: len(b) for v, b in fresh.members.items()
        }, key


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    ops=st.lists(
        st.tuples(
            st.booleans(),  # commit (True) or release the oldest placement (False)
            st.sampled_from(GROUPS),
            st.sampled_from(SHAPES),
            st.integers(0, 3),  # instance
        ),
        max_size=60,
    )
)
def test_indexes_of_many_groups_and_shapes_stay_exact(
    ops: list[tuple[bool, str, tuple[int, int], int]],
) -> None:
    state = ClusterState(instance(i) for i in range(4))
    for group in GROUPS:  # every (group, attribute, shape) index exists from the start
        for shape in SHAPES:
            state.spread_index(group, "zone", *shape)
            state.spread_index(group, None, *shape)
    placed = []
    for commit, group, shape, i in ops:
        if commit:
            node = state.node(f"arn:i/{i}")
            if node.cpu >= shape[0] and node.memory >= shape[1]:
                placed.append(state.commit(node.arn, request(group, shape)))
        elif placed:
            state.release(placed.pop(0))
        assert_indexes_fresh(state)


def buckets(index: SpreadIndex) -> tuple[object, ...]:
    """Everything the index holds, bucket orders included (random picks index them)."""
    return (
        index.totals,
        index._level_of,
        [(v, [n.idx for n in b]) for v, b in index.members.items()],
        [(v, [(c, [n.idx for n in b]) for c, b in by.items()]) for v, by in index.levels.items()],
    )


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    loads=st.lists(
        st.tuples(st.sampled_from(GROUPS), st.integers(0, 3), st.sampled_from(["a", "b", None])),
        min_size=1,
        max_size=30,
    ),
    shape=st.sampled_from(SHAPES),
    attribute=st.sampled_from(["zone", None]),
)
def test_an_index_built_in_one_pass_equals_one_built_node_by_node(
    loads: list[tuple[str, int, str | None]], shape: tuple[int, int], attribute: str | None
) -> None:
    """An index built from the nodes in one pass gives what `add` of each gives (its
    shared members first, as `ClusterState` adds a node)."""
    state = ClusterState(
        InstanceView(
            arn=f"arn:i/{i}",
            instance_id=f"i-{i}",
            registered_cpu=2048,
            registered_memory=2048,
            remaining_cpu=2048 - 512 * used,
            remaining_memory=2048 - 512 * used,
            status="DRAINING" if used == 3 else "ACTIVE",
            attributes={} if zone is None else {"zone": zone},
            task_groups={group: used + 1},
        )
        for i, (group, used, zone) in enumerate(loads)
    )
    nodes = list(state.nodes())
    members = Members(attribute, *shape, [])
    one_by_one = SpreadIndex("service:a", attribute, *shape, [], members=members)
    for node in nodes:
        members.add(node)
        one_by_one.add(node)
    assert buckets(SpreadIndex("service:a", attribute, *shape, nodes)) == buckets(one_by_one)


def test_a_group_index_holds_its_group_only_and_shares_the_members() -> None:
    """Hundreds of services keep their own index on thousands of instances: an index
    lists only the instances running its group (level 0 is the shared members minus
    those), and every group's index of one (attribute, shape) shares one `Members`."""
    state = ClusterState(instance(i) for i in range(1000))
    a = state.spread_index("service:a", "zone", 128, 256)
    b = state.spread_index("service:b", "zone", 128, 256)
    assert a.members is b.members and len(a._level_of) == 0
    for i in range(3):
        state.commit(f"arn:i/{i}", request("service:a", (128, 256)))
    assert sorted(a._level_of) == [state.node(f"arn:i/{i}").idx for i in range(3)]
    assert len(b._level_of) == 0
    assert len(a.zero("a")) == 500 - 2  # instances 0 and 2 are in zone "a"
    assert a.counts("a") == [0, 1] and a.has("b", 1) and not b.has("b", 1)
    assert_indexes_fresh(state)
