"""API benchmark: Dockyard vs moto vs a canned "client floor", through boto3 and raw HTTP.

    .venv/bin/python bench/api.py [--quick] [--load-tool auto|aiohttp|wrk] [--json OUT]

Everything runs on loopback, every load loop is bounded in count and in time,
and all figures are ratios against baselines measured in the same run:

1. boto3 (one ECS client, sequential calls, keep-alive): warm-up, then
   2,000 calls alternating RegisterTaskDefinition / DescribeTaskDefinition,
   then 1,000 DescribeTaskDefinition calls, against
     * floor    - an aiohttp server answering canned bytes (recorded from
                  Dockyard in this run): what boto3 itself can do;
     * dockyard - `dockyard server` on a temporary data dir;
     * moto     - `moto_server`.
   Reported: calls/s, Dockyard/moto and Dockyard as % of the floor.
2. Raw HTTP (N keep-alive connections, fixed duration and request cap):
   requests/s and p50/p99 latency of DescribeTaskDefinition and
   RegisterTaskDefinition against the same three servers.
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
from collections.abc import Callable
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
)

REGION = "us-east-1"
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
    return {
        "X-Amz-Target": f"{ECS_TARGET_PREFIX}.{action}",
        "Content-Type": JSON_11,
        "X-Amz-Date": "20250101T000000Z",
        "Authorization": FAKE_AUTH,
    }


def raw_post(endpoint: str, action: str, params: dict[str, Any]) -> bytes:
    """One request with urllib (setup only; not timed)."""
    request = urllib.request.Request(
        endpoint + "/",
        data=json.dumps(params).encode(),
        headers=raw_headers(action),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes(answer.read())


# --- 1. boto3 -------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    planned: int
    calls: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    @property
    def truncated(self) -> bool:
        return self.calls < self.planned


@dataclass
class Boto3Result:
    target: str
    phases: list[Phase] = field(default_factory=list)


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


@dataclass(frozen=True)
class Boto3Spec:
    mixed: int  # calls alternating register / describe
    describes: int  # describe-only calls
    warmup: int  # register+describe pairs before timing
    time_limit: float  # seconds per phase


def run_boto3(target: str, endpoint: str, spec: Boto3Spec) -> Boto3Result:
    mixed, describes, time_limit = spec.mixed, spec.describes, spec.time_limit
    client = ecs_client(endpoint)
    for i in range(spec.warmup):  # also loads botocore's lazy bits: not timed
        arn = client.register_task_definition(**task_definition(f"warmup-{i}", i))[
            "taskDefinition"
        ]["taskDefinitionArn"]
        client.describe_task_definition(taskDefinition=arn)

    result = Boto3Result(target)
    arns: list[str] = []

    mixed_phase = Phase(f"register+describe x{mixed}", mixed)
    started = time.perf_counter()
    deadline = started + time_limit
    for i in range(mixed):
        if time.perf_counter() > deadline:
            break
        if i % 2 == 0:
            answer = client.register_task_definition(**task_definition(f"bench-{i // 2}", i))
            arns.append(answer["taskDefinition"]["taskDefinitionArn"])
        else:
            answer = client.describe_task_definition(taskDefinition=arns[-1])
            assert answer["taskDefinition"]["containerDefinitions"], answer
        mixed_phase.calls += 1
    mixed_phase.seconds = time.perf_counter() - started
    result.phases.append(mixed_phase)

    describe_phase = Phase(f"describe x{describes}", describes)
    if not arns:
        answer = client.register_task_definition(**task_definition("bench-0"))
        arns.append(answer["taskDefinition"]["taskDefinitionArn"])
    started = time.perf_counter()
    deadline = started + time_limit
    for i in range(describes):
        if time.perf_counter() > deadline:
            break
        answer = client.describe_task_definition(taskDefinition=arns[i % len(arns)])
        assert answer["taskDefinition"]["containerDefinitions"], answer
        describe_phase.calls += 1
    describe_phase.seconds = time.perf_counter() - started
    result.phases.append(describe_phase)
    client.close()
    return result


# --- 2. raw HTTP ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    action: str
    connections: int
    duration: float  # seconds measured
    max_requests: int  # cap on measured requests
    warmup: float  # seconds of unmeasured load first (also capped in count)


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

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def describe_body(_i: int) -> bytes:
    return json.dumps({"taskDefinition": "raw-describe:1"}).encode()


def register_body(i: int) -> bytes:
    return json.dumps(task_definition(f"raw-{i}", i)).encode()


BODIES: dict[str, Callable[[int], bytes]] = {
    "DescribeTaskDefinition": describe_body,
    "RegisterTaskDefinition": register_body,
}


async def _aiohttp_load(url: str, spec: LoadSpec) -> tuple[int, float, list[float]]:
    import aiohttp

    connections = spec.connections
    headers = raw_headers(spec.action)
    make_body = BODIES[spec.action]
    counter = itertools.count()
    latencies: list[float] = []
    errors = 0

    # aiohttp's connector enables TCP_NODELAY on every connection it opens.
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker(stop_at: float, cap: int, record: bool) -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                i = next(counter)
                if i >= cap:
                    return
                body = make_body(i)
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    ok = answer.status == 200
                if record:
                    latencies.append(time.perf_counter() - t0)
                    errors += not ok

        # Warm-up: open the connections and settle the server (bounded too).
        warm_cap = max(connections * 20, 200)
        stop_at = time.perf_counter() + spec.warmup
        await asyncio.gather(*(worker(stop_at, warm_cap, False) for _ in range(connections)))
        counter = itertools.count(warm_cap)
        started = time.perf_counter()
        stop_at = started + spec.duration
        cap = warm_cap + spec.max_requests
        await asyncio.gather(*(worker(stop_at, cap, True) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return errors, elapsed, latencies


def aiohttp_load(target: str, endpoint: str, spec: LoadSpec) -> LoadResult:
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        errors, seconds, latencies = runner.run(_aiohttp_load(endpoint + "/", spec))
    latencies.sort()
    return LoadResult(
        target,
        spec.action,
        "aiohttp",
        len(latencies),
        errors,
        seconds,
        percentile(latencies, 0.50) * 1e3,
        percentile(latencies, 0.99) * 1e3,
    )


WRK_SCRIPT = r"""
-- Generated by bench/api.py: POST with AWS JSON 1.1 headers; stop after max_requests.
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
    local family = "wrk-" .. tid .. "-" .. counter
    body = '%(register_prefix)s' .. family .. '%(register_suffix)s'
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

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk_load(target: str, endpoint: str, spec: LoadSpec, threads: int = 2) -> LoadResult:
    action, connections, duration, warmup = spec.action, spec.connections, spec.duration, spec.warmup
    wrk = shutil.which("wrk")
    assert wrk is not None
    template = json.dumps(task_definition("FAMILY", 0), separators=(",", ":"))
    before, after = template.split("FAMILY")
    threads = max(1, min(threads, connections))
    script = WRK_SCRIPT % {
        "action": action,
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
        base = [wrk, "-t", str(threads), "-c", str(connections), "-s", str(path)]
        base += ["--timeout", "10s"]
        if warmup > 0:
            subprocess.run(
                [*base, "-d", f"{max(1, round(warmup))}s", endpoint + "/"],
                capture_output=True,
                timeout=warmup + 30,
                check=True,
            )
        out = subprocess.run(
            [*base, "--latency", "-d", f"{max(1, round(duration))}s", endpoint + "/"],
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=True,
        ).stdout
    requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore[union-attr]
    span = re.search(r"requests in ([\d.]+)(us|ms|s)", out)
    seconds = _wrk_ms(span.group(1) + span.group(2)) / 1e3 if span else duration
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    return LoadResult(
        target,
        action,
        "wrk",
        requests,
        errors,
        seconds,
        _wrk_ms(p50.group(1)) if p50 else float("nan"),
        _wrk_ms(p99.group(1)) if p99 else float("nan"),
    )


# --- driver ---------------------------------------------------------------------------------


def record_canned_responses(dockyard_endpoint: str) -> dict[str, bytes]:
    """Real Dockyard answers, replayed byte for byte by the floor server."""
    registered = raw_post(
        dockyard_endpoint, "RegisterTaskDefinition", task_definition("bench-canned", 0)
    )
    arn = json.loads(registered)["taskDefinition"]["taskDefinitionArn"]
    described = raw_post(dockyard_endpoint, "DescribeTaskDefinition", {"taskDefinition": arn})
    return {"RegisterTaskDefinition": registered, "DescribeTaskDefinition": described}


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:.0f}%" if b else "n/a"


