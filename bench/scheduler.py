"""Placements per second of the pure scheduler (dockyard.scheduler.place).

For each cluster size and strategy, fills a fresh cluster one task at a time -
`place(state, request, 1, ...)`, committed before the next call, as a service
controller scaling up would - until a task no longer fits or the time budget of
the cell runs out, then prints a table.

Cluster: a mix of small/medium/large instances (2/4/8 vCPU, 4/8/16 GiB) over
three availability zones; task: 256 CPU units, 512 MiB, one dynamic host port.

    .venv/bin/python bench/scheduler.py [--sizes 100 1000 5000] [--budget 20]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Mapping, Sequence

from dockyard.scheduler import ClusterState, InstanceView, TaskRequest, place

SHAPES = [(2048, 4096), (4096, 8192), (8192, 16384)]
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
STRATEGIES: dict[str, list[dict[str, str]]] = {
    "binpack(memory)": [{"type": "binpack", "field": "memory"}],
    "spread(az)+spread(instanceId)": [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "spread", "field": "instanceId"},
    ],
    "random": [{"type": "random"}],
    # ECS console template "AZ balanced binpack" (not in the brief, but common):
    "spread(az)+binpack(memory)": [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "binpack", "field": "memory"},
    ],
}
REQUEST = TaskRequest(
    task_definition="web:1", cpu=256, memory=512, group="service:web", dynamic_ports_tcp=1
)


def cluster(size: int, rng: random.Random) -> list[InstanceView]:
    out = []
    for i in range(size):
        cpu, memory = rng.choice(SHAPES)
        out.append(
            InstanceView(
                arn=f"arn:aws:ecs:us-east-1:000000000000:container-instance/bench/{i:032x}",
                instance_id=f"i-{i:017x}",
                registered_cpu=cpu,
                registered_memory=memory,
                remaining_cpu=cpu,
                remaining_memory=memory,
                attributes={
                    "ecs.availability-zone": ZONES[i % len(ZONES)],
                    "ecs.instance-type": {2048: "m5.large", 4096: "m5.xlarge"}.get(cpu, "m5.2xl"),
                    "ecs.os-type": "linux",
                },
                reserved_ports_tcp=frozenset({22, 2375, 2376, 51678, 51679}),
            )
        )
    return out


def fill(
    instances: Sequence[InstanceView], strategy: Sequence[Mapping[str, str]], budget: float
) -> tuple[int, float, bool, float]:
    """(placements, seconds, reached full, seconds of the final failing call)."""
    state = ClusterState(instances)
    rng = random.Random(1)
    placed = 0
    start = time.perf_counter()
    deadline = start + budget
    while True:
        before = time.perf_counter()
        result = place(state, REQUEST, 1, strategy, [], rng)
        if result.unplaced:
            return placed, before - start, True, time.perf_counter() - before
        placed += 1
        if before > deadline:
            return placed, time.perf_counter() - start, False, 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per cell")
    args = parser.parse_args()
    header = (
        f"{'instances':>9}  {'strategy':<30} {'placed':>7} {'full':>5} "
        f"{'seconds':>8} {'place/s':>9} {'us/place':>9} {'fail call ms':>12}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        instances = cluster(size, random.Random(size))
        for name, strategy in STRATEGIES.items():
            placed, seconds, full, fail = fill(instances, strategy, args.budget)
            rate = placed / seconds if seconds else float("inf")
            print(
                f"{size:>9}  {name:<30} {placed:>7} {'yes' if full else 'no':>5} "
                f"{seconds:>8.2f} {rate:>9.0f} {1e6 / rate:>9.1f} {fail * 1e3:>12.2f}"
            )


if __name__ == "__main__":
    main()
