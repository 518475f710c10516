"""The controllers' lease, fencing, write marks, NOTIFY and the servers registry
(dockyard.ha, store/sql.py). Fencing runs on both backends; the lease itself (PostgreSQL's
clock, several servers) only on PostgreSQL: SQLite serves one server, always the leader."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from dockyard.api.agent_channel import AgentHub
from dockyard.context import ApiContext, Changed
from dockyard.ha import lease
from dockyard.ha.elector import Elector
from dockyard.ha.notify import Kinds, Listener, dsn_of, parse_change
from dockyard.ha.sweep import plan_orphans, sweep
from dockyard.ha.wakeups import Changes, merge
from dockyard.store import Kind, schema
from dockyard.store.sql import FENCE, TAGS, FencedOut, SqlStore, change_payload, open_store

ARN = "arn:aws:ecs:us-east-1:000000000000:cluster/c1"


def _cluster(tx_store: SqlStore, arn: str = ARN) -> None:
    with tx_store.transaction() as tx:
        tx.insert(
            Kind.CLUSTER, arn, {"clusterArn": arn}, name=arn.rsplit("/", 1)[-1], status="ACTIVE"
        )


def _set_lease(store: SqlStore, holder: str, epoch: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.delete(schema.leases))
        conn.execute(
            sa.insert(schema.leases).values(name="controllers", holder=holder, epoch=epoch)
        )


@pytest.fixture
def pg(store: SqlStore, backend: str) -> SqlStore:
    if backend != "postgresql":
        pytest.skip("several servers share PostgreSQL only")
    return store


@pytest.fixture
def second(pg: SqlStore) -> Iterator[SqlStore]:
    """Another server's store on the same database (its own engine and pool)."""
    other = open_store(pg.engine.url.render_as_string(hide_password=False), migrate=False)
    yield other
    other.close()


# -- fencing: both backends ---------------------------------------------------------------------
def test_fence_accepts_the_holder_at_its_epoch(store: SqlStore) -> None:
    _set_lease(store, "a/1", 3)
    with store.transaction() as tx:
        tx.fence(3, "a/1")
        tx.insert(Kind.CLUSTER, ARN, {"clusterArn": ARN}, name="c1", status="ACTIVE")
    with store.read() as tx:
        assert tx.get(Kind.CLUSTER, ARN) is not None


@pytest.mark.parametrize(
    ("holder", "epoch"), [("b/2", 3), ("a/1", 2), ("a/1", 4)], ids=["other", "old", "new"]
)
def test_fence_refuses_anyone_else_and_writes_nothing(
    store: SqlStore, holder: str, epoch: int
) -> None:
    _set_lease(store, "a/1", 3)
    with pytest.raises(FencedOut), store.transaction() as tx:
        tx.insert(Kind.CLUSTER, ARN, {"clusterArn": ARN}, name="c1", status="ACTIVE")
        tx.fence(epoch, holder)
    with store.read() as tx:
        assert tx.get(Kind.CLUSTER, ARN) is None


def test_fence_refuses_without_a_lease(store: SqlStore) -> None:
    with pytest.raises(FencedOut), store.transaction() as tx:
        tx.fence(1, "a/1")


# -- the lease: PostgreSQL ----------------------------------------------------------------------
def test_one_holder_and_the_epoch_moves_with_the_holder(pg: SqlStore) -> None:
    first = lease.acquire(pg.engine, "a/1", ttl_s=30)
    assert first.held_by("a/1") and first.epoch == 1
    assert first.acquired_at is not None and first.expires_at is not None
    assert lease.acquire(pg.engine, "b/1", ttl_s=30).held_by("a/1")  # b follows
    renewed = lease.acquire(pg.engine, "a/1", ttl_s=30)
    assert renewed.epoch == 1 and renewed.acquired_at == first.acquired_at
    assert renewed.expires_at is not None and renewed.expires_at >= first.expires_at