def print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def summarize(boto: dict[str, Boto3Result], loads: list[LoadResult], args: argparse.Namespace) -> None:
    print()
    print("=" * 100)
    print("boto3 ECS client: one client, sequential calls, calls/s (higher is better)")
    print("=" * 100)
    rows = []
    names = [p.name for p in next(iter(boto.values())).phases]
    for index, name in enumerate(names):
        rate = {t: r.phases[index].rate for t, r in boto.items()}
        trunc = any(r.phases[index].truncated for r in boto.values())
        rows.append([
            name + (" (time-capped)" if trunc else ""),
            fmt_rate(rate.get("floor", 0)),
            fmt_rate(rate.get("dockyard", 0)),
            fmt_rate(rate.get("moto", 0)),
            ratio(rate.get("dockyard", 0), rate.get("moto", 0)),
            pct(rate.get("dockyard", 0), rate.get("floor", 0)),
        ])  # fmt: skip
    print_table(rows, ["phase", "floor", "dockyard", "moto", "dockyard/moto", "dockyard % floor"])

    if not loads:
        return
    print()
    print("=" * 100)
    tool = loads[0].tool
    print(
        f"raw HTTP ({tool}, {args.connections} keep-alive connections, "
        f"{args.duration:g} s per run, cap {args.max_requests:,} requests)"
    )
    print("=" * 100)
    by_key = {(r.target, r.action): r for r in loads}
    rows = []
    for result in loads:
        dock = by_key.get(("dockyard", result.action))
        vs = ""
        if result.target == "dockyard":
            moto = by_key.get(("moto", result.action))
            floor = by_key.get(("floor", result.action))
            vs = f"{ratio(result.rate, moto.rate) if moto else 'n/a'} of moto, "
            vs += f"{pct(result.rate, floor.rate) if floor else 'n/a'} of floor"
        elif dock is not None and result.rate:
            vs = ""
        rows.append([
            f"{result.target:<8} {result.action}",
            fmt_rate(result.rate),
            f"{result.p50_ms:.2f}",
            f"{result.p99_ms:.2f}",
            f"{result.requests:,}",
            str(result.errors),
            vs,
        ])  # fmt: skip
    print_table(rows, ["server / action", "req/s", "p50 ms", "p99 ms", "requests", "errors", "dockyard vs"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixed-calls", type=int, default=2000, help="register/describe calls")
    parser.add_argument("--describe-calls", type=int, default=1000)
    parser.add_argument("--warmup-calls", type=int, default=5)
    parser.add_argument("--phase-time-limit", type=float, default=20.0,
                        help="seconds; a boto3 phase stops early past this")  # fmt: skip
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per raw run")
    parser.add_argument("--raw-warmup", type=float, default=0.5, help="seconds")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=100_000, help="cap per raw run")
    parser.add_argument("--load-tool", choices=["auto", "aiohttp", "wrk"], default="auto",
                        help="auto: wrk when on PATH, else aiohttp")  # fmt: skip
    parser.add_argument("--targets", default="floor,dockyard,moto",
                        help="comma list among floor,dockyard,moto")  # fmt: skip
    parser.add_argument("--skip-raw", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny counts, for a smoke test")
    parser.add_argument("--profile", type=Path, metavar="OUT.prof",
                        help="run Dockyard under cProfile, write stats here (slows it)")  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write raw results")
    args = parser.parse_args(argv)
    if args.quick:
        args.mixed_calls, args.describe_calls, args.duration = 100, 50, 1.0
    tool = args.load_tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "aiohttp"
    if tool == "wrk" and not shutil.which("wrk"):
        parser.error("--load-tool wrk: wrk is not on PATH (apt-get install wrk)")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if "floor" in targets and "dockyard" not in targets:
        parser.error("the floor replays Dockyard's answers: include dockyard in --targets")

    install_signal_handlers()
    t_start = time.monotonic()
    boto: dict[str, Boto3Result] = {}
    loads: list[LoadResult] = []
    try:
        with ServerSet() as servers:
            endpoints: dict[str, ServerProcess] = {}
            if "dockyard" in targets:
                prefix = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
                endpoints["dockyard"] = servers.start(dockyard_server(python_prefix=prefix))
            if "moto" in targets:
                endpoints["moto"] = servers.start(moto_server(host="127.0.0.2"))
            if "dockyard" in endpoints:
                endpoints["dockyard"].wait_ready()
            if "floor" in targets:
                canned = record_canned_responses(endpoints["dockyard"].endpoint)
                endpoints["floor"] = servers.start(canned_server(canned))
            servers.wait_all_ready()
            order = [t for t in ("floor", "dockyard", "moto") if t in endpoints]
            for name, server in endpoints.items():
                print(f"{name:>8}: {server.endpoint} (pid {server.pid})")
            print(f"servers ready in {time.monotonic() - t_start:.1f}s; load tool: {tool}")

            for name in order:
                spec = Boto3Spec(
                    args.mixed_calls, args.describe_calls, args.warmup_calls, args.phase_time_limit
                )
                result = run_boto3(name, endpoints[name].endpoint, spec)
                boto[name] = result
                rates = ", ".join(f"{p.name}: {p.rate:,.0f}/s" for p in result.phases)
                print(f"boto3 {name:>8}: {rates}", flush=True)

            if not args.skip_raw:
                load = wrk_load if tool == "wrk" else aiohttp_load
                for name in order:
                    raw_post(
                        endpoints[name].endpoint,
                        "RegisterTaskDefinition",
                        task_definition("raw-describe", 0),
                    )
                for action in ("DescribeTaskDefinition", "RegisterTaskDefinition"):
                    for name in order:
                        load_spec = LoadSpec(
                            action,
                            args.connections,
                            args.duration,
                            args.max_requests,
                            args.raw_warmup,
                        )
                        result = load(name, endpoints[name].endpoint, load_spec)
                        loads.append(result)
                        print(
                            f"raw {name:>8} {action}: {result.rate:,.0f} req/s, "
                            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                            f"{result.errors} errors",
                            flush=True,
                        )
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped", file=sys.stderr)
        return 130

    summarize(boto, loads, args)
    print(f"\ntotal {time.monotonic() - t_start:.1f}s")
    if args.profile:
        print_profile(args.profile)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "boto3": {t: [asdict(p) | {"rate": p.rate} for p in r.phases]
                              for t, r in boto.items()},
                    "raw": [asdict(r) | {"rate": r.rate} for r in loads],
                },
                indent=2,
            )
        )  # fmt: skip
    return 0


def print_profile(path: Path, limit: int = 30) -> None:
    import pstats

    if not path.exists():
        print(f"(no profile written at {path})")
        return
    print(f"\ncProfile of the Dockyard server ({path}), top {limit} by cumulative time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(limit)


if __name__ == "__main__":
    sys.exit(main())
