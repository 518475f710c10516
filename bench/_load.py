"""Load generators of the data-plane benchmarks, and the interleaved slices they run in.

* `wrk_run`: wrk on several URLs at once (HTTP or HTTPS; extra headers such as
  `Connection: close`); its `done()` hook prints 1000 latency quantiles per run.
* `aiohttp_run`: a bounded aiohttp generator in this process, when wrk is missing.
* `handshake_run`: full TLS handshakes, one new connection (and no session resumption)
  per request, from worker processes (`python bench/_load.py handshakes ...`): wrk
  resumes TLS sessions on its reconnects, so it cannot measure full handshakes.
* `throughput`: targets measured in interleaved slices (the order reverses each slice,
  so a shared machine's background load hits every target alike), with the CPU time of
  a process per target (HAProxy's worker) per request; `merged` folds the slices.

Loopback only (`check_loopback`), every run bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _servers import check_loopback, process_cpu_seconds

QUANTILES = 1000  # latency points per load run: the ((i + 0.5) / 1000)-quantiles

WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("DYB summary %d %d %d %d %d %d %d\\n", summary.duration,
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout))
  for i = 0, 999 do
    io.write(string.format("DYB q %d\\n", latency:percentile((i + 0.5) / 10)))
  end
end
"""


class BenchError(RuntimeError):
    pass


# --- load generation ------------------------------------------------------------------------


@dataclass
class LoadRun:
    """One load generator run against one URL."""

    url: str
    requests: int
    duration_s: float
    errors: dict[str, int]
    points_ms: list[float]  # latency quantiles, QUANTILES of them (empty without requests)
    client_cpu_s: float | None = None  # the load generator's CPU in the run, when it knows

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


