"""Honest load balancer State, on a real server and a real HAProxy (boto3 elbv2):

- HAProxy missing (`--haproxy /nonexistent`): a load balancer with a listener shows
  State `failed` with a reason naming the binary; one without listeners stays active;
- `kill -9` of HAProxy's master and workers: the server restarts it with the current
  configuration and the listener answers again within about a second.

The listener answers a fixed response, so no Docker is needed. Loops are bounded.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ServerProcess, pick_port, wait_for
from tests.e2e.lb_stack import answers_ok, lb_state

pytestmark = pytest.mark.e2e
RESTART_LIMIT_S = 1.5  # the controller's 0.5 s step + validate + start, on a busy machine


def serve_fixed(elbv2: Any, name: str) -> tuple[str, int]:
    arn = elbv2.create_load_balancer(Name=name, Type="application", Scheme="internal")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    port = pick_port()
    elbv2.create_listener(
        LoadBalancerArn=arn,
        Protocol="HTTP",
        Port=port,
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "200", "MessageBody": "ok"},
            }
        ],
    )
    return arn, port


def test_missing_haproxy_shows_failed_with_a_reason(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", extra_args=["--haproxy", "/nonexistent"])
    try:
        server.start()
        elbv2 = server.client("elbv2")
        elbv2.create_load_balancer(Name="idle", Type="application", Scheme="internal")
        serve_fixed(elbv2, "web")
        found = wait_for(
            lambda: (s := lb_state(elbv2, "web"))["Code"] == "failed" and s,
            timeout=10,
            interval=0.1,
            what="State failed",
        )
        print(f"\nState: {found}")
        assert "/nonexistent" in found["Reason"], found
        assert lb_state(elbv2, "idle") == {"Code": "active"}
    finally:
        server.stop()


def haproxy_pids(data_dir: Path) -> list[int]:
    """The master (pid file) and its children, the workers."""
    master = int((data_dir / "haproxy" / "haproxy.pid").read_text().split()[0])
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def test_killed_haproxy_is_restarted_within_a_second(lb_server: ServerProcess) -> None:
    elbv2 = lb_server.client("elbv2")
    _arn, port = serve_fixed(elbv2, "web")
    wait_for(lambda: answers_ok(port), timeout=10, what="listener answering")
    log = lb_server.log_path
    assert log is not None
    wait_for(lambda: "HAProxy started" in log.read_text(), timeout=10, what="start completed")
    assert lb_state(elbv2, "web") == {"Code": "active"}
    pids = haproxy_pids(lb_server.data_dir)
    assert len(pids) >= 2, pids
    killed_at = time.monotonic()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not answers_ok(port), timeout=2, interval=0.01, what="listener down")
    wait_for(lambda: answers_ok(port), timeout=5, interval=0.02, what="listener answering again")
    took = time.monotonic() - killed_at
    print(f"\nHAProxy killed -9 -> serving again after {took * 1000:.0f} ms")
    assert took < RESTART_LIMIT_S
    # provisioning while HAProxy restarts; active once the controller has seen it serve
    wait_for(lambda: lb_state(elbv2, "web") == {"Code": "active"}, timeout=5, what="active again")
    assert set(haproxy_pids(lb_server.data_dir)).isdisjoint(pids)
