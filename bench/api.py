"""API benchmark: Dockyard vs moto vs a canned "client floor", through boto3 and raw HTTP.

    .venv/bin/python bench/api.py [--quick] [--load-tool aiohttp|wrk] [--json OUT]

Everything runs on loopback, every load loop is bounded in count and in time,
and every figure is compared with baselines measured in the same run. Servers:

  floor     an aiohttp server replaying canned bytes (Dockyard's own answers,
            recorded at the start of the run): what the client itself can do;
  dockyard  `dockyard server` on a temporary data dir (SQLite);
  dockyard-pg  with `--postgres`: `dockyard server --store-url` on a throwaway, durable
            (fsync on) PostgreSQL cluster from Debian's postgresql; its CPU per request
            counts the database's processes too;
  moto      `moto_server` (moto's standalone Flask server).

1. boto3 - one ECS client per server, sequential calls, keep-alive: a few
   warm-up calls, then 2,000 calls alternating RegisterTaskDefinition and
   DescribeTaskDefinition, then 1,000 DescribeTaskDefinition calls. Reported:
   calls/s, Dockyard/moto, and Dockyard as % of the floor.
2. Raw HTTP - N keep-alive connections (aiohttp client, or wrk): requests/s and
   p50/p99 latency of DescribeTaskDefinition and RegisterTaskDefinition.
3. Server CPU per request in both (from /proc): the figure that barely moves
   with other load on the machine.

The three servers are measured interleaved (blocks of calls, or slices of the
raw load, in rotation) so that background load on a shared machine hits all of
them alike and the ratios stay meaningful even when absolute numbers wander.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _servers import (
    ECS_TARGET_PREFIX,
    JSON_11,
    ServerProcess,
    ServerSet,
    canned_server,
    dockyard_server,
    install_signal_handlers,
    moto_server,
    postmaster_pid,
    tree_cpu_seconds,
)
from dockyard.testing.postgres import throwaway_postgres

REGION = "us-east-1"
TARGETS = ("floor", "dockyard", "dockyard-pg", "moto")
DEFAULT_TARGETS = ("floor", "dockyard", "moto")  # dockyard-pg: --postgres
ACTIONS = ("DescribeTaskDefinition", "RegisterTaskDefinition")
FAKE_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20250101/us-east-1/ecs/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)


def task_definition(family: str, n: int = 0) -> dict[str, Any]:
    """A realistic small task definition: one web container, bridge mode, dynamic host port."""
    return {
        "family": family,
        "containerDefinitions": [
            {
                "name": "web",
                "image": "public.ecr.aws/nginx/nginx:1.27",
                "memory": 256,
                "cpu": 128,
                "essential": True,
                "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
                "environment": [
                    {"name": "STAGE", "value": "bench"},
                    {"name": "INSTANCE", "value": str(n)},
                ],
            }
        ],
    }


def raw_headers(action: str) -> dict[str, str]:
    """What an SDK sends, with a well-formed but unchecked SigV4 Authorization header."""
    return {
        "X-Amz-Target": f"{ECS_TARGET_PREFIX}.{action}",
        "Content-Type": JSON_11,
        "X-Amz-Date": "20250101T000000Z",
        "Authorization": FAKE_AUTH,
    }


def raw_post(endpoint: str, action: str, params: dict[str, Any]) -> bytes:
    """One request with urllib (set-up only; never timed)."""
    request = urllib.request.Request(
        endpoint + "/",
        data=json.dumps(params).encode(),
        headers=raw_headers(action),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes(answer.read())


def rotated(items: list[Any], k: int) -> list[Any]:
    """`items` starting at position k: who goes first changes from round to round."""
    k %= len(items)
    return items[k:] + items[:k]


# --- 1. boto3 -------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    planned: int
    calls: int = 0
    seconds: float = 0.0
    server_cpu: float | None = 0.0  # seconds of server CPU; None where unknown

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    @property
    def truncated(self) -> bool:
        return self.calls < self.planned

    @property
    def cpu_us(self) -> float | None:
        """Server CPU per call, in microseconds."""
        return cpu_per_request_us(self.server_cpu, self.calls)


def cpu_per_request_us(cpu: float | None, requests: int) -> float | None:
    return cpu / requests * 1e6 if cpu is not None and requests else None


def add_cpu(total: float | None, before: float | None, after: float | None) -> float | None:
    if total is None or before is None or after is None:
        return None
    return total + after - before


@dataclass(frozen=True)
class Boto3Spec:
    mixed: int  # calls alternating register / describe
    describes: int  # describe-only calls
    warmup: int  # register+describe pairs before timing
    time_limit: float  # seconds per phase and server
    wall_limit: float  # seconds for the whole section, all servers together
    block: int = 100  # calls per server before the next server's turn


def ecs_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    # urllib3 (under botocore) sets TCP_NODELAY on its sockets by default.
    return boto3.client(
        "ecs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="bench-secret",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=1),
    )


class Boto3Workload:
    """One server's client and state; the calls are numbered so every server gets the same."""

    def __init__(self, target: str, server: ServerProcess, spec: Boto3Spec) -> None:
        self.target = target
        self.server = server
        self.client = ecs_client(server.endpoint)
        self.arns: list[str] = []
        self.warm_arns: list[str] = []
        self.phases = [
            Phase(f"register+describe x{spec.mixed}", spec.mixed),
            Phase(f"describe x{spec.describes}", spec.describes),
        ]

    def warm(self, pairs: int) -> None:
        """Connect, and load botocore's lazily built parts; not timed."""
        for i in range(max(1, pairs)):
            answer = self.client.register_task_definition(**task_definition(f"warmup-{i}", i))
            self.warm_arns.append(answer["taskDefinition"]["taskDefinitionArn"])
            self.client.describe_task_definition(taskDefinition=self.warm_arns[-1])

    def mixed_call(self, i: int) -> None:
        if i % 2 == 0:
            answer = self.client.register_task_definition(**task_definition(f"bench-{i // 2}", i))
            self.arns.append(answer["taskDefinition"]["taskDefinitionArn"])
        else:
            answer = self.client.describe_task_definition(taskDefinition=self.arns[-1])
            assert answer["taskDefinition"]["containerDefinitions"], answer

    def describe_call(self, i: int) -> None:
        arns = self.arns or self.warm_arns
        answer = self.client.describe_task_definition(taskDefinition=arns[i % len(arns)])
        assert answer["taskDefinition"]["containerDefinitions"], answer


