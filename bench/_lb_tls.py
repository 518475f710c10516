"""The HTTPS phase of bench/lb.py: an ACM certificate, an HTTPS listener, its hand-written twin.

* `self_signed`: an RSA 2048 certificate (ACM's most common key type; the server's RSA
  signature is most of a full handshake's cost) for `bench.dockyard.test`
  (`dockyard.testing.certs`).
* `import_certificate` / `https_listener`: through the Dockyard server's APIs with boto3
  (ACM ImportCertificate; ELBv2 CreateListener, Protocol HTTPS, an SslPolicy), forwarding to
  the benchmark's target group.
* `tls_frontend`: the hand-written HAProxy's HTTPS frontend: the same certificate files
  (certificate `.pem`, key in the `.pem.key` beside it, as ACM's files are laid out), the
  same TLS versions and ciphers (the SslPolicy's, from `dockyard.acm.policies`, the table
  Dockyard's renderer reads), `alpn http/1.1` as Dockyard; nothing else.
* `ssl_counters`: `show stat`'s `ssl_sess` / `ssl_reused_sess` / `ssl_failed_handshake` of a
  frontend, to show how many handshakes were full ones and how many resumed sessions.

Pure helpers and API calls; bench/lb.py runs the processes and the load.
"""

from __future__ import annotations

import csv
import io
import os
import socket
import ssl
import statistics
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CERT_NAME = "bench.dockyard.test"
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # the console's default today


def self_signed(name: str = CERT_NAME) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM): self-signed, RSA 2048, valid for 7 days."""
    from dockyard.testing.certs import make_certificate

    return make_certificate(name, days=7)


def import_certificate(acm: Any, cert: bytes, key: bytes) -> str:
    """ACM ImportCertificate on the Dockyard server; the certificate's ARN."""
    answer = acm.import_certificate(
        Certificate=cert, PrivateKey=key, Tags=[{"Key": "bench", "Value": "lb.py"}]
    )
    return str(answer["CertificateArn"])


def https_listener(
    elb: Any, lb_arn: str, group_arn: str, *, port: int, cert_arn: str, ssl_policy: str
) -> str:
    """An HTTPS listener forwarding to the benchmark's target group; its ARN."""
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTPS",
        Port=port,
        SslPolicy=ssl_policy,
        Certificates=[{"CertificateArn": cert_arn}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
    )
    return str(listener["Listeners"][0]["ListenerArn"])


def write_certificate(directory: Path, cert: bytes, key: bytes) -> Path:
    """The hand-written HAProxy's copy, laid out as ACM's files: `<x>.pem` + `<x>.pem.key`."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = directory / "bench.pem"
    for path, data in ((pem.with_name(pem.name + ".key"), key), (pem, cert)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    return pem


def tls_frontend(port: int, pem: Path, backend: str, ssl_policy: str) -> list[str]:
    """The hand-written HTTPS frontend: the SslPolicy's versions and ciphers, nothing more."""
    from dockyard.acm.policies import policy

    chosen = policy(ssl_policy)
    if chosen is None:
        raise ValueError(f"unknown SslPolicy {ssl_policy!r}")
    return [
        "frontend bench-tls",
        f"    bind 127.0.0.1:{port} ssl crt {pem} {chosen.haproxy_options()} alpn http/1.1",
        f"    default_backend {backend}",
    ]


def https_get(url: str, timeout: float = 2.0) -> int:
    """Status of GET `url` over HTTPS without certificate verification (0: no answer)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def ssl_counters(admin_socket: Path, frontend: str) -> tuple[int, int, int] | None:
    """(full handshakes, resumed sessions, failed handshakes) of `frontend` so far."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2.0)
            sock.connect(str(admin_socket))
            sock.sendall(b"show stat\n")
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
    except OSError:
        return None
    text = b"".join(chunks).decode(errors="replace").lstrip("# ")
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("pxname") == frontend and row.get("svname") == "FRONTEND":
            values = [row.get(k) or "0" for k in ("ssl_sess", "ssl_reused_sess")]
            values.append(row.get("ssl_failed_handshake") or "0")
            return int(values[0]), int(values[1]), int(values[2])
    return None


