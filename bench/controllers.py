"""What one service-controller step costs as the cluster grows (in process, no agents).

Builds a cluster through the API handlers on a throwaway SQLite store: N container
instances (connected), S services sharing T tasks, all RUNNING, and H STOPPED tasks
in the measured service's history; then times:

    steady step      `step(ctx, arn)` of a steady service (nothing to do)
    change step      one of its tasks STOPPED -> the step that replaces it
    describe         DescribeServices of every service (10 at most per call)
    instance pass    the instance controller's pass (lost hosts + STOPPED expiry)

Usage: python bench/controllers.py --instances 1000 5000 --tasks 10000 [--json out.json]
Runs against whatever `dockyard` is importable, so the same script measures an older
tree (PYTHONPATH=/path/to/old/src) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dockyard.api.ecs.clusters import create_cluster
from dockyard.api.ecs.container_instances import register_container_instance
from dockyard.api.ecs.services import create_service, describe_services, update_service
from dockyard.api.ecs.task_definitions import register_task_definition
from dockyard.context import ApiContext
from dockyard.controllers import instances as instance_controller
from dockyard.controllers.services.loop import step
from dockyard.store import Kind
from dockyard.store.sql import open_store, sqlite_url
from dockyard.tasks.reports import apply_reports

CLUSTER = "bench"


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def _report_all(ctx: ApiContext, status: str, where: dict[str, Any]) -> int:
    with ctx.store.transaction() as tx:
        rows = tx.find(Kind.TASK, where)
        for task in rows:
            report = {"taskArn": task["taskArn"], "lastStatus": status}
            apply_reports(tx, [report], task["containerInstanceArn"], ctx.now())
    return len(rows)


def _converge(ctx: ApiContext, arn: str, limit: int = 20) -> None:
    for _ in range(limit):
        if not step(ctx, arn):
            return
        _report_all(ctx, "RUNNING", {"task_group": "service:" + arn.rsplit("/", 1)[-1],
                                     "last_status": ["PROVISIONING", "PENDING"]})  # fmt: skip


def build(ctx: ApiContext, instances: int, tasks: int, services: int, history: int) -> list[str]:
    create_cluster(ctx, {"clusterName": CLUSTER})
    register_task_definition(
        ctx,
        {
            "family": "bench",
            "containerDefinitions": [{"name": "app", "image": "x", "cpu": 8, "memory": 32}],
        },
    )
    resources = [
        {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": 16384},
    ]
    for _ in range(instances):
        register_container_instance(ctx, {"cluster": CLUSTER, "totalResources": resources})
    with ctx.store.transaction() as tx:
        for doc in tx.find(Kind.CONTAINER_INSTANCE, {"status": "ACTIVE"}):
            doc["agentConnected"] = True
            tx.update(Kind.CONTAINER_INSTANCE, doc["containerInstanceArn"], doc)
    arns = []
    for i in range(services):
        name = f"svc{i:03}"
        out = create_service(
            ctx,
            {"cluster": CLUSTER, "serviceName": name, "taskDefinition": "bench",
             "desiredCount": tasks // services},
        )  # fmt: skip
        arns.append(out["service"]["serviceArn"])
        _converge(ctx, arns[-1])
    # History: tasks of the measured service that STOPPED (within the retention hour).
    first, per = arns[0], tasks // services
    while history > 0:
        extra = min(history, 500)
        update_service(ctx, {"cluster": CLUSTER, "service": "svc000", "desiredCount": per + extra})
        step(ctx, first)
        _report_all(ctx, "STOPPED", {"task_group": "service:svc000", "last_status": "PROVISIONING"})
        update_service(ctx, {"cluster": CLUSTER, "service": "svc000", "desiredCount": per})
        _converge(ctx, first)
        history -= extra
    return arns


def measure(instances: int, tasks: int, services: int, history: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(sqlite_url(tmp))
        ctx = ApiContext(store=store)
        started = time.perf_counter()
        arns = build(ctx, instances, tasks, services, history)
        setup_s = time.perf_counter() - started
        steady, change, describe, instance_pass = [], [], [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            step(ctx, arns[0])
            steady.append(time.perf_counter() - t0)
        for _ in range(runs):
            with ctx.store.transaction() as tx:
                task = tx.find(
                    Kind.TASK, {"task_group": "service:svc000", "last_status": "RUNNING"}, limit=1
                )[0]
                apply_reports(
                    tx,
                    [{"taskArn": task["taskArn"], "lastStatus": "STOPPED"}],
                    task["containerInstanceArn"],
                    ctx.now(),
                )
            t0 = time.perf_counter()
            step(ctx, arns[0])
            change.append(time.perf_counter() - t0)
            _converge(ctx, arns[0])
        names = [a.rsplit("/", 1)[-1] for a in arns][:10]
        for _ in range(runs):
            t0 = time.perf_counter()
            describe_services(ctx, {"cluster": CLUSTER, "services": names})
            describe.append(time.perf_counter() - t0)
        settings = instance_controller.InstanceSettings()
        for _ in range(max(3, runs // 4)):
            t0 = time.perf_counter()
            instance_controller.step(ctx, settings)
            instance_pass.append(time.perf_counter() - t0)
        store.close()
    return {
        "instances": instances,
        "tasks": tasks,
        "stopped_history": history,
        "setup_s": round(setup_s, 1),
        "steady_step": _ms(steady),
        "change_step": _ms(change),
        "describe_services": _ms(describe),
        "instance_pass": _ms(instance_pass),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--history", type=int, default=2000, help="STOPPED tasks of svc000")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results = []
    for n in args.instances:
        result = measure(n, args.tasks, args.services, args.history, args.runs)
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps({"sizes": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