def run_boto3(servers: Mapping[str, ServerProcess], spec: Boto3Spec) -> dict[str, list[Phase]]:
    workloads = [Boto3Workload(name, server, spec) for name, server in servers.items()]
    for workload in workloads:
        workload.warm(spec.warmup)
    section_start = time.perf_counter()
    plan: list[tuple[int, str, float]] = [
        (spec.mixed, "mixed_call", section_start + spec.wall_limit * 2 / 3),
        (spec.describes, "describe_call", section_start + spec.wall_limit),
    ]
    for index, (count, method, deadline) in enumerate(plan):
        for round_no, start in enumerate(range(0, count, spec.block)):
            if time.perf_counter() > deadline:
                break  # the run's time budget: every server stops at the same call
            stop = min(count, start + spec.block)
            for workload in rotated(workloads, round_no):
                phase = workload.phases[index]
                if phase.seconds >= spec.time_limit:
                    continue  # this server's time is up: reported as time-capped
                call: Callable[[int], None] = getattr(workload, method)
                cpu_before = workload.server.cpu_seconds()
                started = time.perf_counter()
                for i in range(start, stop):
                    call(i)
                phase.seconds += time.perf_counter() - started
                phase.calls += stop - start
                phase.server_cpu = add_cpu(
                    phase.server_cpu, cpu_before, workload.server.cpu_seconds()
                )
        print(
            "boto3 "
            + ", ".join(f"{w.target}: {w.phases[index].rate:,.0f}/s" for w in workloads)
            + f"  ({workloads[0].phases[index].name})",
            flush=True,
        )
    for workload in workloads:
        workload.client.close()
    return {w.target: w.phases for w in workloads}


# --- 2. raw HTTP ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    action: str
    connections: int
    duration: float  # seconds measured per server, split into `slices`
    max_requests: int  # cap on measured requests per server
    warmup: float  # seconds of unmeasured load first (capped in count too)
    slices: int = 4


@dataclass
class LoadResult:
    target: str
    action: str
    tool: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu: float | None  # seconds of server CPU during the measured requests

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float | None:
        return cpu_per_request_us(self.server_cpu, self.requests)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def describe_body(_i: int) -> bytes:
    return b'{"taskDefinition":"raw-describe:1"}'


def register_body(i: int) -> bytes:
    return json.dumps(task_definition(f"raw-{i}", i), separators=(",", ":")).encode()