def counter_delta(
    before: tuple[int, int, int] | None, after: tuple[int, int, int] | None
) -> dict[str, int] | None:
    if before is None or after is None:
        return None
    full, resumed, failed = (a - b for a, b in zip(after, before, strict=True))
    return {"full": full, "resumed": resumed, "failed": failed}


def bind_line(config: str, port: int) -> str:
    """The `bind` line of the frontend on `port` in a config, certificate paths shortened."""
    for line in config.splitlines():
        words = line.split()
        if words[:1] == ["bind"] and len(words) > 1 and words[1].endswith(f":{port}"):
            return " ".join(_short(w) for w in words)
    return "(not found)"


def _short(word: str) -> str:
    path = word.strip('"')
    return Path(path).name if path.startswith("/") else word


def figures_line(name: str, fig: dict[str, Any]) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in fig["errors"].items() if v) or "none"
    cpu = fig.get("haproxy_cpu_us_per_request")
    client = fig.get("client_cpu_us_per_request")
    cpu_text = f"{cpu:.0f} us" if cpu is not None else "-"
    client_text = f"{client:.0f} us" if client is not None else "-"
    p50, p99 = fig["p50_ms"], fig["p99_ms"]
    return (
        f"    {name:<26} {fig['rate']:>9,.0f} {p50:>8.2f} {p99:>8.2f} {fig['requests']:>9,}"
        f"  {errors:<24} {cpu_text:>9} {client_text:>9}"
    )


def paired_slices(ours: Sequence[float], theirs: Sequence[float]) -> str:
    """Slice-by-slice ratios (slice i of both targets ran in the same round, next to each
    other): their median and range, which a load spike in one round moves less than the
    pooled ratio."""
    ratios = sorted(a / b for a, b in zip(ours, theirs, strict=False) if b)
    if not ratios:
        return "-"
    return (
        f"median x{statistics.median(ratios):.2f} over {len(ratios)} slices "
        f"(x{ratios[0]:.2f}-x{ratios[-1]:.2f})"
    )


def report_https(https: dict[str, Any], names: Sequence[str], target: float) -> None:
    """The HTTPS section of the report: each measurement, then Dockyard / hand-written."""
    print(f"\n== HTTPS (TLS terminated by HAProxy), SslPolicy {https['ssl_policy']} ==")
    print(f"  hand-written: {https['hand_bind']}")
    print(f"  Dockyard:     {https['dockyard_bind']}")
    for key, title in (
        ("keepalive", "requests over keep-alive HTTPS connections"),
        ("resumed", "a new connection per request (wrk, Connection: close; sessions resumed)"),
        ("full", "a new connection per request, full handshakes (no session offered)"),
    ):
        phase = https.get(key)
        if not phase:
            continue
        print(f"  -- {title}: {phase['tool']}")
        print(
            f"    {'target':<26} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9}"
            f"  {'errors':<24} {'HAProxy':>9} {'client':>9}  (CPU per request)"
        )
        for name in names:
            print(figures_line(name, phase["figures"][name]))
        for name in names:
            ssl_seen = phase.get("handshakes", {}).get(name)
            if ssl_seen:
                print(
                    f"    {name}: HAProxy counted {ssl_seen['full']:,} full handshakes, "
                    f"{ssl_seen['resumed']:,} resumed sessions, {ssl_seen['failed']} failed "
                    "(warm-up included)"
                )
        ratio = phase["ratio"]
        verdict = "met" if ratio >= target else "NOT met"
        print(
            f"    Dockyard / hand-written: x{ratio:.2f} ({ratio:.0%}; "
            f"target >= {target:.0%}: {verdict})"
            + (f"; HAProxy CPU per request x{phase['cpu_ratio']:.2f}" if phase["cpu_ratio"] else "")
        )
        print(
            "    slices (req/s): "
            + "; ".join(
                f"{n} " + "/".join(f"{r:,.0f}" for r in phase["figures"][n]["slice_rates"])
                for n in names
            )
        )
        hand, dockyard = (phase["figures"][n]["slice_rates"] for n in names)
        print(f"    Dockyard / hand-written slice by slice: {paired_slices(dockyard, hand)}")