def test_an_expired_lease_is_taken_with_a_new_epoch(pg: SqlStore) -> None:
    lease.acquire(pg.engine, "a/1", ttl_s=0.2)
    time.sleep(0.4)
    taken = lease.acquire(pg.engine, "b/1", ttl_s=30)
    assert taken.held_by("b/1") and taken.epoch == 2
    assert lease.acquire(pg.engine, "a/1", ttl_s=30).held_by("b/1")  # a cannot renew


def test_release_lets_another_take_it_at_once(pg: SqlStore) -> None:
    lease.acquire(pg.engine, "a/1", ttl_s=30)
    lease.release(pg.engine, "b/1")  # not the holder: nothing
    assert lease.acquire(pg.engine, "b/1", ttl_s=30).held_by("a/1")
    lease.release(pg.engine, "a/1")
    assert lease.acquire(pg.engine, "b/1", ttl_s=30).epoch == 2


def test_a_deposed_leader_writes_nothing(pg: SqlStore, second: SqlStore) -> None:
    """a leads at epoch 1, pauses past its lease; b takes it: a's fenced writes fail."""
    lease.acquire(pg.engine, "a/1", ttl_s=0.2)
    token = FENCE.set(("a/1", 1))
    try:
        _cluster(pg, ARN + "-before")  # still the leader: written
        time.sleep(0.4)
        assert lease.acquire(second.engine, "b/1", ttl_s=30).epoch == 2
        with pytest.raises(FencedOut):
            _cluster(pg)
    finally:
        FENCE.reset(token)
    _cluster(pg, ARN + "-api")  # unfenced writes (API handlers) still go through
    with second.read() as tx:
        assert tx.get(Kind.CLUSTER, ARN + "-before") is not None
        assert tx.get(Kind.CLUSTER, ARN) is None
        assert tx.get(Kind.CLUSTER, ARN + "-api") is not None


def test_a_fenced_write_holds_the_lease_until_it_commits(pg: SqlStore, second: SqlStore) -> None:
    """The takeover waits for the leader's open fenced transaction: the write lands first."""
    lease.acquire(pg.engine, "a/1", ttl_s=0.2)
    time.sleep(0.4)  # expired, nobody took it yet
    token = FENCE.set(("a/1", 1))
    try:
        with pg.transaction() as tx:
            tx.insert(Kind.CLUSTER, ARN, {"clusterArn": ARN}, name="c1", status="ACTIVE")
            with second.engine.connect() as conn:
                conn.exec_driver_sql("SET lock_timeout = '200ms'")
                with pytest.raises(sa.exc.OperationalError):  # blocked on the lease row
                    lease_row = sa.select(schema.leases).with_for_update()
                    conn.execute(lease_row)
    finally:
        FENCE.reset(token)
    taken = lease.acquire(second.engine, "b/1", ttl_s=30)
    assert taken.epoch == 2
    with second.read() as tx:
        assert tx.get(Kind.CLUSTER, ARN) is not None


def test_write_marks_report_other_writers(pg: SqlStore, second: SqlStore) -> None:
    pg.writer_id, second.writer_id = "a/1", "b/1"
    stale = {"a": 0, "b": 0}
    pg.on_stale(lambda: stale.__setitem__("a", stale["a"] + 1))
    second.on_stale(lambda: stale.__setitem__("b", stale["b"] + 1))
    _cluster(pg, ARN + "1")
    base = dict(stale)
    _cluster(pg, ARN + "2")  # a was the last writer: its caches hold
    assert stale == base
    _cluster(second, ARN + "3")
    assert stale == {"a": base["a"], "b": base["b"] + 1}
    _cluster(pg, ARN + "4")
    assert stale == {"a": base["a"] + 1, "b": base["b"] + 1}


def _read_in_write_tx(store: SqlStore) -> None:
    with store.transaction() as tx:  # takes the write lock, writes nothing
        tx.get(Kind.CLUSTER, ARN)