BODIES: dict[str, Callable[[int], bytes]] = {
    "DescribeTaskDefinition": describe_body,
    "RegisterTaskDefinition": register_body,
}


@dataclass
class _Driver:
    """Keeps one server's connections, request numbering and latencies across slices."""

    session: Any
    server: ServerProcess
    spec: LoadSpec
    counter: itertools.count[int] = field(default_factory=itertools.count)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    server_cpu: float | None = 0.0

    async def run(self, seconds: float, cap: int, record: bool) -> None:
        """`connections` workers until `seconds` pass or `cap` more requests are sent."""
        from aiohttp import ClientError

        headers = raw_headers(self.spec.action)
        make_body = BODIES[self.spec.action]
        url = self.server.endpoint + "/"
        stop_at = time.perf_counter() + seconds
        issued = 0

        async def worker() -> None:
            nonlocal issued
            while time.perf_counter() < stop_at and issued < cap:
                issued += 1
                body = make_body(next(self.counter))
                t0 = time.perf_counter()
                try:
                    async with self.session.post(url, data=body, headers=headers) as answer:
                        await answer.read()
                        ok = answer.status == 200
                except (ClientError, OSError, TimeoutError):
                    ok = False
                if record:
                    self.latencies.append(time.perf_counter() - t0)
                    self.errors += not ok

        cpu_before = self.server.cpu_seconds()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(self.spec.connections)))
        if record:
            self.seconds += time.perf_counter() - started
            self.server_cpu = add_cpu(self.server_cpu, cpu_before, self.server.cpu_seconds())


async def _aiohttp_rotation(
    servers: Mapping[str, ServerProcess], spec: LoadSpec
) -> dict[str, _Driver]:
    import aiohttp

    drivers: dict[str, _Driver] = {}
    async with contextlib.AsyncExitStack() as stack:
        for name, server in servers.items():
            # aiohttp's connector enables TCP_NODELAY on every connection it opens.
            connector = aiohttp.TCPConnector(
                limit=spec.connections, limit_per_host=spec.connections
            )
            session = await stack.enter_async_context(
                aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10))
            )
            drivers[name] = _Driver(session, server, spec)
        for driver in drivers.values():  # open the connections, settle the server
            await driver.run(spec.warmup, max(20 * spec.connections, 200), record=False)
        per_slice = spec.duration / spec.slices
        for slice_no in range(spec.slices):
            for driver in rotated(list(drivers.values()), slice_no):
                left = spec.max_requests - len(driver.latencies)
                if left > 0:
                    await driver.run(per_slice, left, record=True)
    return drivers


def aiohttp_load(servers: Mapping[str, ServerProcess], spec: LoadSpec) -> list[LoadResult]:
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        drivers = runner.run(_aiohttp_rotation(servers, spec))
    results = []
    for name, driver in drivers.items():
        latencies = sorted(driver.latencies)
        results.append(
            LoadResult(
                name,
                spec.action,
                "aiohttp",
                len(latencies),
                driver.errors,
                driver.seconds,
                percentile(latencies, 0.50) * 1e3,
                percentile(latencies, 0.99) * 1e3,
                driver.server_cpu,
            )
        )
    return results