def wrk_run(
    urls: Sequence[str],
    threads: int,
    connections: int,
    seconds: int,
    script: Path,
    *,
    headers: Sequence[str] = (),
) -> list[LoadRun]:
    """wrk on every URL at once (threads/connections split between them); `headers` as
    wrk's `-H` (e.g. `Connection: close`: a new connection, and TLS handshake, per request)."""
    procs: list[subprocess.Popen[str]] = []
    try:
        for url in urls:
            argv = ["wrk", "-t", str(max(1, threads // len(urls)))]
            argv += ["-c", str(max(1, connections // len(urls))), "-d", f"{seconds}s"]
            argv += ["--timeout", "5s", "-s", str(script)]
            for header in headers:
                argv += ["-H", header]
            argv.append(url)
            procs.append(
                subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            )
        runs = []
        for url, proc in zip(urls, procs, strict=True):
            out, err = proc.communicate(timeout=seconds + 30)
            if proc.returncode != 0:
                raise BenchError(f"wrk {url} failed ({proc.returncode}): {err.strip()}")
            runs.append(parse_wrk(url, out))
        return runs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def parse_wrk(url: str, out: str) -> LoadRun:
    summary: list[int] | None = None
    points: list[float] = []
    for line in out.splitlines():
        if line.startswith("DYB summary "):
            summary = [int(v) for v in line.split()[2:]]
        elif line.startswith("DYB q "):
            points.append(int(line.split()[2]) / 1000.0)
    if summary is None:
        raise BenchError(f"wrk printed no summary for {url}:\n{out}")
    duration_us, requests, connect, read, write, status, timeout = summary
    errors = {"connect": connect, "read": read, "write": write, "non2xx3xx": status}
    errors["timeout"] = timeout
    return LoadRun(url, requests, duration_us / 1e6, errors, points if requests else [])


def quantile_points(latencies_ms: list[float]) -> list[float]:
    if not latencies_ms:
        return []
    ordered = sorted(latencies_ms)
    n = len(ordered)
    return [ordered[min(n - 1, int((i + 0.5) / QUANTILES * n))] for i in range(QUANTILES)]


async def _aiohttp_load(
    urls: Sequence[str], connections: int, seconds: float, max_requests: int
) -> list[LoadRun]:
    import aiohttp

    async def one_url(url: str, conns: int) -> LoadRun:
        latencies: list[float] = []
        errors = {"connect": 0, "read": 0, "write": 0, "non2xx3xx": 0, "timeout": 0}
        # HTTPS: the benchmark's certificates are self-signed; no verification (as wrk).
        connector = aiohttp.TCPConnector(limit=conns, ssl=False)
        timeout = aiohttp.ClientTimeout(total=5)
        loop = asyncio.get_running_loop()
        start = loop.time()
        end = start + seconds
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def worker() -> None:
                while loop.time() < end and len(latencies) < max_requests:
                    t0 = time.perf_counter()
                    try:
                        async with session.get(url) as answer:
                            await answer.read()
                            if answer.status >= 400:
                                errors["non2xx3xx"] += 1
                    except TimeoutError:
                        errors["timeout"] += 1
                        continue
                    except aiohttp.ClientConnectorError:
                        errors["connect"] += 1
                        continue
                    except aiohttp.ClientError:
                        errors["read"] += 1
                        continue
                    latencies.append((time.perf_counter() - t0) * 1000)

            await asyncio.gather(*(worker() for _ in range(conns)))
        elapsed = loop.time() - start
        return LoadRun(url, len(latencies), elapsed, errors, quantile_points(latencies))

    per = max(1, connections // len(urls))
    return list(await asyncio.gather(*(one_url(u, per) for u in urls)))


def aiohttp_run(urls: Sequence[str], connections: int, seconds: int) -> list[LoadRun]:
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    return list(runner(_aiohttp_load(urls, connections, seconds, max_requests=2_000_000)))


def merged(slices: list[list[LoadRun]]) -> dict[str, Any]:
    """Rate over all slices (concurrent runs of a slice add up), and merged percentiles."""
    requests = sum(r.requests for runs in slices for r in runs)
    wall = sum(max(r.duration_s for r in runs) for runs in slices if runs)
    weighted: list[tuple[float, float]] = []
    for runs in slices:
        for run in runs:
            if run.points_ms:
                weight = run.requests / len(run.points_ms)
                weighted += [(p, weight) for p in run.points_ms]
    weighted.sort()
    total = sum(w for _, w in weighted)

    def pct(p: float) -> float:
        if not weighted:
            return float("nan")
        goal, acc = total * p / 100, 0.0
        for value, weight in weighted:
            acc += weight
            if acc >= goal:
                return value
        return weighted[-1][0]

    errors: dict[str, int] = {}
    for runs in slices:
        for run in runs:
            for key, count in run.errors.items():
                errors[key] = errors.get(key, 0) + count
    return {
        "requests": requests,
        "seconds": wall,
        "rate": requests / wall if wall else 0.0,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "errors": errors,
        "slice_rates": [sum(r.rate for r in runs) for runs in slices],
    }


# --- full TLS handshakes: one new connection and session per request ----------------------


def handshake_run(
    urls: Sequence[str], clients: int, seconds: int, max_requests: int = 200_000
) -> list[LoadRun]:
    """`clients` worker processes (split between the URLs), each a loop of: connect, full
    TLS handshake (a new SSL context state, no session offered), `GET` with
    `Connection: close`, read to the end. One LoadRun per worker (they run at once).

    Processes, not threads: the client's own handshake work must not queue on one GIL.
    The workers start together at a given time, after their interpreter is up.
    """
    per = max(1, clients // len(urls))
    start_at = time.time() + 1.5  # interpreter start-up is not part of the run
    procs: list[tuple[str, subprocess.Popen[str]]] = []
    try:
        for url in urls:
            check_loopback(urlsplit(url).hostname or "")
            for _ in range(per):
                argv = [sys.executable, str(Path(__file__).resolve()), "handshakes"]
                argv += ["--url", url, "--seconds", str(seconds), "--start-at", str(start_at)]
                argv += ["--max", str(max(1, max_requests // (per * len(urls))))]
                procs.append(
                    (
                        url,
                        subprocess.Popen(
                            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                        ),
                    )
                )
        runs = []
        for url, proc in procs:
            out, err = proc.communicate(timeout=seconds + 30)
            if proc.returncode != 0:
                raise BenchError(f"handshake client {url} failed ({proc.returncode}): {err}")
            doc = json.loads(out)
            runs.append(
                LoadRun(
                    url,
                    doc["requests"],
                    doc["duration_s"],
                    doc["errors"],
                    doc["points_ms"],
                    client_cpu_s=doc["cpu_s"],
                )
            )
        return runs
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def _read_all(tls: ssl.SSLSocket, limit: int = 1 << 20) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        try:
            data = tls.recv(65536)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):  # closed without/with close_notify
            break
        if not data:
            break
        chunks.append(data)
        size += len(data)
    return b"".join(chunks)


def handshakes(url: str, seconds: float, start_at: float, max_requests: int) -> dict[str, Any]:
    """One worker's loop (see `handshake_run`); latency = connect + handshake + request +
    the whole response, per request."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    check_loopback(host)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed, as wrk (no verification either)
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "User-Agent: dockyard-bench\r\nConnection: close\r\n\r\n"
    ).encode()
    errors = dict.fromkeys(("connect", "read", "write", "non2xx3xx", "timeout", "tls"), 0)
    errors["resumed"] = 0  # must stay 0: every handshake is a full one
    time.sleep(max(0.0, start_at - time.time()))
    latencies: list[float] = []
    cpu_start = _own_cpu()
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end and len(latencies) < max_requests:
        t0 = time.perf_counter()
        try:
            raw = socket.create_connection((host, port), timeout=5)
        except TimeoutError:
            errors["timeout"] += 1
            continue
        except OSError:
            errors["connect"] += 1
            continue
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with context.wrap_socket(raw) as tls:
                errors["resumed"] += int(tls.session_reused)
                tls.sendall(request)
                answer = _read_all(tls)
        except TimeoutError:
            errors["timeout"] += 1
            continue
        except ssl.SSLError:
            errors["tls"] += 1
            continue
        except OSError:
            errors["read"] += 1
            continue
        finally:
            raw.close()
        latencies.append((time.perf_counter() - t0) * 1000)
        status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/") else b"0"
        if not status.isdigit() or not 200 <= int(status) < 400:
            errors["non2xx3xx"] += 1
    return {
        "requests": len(latencies),
        "duration_s": time.monotonic() - start,
        "cpu_s": _own_cpu() - cpu_start,  # the loop's, without the interpreter's start-up
        "errors": errors,
        "points_ms": quantile_points(latencies),
    }


# --- interleaved slices ---------------------------------------------------------------------

Load = Callable[[Sequence[str], int], list[LoadRun]]  # (urls, seconds) -> concurrent runs


def throughput(
    load: Load,
    targets: dict[str, list[str]],
    cpu_pids: dict[str, Callable[[], int | None]],
    slices: int,
    seconds: int,
) -> dict[str, Any]:
    """Each target `slices` times for `seconds`, interleaved, after a 1 s warm-up each.

    Per target also the CPU time per request of a process (`cpu_pids`: HAProxy's worker)
    and of the load generator (what its runs report, else its child processes' CPU: wrk's;
    nothing for the in-process aiohttp generator).
    """
    names = list(targets)
    for name in names:  # warm-up, not counted
        load(targets[name], 1)
    runs_of: dict[str, list[list[LoadRun]]] = {name: [] for name in names}
    cpu: dict[str, float] = dict.fromkeys(names, 0.0)
    client_cpu: dict[str, float] = dict.fromkeys(names, 0.0)
    order = names[:]
    for index in range(slices):
        for name in order:
            pid_of = cpu_pids.get(name)
            pid = pid_of() if pid_of else None
            before = process_cpu_seconds(pid) if pid else None
            children = _children_cpu()
            runs = load(targets[name], seconds)
            known = [r.client_cpu_s for r in runs if r.client_cpu_s is not None]
            client_cpu[name] += sum(known) if known else _children_cpu() - children
            after = process_cpu_seconds(pid) if pid else None
            if before is not None and after is not None:
                cpu[name] += after - before
            runs_of[name].append(runs)
            print(
                f"  slice {index + 1}/{slices} {name:<26} "
                f"{sum(r.rate for r in runs):>9,.0f} req/s  load {os.getloadavg()[0]:.1f}"
            )
        order.reverse()
    result = {}
    for name in names:
        figures = merged(runs_of[name])
        if figures["requests"]:
            if name in cpu_pids:
                figures["haproxy_cpu_us_per_request"] = cpu[name] / figures["requests"] * 1e6
            if client_cpu[name] > 0:
                figures["client_cpu_us_per_request"] = client_cpu[name] / figures["requests"] * 1e6
        result[name] = figures
    return result


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    times = os.times()
    return times.children_user + times.children_system


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("handshakes", help="one full-handshake worker (JSON on stdout)")
    worker.add_argument("--url", required=True)
    worker.add_argument("--seconds", type=float, required=True)
    worker.add_argument("--start-at", type=float, default=0.0, help="epoch seconds")
    worker.add_argument("--max", type=int, default=200_000, help="requests at most")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 120:
        parser.error("--seconds 0..120")
    print(json.dumps(handshakes(args.url, args.seconds, args.start_at, args.max)))


if __name__ == "__main__":
    _main()