def test_notify_reaches_other_servers_only(pg: SqlStore, second: SqlStore) -> None:
    """Other writers' commits are heard with the kinds they wrote; this process's own and
    write transactions that wrote nothing are not."""
    pg.writer_id, second.writer_id = "a/1", "b/1"

    async def scenario() -> tuple[list[Kinds], list[Kinds]]:
        heard: list[Kinds] = []
        listener = Listener(dsn_of(pg.engine), "a/1", heard.append, debounce_s=0.01)
        listener.start()
        try:
            await asyncio.sleep(0.5)  # LISTEN issued
            await asyncio.to_thread(_cluster, pg, ARN + "own")
            await asyncio.to_thread(_read_in_write_tx, second)
            await asyncio.sleep(0.5)
            quiet = list(heard)
            await asyncio.to_thread(_tagged_cluster, second, ARN + "other")
            for _ in range(100):  # two commits: one call, or two when the machine is slow
                if {"CLUSTER", TAGS} <= _merged(heard[len(quiet) :]).kinds:
                    break
                await asyncio.sleep(0.05)
            return quiet, list(heard)
        finally:
            listener.stop()

    quiet, heard = asyncio.run(scenario())
    assert quiet == []
    assert _merged(heard) == Changes(frozenset({"CLUSTER", TAGS}))  # kinds without details


def _merged(heard: list[Kinds]) -> Changes:
    merged: Kinds = Changes()
    for changes in heard:
        merged = merge(merged, changes)
    assert merged is not None
    return merged


def _tagged_cluster(store: SqlStore, arn: str) -> None:
    _cluster(store, arn)
    with store.transaction() as tx:
        tx.put_tags(arn, [{"key": "k", "value": "v"}])


def test_change_payloads_round_trip() -> None:
    payload = change_payload("host:1|x/ab12", {"TASK", "SERVICE"})
    assert payload == "host:1|x/ab12|SERVICE,TASK"
    assert parse_change(payload) == ("host:1|x/ab12", Changes(frozenset({"SERVICE", "TASK"})))
    assert parse_change("a/1") == ("a/1", None)  # a writer id alone: anything may have changed


def _tasks(store: SqlStore, cluster: str, *groups: str) -> None:
    with store.transaction() as tx:
        for n, group in enumerate(groups):
            arn = f"{cluster}-task-{n}"
            tx.insert(
                Kind.TASK, arn, {"taskArn": arn, "clusterArn": cluster, "group": group},
                cluster=cluster, instance=None, family="f", started_by=None, task_group=group,
                desired_status="RUNNING", last_status="PENDING", reservation={},
            )  # fmt: skip


def test_a_followers_task_write_wakes_only_its_service_on_the_leader(
    pg: SqlStore, second: SqlStore
) -> None:
    """The NOTIFY payload names the task groups written (store/changes.py): the leader's
    service runner is handed those groups, as for a commit on the leader itself, not
    `everything` (every service reconciled)."""
    from dockyard.server import ServerConfig, ha_node

    ctx = ApiContext(store=pg)
    queued: list[Changed] = []
    ctx.on_change = queued.append  # the leader's service runner queue
    node = ha_node(ServerConfig(), ctx, AgentHub(ctx), pg, list)
    second.writer_id = "follower/1"

    async def scenario() -> list[Kinds]:
        heard: list[Kinds] = []

        def leader_hears(changes: Kinds) -> None:
            heard.append(changes)
            node.on_change(True, changes)

        listener = Listener(dsn_of(pg.engine), node.elector.instance, leader_hears, debounce_s=0.01)
        listener.start()
        try:
            await asyncio.sleep(0.5)  # LISTEN issued
            await asyncio.to_thread(_tasks, second, ARN, "service:web", "family:batch")
            for _ in range(100):
                if heard:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # nothing else arrives
            return heard
        finally:
            listener.stop()

    heard = asyncio.run(scenario())
    groups = frozenset({(ARN, "service:web"), (ARN, "family:batch")})
    assert heard == [Changes(frozenset({"TASK"}), {"TASK": groups})]
    assert queued == [Changed(task_groups=frozenset({(ARN, "service:web")}))]