WRK_SCRIPT = r"""
-- Generated by bench/api.py: AWS JSON 1.1 POSTs; each thread stops after max_per_thread.
local action, max_per_thread = "%(action)s", %(max_per_thread)d
local threads, counter, done = {}, 0, 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "%(content_type)s"
wrk.headers["X-Amz-Target"] = "%(prefix)s." .. action
wrk.headers["X-Amz-Date"] = "20250101T000000Z"
wrk.headers["Authorization"] = "%(auth)s"
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function request()
  counter = counter + 1
  local body
  if action == "RegisterTaskDefinition" then
    body = '%(register_prefix)s' .. "wrk-" .. tid .. "-" .. counter .. '%(register_suffix)s'
  else
    body = '{"taskDefinition":"raw-describe:1"}'
  end
  return wrk.format(nil, "/", nil, body)
end
function response(status, headers, body)
  done = done + 1
  if done >= max_per_thread then wrk.thread:stop() end
end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def _wrk_once(endpoint: str, spec: LoadSpec, seconds: int, threads: int = 2) -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not on PATH (apt-get install wrk)")
    before, after = json.dumps(task_definition("FAMILY"), separators=(",", ":")).split("FAMILY")
    threads = max(1, min(threads, spec.connections))
    script = WRK_SCRIPT % {
        "action": spec.action,
        "max_per_thread": max(1, spec.max_requests // threads),
        "content_type": JSON_11,
        "prefix": ECS_TARGET_PREFIX,
        "auth": FAKE_AUTH,
        "register_prefix": before,
        "register_suffix": after,
    }
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        path = Path(tmp) / "post.lua"
        path.write_text(script)
        argv = [wrk, "-t", str(threads), "-c", str(spec.connections), "-s", str(path)]
        argv += ["--timeout", "10s", "--latency", "-d", f"{seconds}s", endpoint + "/"]
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 30, check=True
        ).stdout


def wrk_load(servers: Mapping[str, ServerProcess], spec: LoadSpec) -> list[LoadResult]:
    """wrk, one whole run per server (its percentiles cannot be merged across slices)."""
    results = []
    for name, server in servers.items():
        if spec.warmup > 0:
            _wrk_once(server.endpoint, spec, 1)
        cpu_before = server.cpu_seconds()
        out = _wrk_once(server.endpoint, spec, max(1, round(spec.duration)))
        server_cpu = add_cpu(0.0, cpu_before, server.cpu_seconds())
        span = re.search(r"(\d+) requests in ([\d.]+(?:us|ms|s|m))", out)
        if span is None:
            raise RuntimeError(f"cannot parse wrk output:\n{out}")
        errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
        socket_errors = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if socket_errors:
            errors += sum(int(g) for g in socket_errors.groups())
        p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
        p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
        results.append(
            LoadResult(
                name,
                spec.action,
                "wrk",
                int(span.group(1)),
                errors,
                _wrk_ms(span.group(2)) / 1e3,
                _wrk_ms(p50.group(1)) if p50 else float("nan"),
                _wrk_ms(p99.group(1)) if p99 else float("nan"),
                server_cpu,
            )
        )
    return results


# --- report ---------------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:.0f}%" if a and b else "n/a"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(header))
    print("-" * len(line(header)))
    for row in rows:
        print(line(row))


def summarize(
    boto: Mapping[str, list[Phase]], loads: list[LoadResult], args: argparse.Namespace
) -> None:
    bar = "=" * 96
    if boto:
        print(f"\n{bar}\nboto3 ECS client: one client per server, sequential calls, calls/s")
        print(f"(servers interleaved in blocks of {args.block} calls)\n{bar}")
        rows = []
        some = next(iter(boto.values()))
        for index, phase in enumerate(some):
            rate = {name: phases[index].rate for name, phases in boto.items()}
            capped = [name for name, phases in boto.items() if phases[index].truncated]
            rows.append(
                [
                    phase.name + (f" (time-capped: {','.join(capped)})" if capped else ""),
                    *(f"{rate[t]:,.0f}" if t in rate else "-" for t in TARGETS),
                    ratio(rate.get("dockyard", 0), rate.get("moto", 0)),
                    pct(rate.get("dockyard", 0), rate.get("floor", 0)),
                    pct(rate.get("dockyard-pg", 0), rate.get("dockyard", 0)),
                ]
            )
        header = ["phase", *TARGETS, "dockyard/moto", "dockyard % of floor", "pg % of sqlite"]
        print_table(header, rows)
    if loads:
        print(
            f"\n{bar}\nraw HTTP: {loads[0].tool}, {args.connections} keep-alive connections, "
            f"{args.duration:g} s per server and action, cap {args.max_requests:,} requests\n{bar}"
        )
        by_key = {(r.target, r.action): r for r in loads}
        rows = []
        for result in loads:
            note = ""
            if result.target == "dockyard":
                moto = by_key.get(("moto", result.action))
                floor = by_key.get(("floor", result.action))
                note = f"{ratio(result.rate, moto.rate) if moto else 'n/a'} moto, "
                note += f"{pct(result.rate, floor.rate) if floor else 'n/a'} of floor"
            if result.target == "dockyard-pg":
                sqlite = by_key.get(("dockyard", result.action))
                note = f"{pct(result.rate, sqlite.rate) if sqlite else 'n/a'} of dockyard (SQLite)"
            rows.append(
                [
                    f"{result.action:<24} {result.target}",
                    f"{result.rate:,.0f}",
                    f"{result.p50_ms:.2f}",
                    f"{result.p99_ms:.2f}",
                    f"{result.requests:,}",
                    str(result.errors),
                    note,
                ]
            )
        header = ["action / server", "req/s", "p50 ms", "p99 ms", "requests", "errors"]
        print_table([*header, "dockyard vs"], rows)
    print_cpu_table(boto, loads)


def print_cpu_table(boto: Mapping[str, list[Phase]], loads: list[LoadResult]) -> None:
    """Server CPU per request: what each server spends, nearly independent of machine load."""
    rows: list[tuple[str, dict[str, float | None]]] = []
    if boto:
        for index, phase in enumerate(next(iter(boto.values()))):
            rows.append((f"boto3 {phase.name}", {t: p[index].cpu_us for t, p in boto.items()}))
    for action in ACTIONS:
        cpu = {r.target: r.cpu_us for r in loads if r.action == action}
        if cpu:
            rows.append((f"raw {action}", cpu))
    if not rows or all(v is None for _, cpu in rows for v in cpu.values()):
        return
    bar = "=" * 96
    print(f"\n{bar}\nserver CPU per request, microseconds (user+system, from /proc)\n{bar}")

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    table = []
    for label, cpu in rows:
        dock, floor, moto = cpu.get("dockyard"), cpu.get("floor"), cpu.get("moto")
        table.append(
            [
                label,
                *(cell(cpu.get(t)) for t in TARGETS),
                cell(dock - floor if dock is not None and floor is not None else None),
                ratio(moto or 0, dock or 0),
            ]
        )
    print_table(["workload", *TARGETS, "dockyard - floor", "moto/dockyard"], table)


def print_profile(path: Path, limit: int = 35) -> None:
    import pstats

    if not path.exists():
        print(f"(no profile written at {path})")
        return
    print(f"\ncProfile of the Dockyard server ({path}), top {limit} by cumulative time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(limit)


# --- driver ---------------------------------------------------------------------------------


def record_canned_responses(dockyard_endpoint: str) -> dict[str, bytes]:
    """Real Dockyard answers, replayed byte for byte by the floor server."""
    registered = raw_post(
        dockyard_endpoint, "RegisterTaskDefinition", task_definition("bench-canned")
    )
    arn = json.loads(registered)["taskDefinition"]["taskDefinitionArn"]
    described = raw_post(dockyard_endpoint, "DescribeTaskDefinition", {"taskDefinition": arn})
    return {"RegisterTaskDefinition": registered, "DescribeTaskDefinition": described}


def start_servers(
    servers: ServerSet, args: argparse.Namespace, stack: contextlib.ExitStack
) -> dict[str, ServerProcess]:
    targets: list[str] = args.targets
    started: dict[str, ServerProcess] = {}
    if "dockyard-pg" in targets:
        pg = stack.enter_context(throwaway_postgres(durable=True))
        url = pg.create_database("bench_api")
        server = dockyard_server(extra_args=["--store-url", url])
        server.extra_cpu = lambda: tree_cpu_seconds(postmaster_pid(pg.data_dir))
        started["dockyard-pg"] = servers.start(server)
    if "dockyard" in targets:
        prefix = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
        env = None
        if args.dockyard_src:  # another tree (e.g. a `git archive` of a commit) first on the path
            src = args.dockyard_src.resolve()
            if (src / "src" / "dockyard").is_dir():
                src = src / "src"
            if not (src / "dockyard").is_dir():
                raise SystemExit(f"--dockyard-src: no dockyard package in {src}")
            env = {"PYTHONPATH": str(src)}
            print(f"dockyard source: {src}")
        server = dockyard_server(python_prefix=prefix, env=env)
        started["dockyard"] = servers.start(server)
    if "moto" in targets:
        started["moto"] = servers.start(moto_server(host="127.0.0.2"))
    if "floor" in targets:
        canned = record_canned_responses(started["dockyard"].wait_ready().endpoint)
        started["floor"] = servers.start(canned_server(canned))
    servers.wait_all_ready()
    for name in TARGETS:
        if name in started:
            print(f"{name:>8}: {started[name].endpoint} (pid {started[name].pid})")
    return {name: started[name] for name in TARGETS if name in started}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--mixed-calls", type=int, default=2000, help="boto3 register/describe calls")
    add("--describe-calls", type=int, default=1000, help="boto3 describe calls")
    add("--warmup-calls", type=int, default=5, help="boto3 register+describe pairs")
    add("--block", type=int, default=100, help="boto3 calls per server per turn")
    add("--phase-time-limit", type=float, default=20.0, help="s per boto3 phase and server")
    add("--budget", type=float, default=85.0, help="s for the whole run (boto3 gets the rest)")
    add("--duration", type=float, default=4.0, help="s of raw load per server and action")
    add("--raw-warmup", type=float, default=0.5, help="s of unmeasured raw load first")
    add("--connections", type=int, default=8, help="raw load keep-alive connections")
    add("--max-requests", type=int, default=100_000, help="raw requests cap per run")
    add("--load-tool", choices=["aiohttp", "wrk"], default="aiohttp")
    add(
        "--targets",
        default=",".join(DEFAULT_TARGETS),
        help="comma list of floor,dockyard,dockyard-pg,moto",
    )
    add("--postgres", action="store_true", help="add dockyard-pg (the store on PostgreSQL)")
    add("--skip-boto3", action="store_true")
    add("--skip-raw", action="store_true")
    add("--quick", action="store_true", help="small counts: a smoke test in ~15 s")
    add("--profile", type=Path, metavar="OUT.prof", help="run Dockyard under cProfile")
    add("--dockyard-src", type=Path, metavar="DIR", help="server code from DIR or DIR/src")
    add("--json", type=Path, metavar="OUT.json", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.mixed_calls, args.describe_calls, args.duration, args.block = 200, 100, 1.0, 50
    wanted = {x.strip() for x in args.targets.split(",")} | (
        {"dockyard-pg"} if args.postgres else set()
    )
    args.targets = [t for t in TARGETS if t in wanted]
    if not args.targets:
        parser.error("--targets: name at least one of floor,dockyard,moto")
    if "floor" in args.targets and "dockyard" not in args.targets:
        parser.error("the floor replays Dockyard's answers: include dockyard in --targets")
    if args.load_tool == "wrk" and not shutil.which("wrk"):
        parser.error("--load-tool wrk: wrk is not on PATH (apt-get install wrk)")
    return args


def raw_seconds(args: argparse.Namespace, servers: int) -> float:
    """What the raw section will take: its runs are fixed in time."""
    duration, warmup = float(args.duration), float(args.raw_warmup)
    if args.load_tool == "wrk":
        per_run = max(1, round(duration)) + (1 if warmup > 0 else 0) + 0.3
    else:
        per_run = duration + warmup + 0.2
    return len(ACTIONS) * servers * per_run + 1.0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    t_start = time.monotonic()
    boto: dict[str, list[Phase]] = {}
    loads: list[LoadResult] = []
    try:
        with contextlib.ExitStack() as stack, ServerSet() as servers:
            targets = start_servers(servers, args, stack)
            print(f"servers ready in {time.monotonic() - t_start:.1f}s", flush=True)
            if not args.skip_boto3:
                raw_time = 0.0 if args.skip_raw else raw_seconds(args, len(targets))
                wall = max(10.0, args.budget - (time.monotonic() - t_start) - raw_time)
                spec = Boto3Spec(
                    args.mixed_calls,
                    args.describe_calls,
                    args.warmup_calls,
                    args.phase_time_limit,
                    wall,
                    args.block,
                )
                boto = run_boto3(targets, spec)
            if not args.skip_raw:
                for server in targets.values():
                    describe_me = task_definition("raw-describe")
                    raw_post(server.endpoint, "RegisterTaskDefinition", describe_me)
                load = wrk_load if args.load_tool == "wrk" else aiohttp_load
                for action in ACTIONS:
                    load_spec = LoadSpec(
                        action, args.connections, args.duration, args.max_requests, args.raw_warmup
                    )
                    results = load(targets, load_spec)
                    loads += results
                    print(
                        f"raw {action}: "
                        + ", ".join(f"{r.target} {r.rate:,.0f} req/s" for r in results),
                        flush=True,
                    )
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped", file=sys.stderr)
        return 130
    except SystemExit as stop:  # SIGTERM/SIGHUP (install_signal_handlers)
        print(f"\nstopped ({stop.code}): servers stopped", file=sys.stderr)
        raise

    summarize(boto, loads, args)
    print(f"\ntotal {time.monotonic() - t_start:.1f}s (servers stopped)")
    if args.profile:
        print_profile(args.profile)
    if args.json:
        document = {
            "boto3": {
                name: [asdict(p) | {"rate": p.rate, "cpu_us": p.cpu_us} for p in phases]
                for name, phases in boto.items()
            },
            "raw": [asdict(r) | {"rate": r.rate, "cpu_us": r.cpu_us} for r in loads],
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