def _instance(store: SqlStore, arn: str, **doc: object) -> None:
    with store.transaction() as tx:
        tx.insert(
            Kind.CONTAINER_INSTANCE, arn, {"containerInstanceArn": arn, "status": "ACTIVE", **doc},
            cluster="c", instance_id=arn, status="ACTIVE",
        )  # fmt: skip


def test_sweep_marks_the_orphans_and_reads_who_is_away(store: SqlStore) -> None:
    _instance(store, "i1", agentConnected=True, agentServer="s1")
    _instance(store, "i2", agentConnected=True, agentServer="dead")
    _instance(store, "i3", agentConnected=False, agentServer="dead", disconnectedAt=5.0)
    swept = sweep(store, {"s1"}, 10.0, reseed=True)
    assert (swept.marked, swept.at, swept.since) == (["i2"], 10.0, {"i3": 5.0})
    with store.read() as tx:
        doc = tx.get(Kind.CONTAINER_INSTANCE, "i2")
    assert doc is not None and not doc["agentConnected"] and doc["disconnectedAt"] == 10.0
    again = sweep(store, {"s1"}, 12.0, reseed=False)
    assert (again.marked, again.since) == ([], None)  # marked once; not reseeded this time
    assert sweep(store, {"s1"}, 12.0, reseed=True).since == {"i2": 10.0, "i3": 5.0}


def test_servers_registry_shows_the_leader(pg: SqlStore) -> None:
    lease.register(pg.engine, "s1", "s1/x", "http://127.0.0.1:1")
    lease.register(pg.engine, "s2", "s2/y", "http://127.0.0.1:2")
    lease.acquire(pg.engine, "s2/y", ttl_s=30)
    lease.heartbeat(pg.engine, "s1", "s1/x")
    rows = {row["name"]: row for row in lease.servers(pg.engine, ttl_s=30)}
    assert rows["s1"]["alive"] and not rows["s1"]["leader"]
    assert rows["s2"]["leader"] and rows["s2"]["epoch"] == 1 and rows["s2"]["leaderSince"]
    lease.register(pg.engine, "s2", "s2/z", "http://127.0.0.1:2")  # restarted: new process
    assert not {row["name"]: row for row in lease.servers(pg.engine, 30)}["s2"]["leader"]


def test_electors_agree_on_one_leader_and_fail_over(pg: SqlStore, second: SqlStore) -> None:
    events: list[tuple[str, str, int]] = []

    def elector(store: SqlStore, name: str) -> Elector:
        return Elector(
            store.engine,
            name,
            f"http://{name}",
            lambda epoch: events.append((name, "elected", epoch)),
            lambda: events.append((name, "deposed", 0)),
            ttl_s=1.0,
            interval_s=0.1,
        )

    async def scenario() -> tuple[list[tuple[str, str, int]], float]:
        a, b = elector(pg, "a"), elector(second, "b")
        tasks = [asyncio.create_task(a.run())]
        await asyncio.sleep(0.5)
        tasks.append(asyncio.create_task(b.run()))
        await asyncio.sleep(1.0)
        assert a.leader and not b.leader
        tasks[0].cancel()  # a dies without releasing: b waits for the TTL
        started = time.monotonic()
        for _ in range(600):  # 30 s at most
            if b.leader:
                break
            await asyncio.sleep(0.05)
        took = time.monotonic() - started
        tasks[1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await b.close()
        return list(events), took

    seen, took = asyncio.run(scenario())
    assert seen == [("a", "elected", 1), ("b", "elected", 2), ("b", "deposed", 0)]
    assert took < 30  # bounded; the TTL is 1 s


def test_orphans_are_the_instances_of_dead_servers() -> None:
    docs = [
        {"containerInstanceArn": "i1", "agentConnected": True, "agentServer": "s1"},
        {"containerInstanceArn": "i2", "agentConnected": True, "agentServer": "s2"},
        {"containerInstanceArn": "i3", "agentConnected": False, "agentServer": "s2"},
        {"containerInstanceArn": "i4", "agentConnected": True},  # a single server's
    ]
    assert plan_orphans(docs, {"s1"}) == ["i2"]
