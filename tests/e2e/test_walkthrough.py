"""The README's main story end to end: examples/walkthrough/run.sh on real Docker + HAProxy.

Two services behind one load balancer: auth on / across 2 distinct tasks, random on
/random/ across 4, then a rolling update of auth to a new image tag.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_walkthrough(tmp_path: Path, docker_images: dict[str, str]) -> None:
    port = free_port()
    lb_port = 20000 + port % 10000
    env = {
        **os.environ,
        "DOCKYARD_ENDPOINT": f"http://127.0.0.1:{port}",
        "LB_PORT": str(lb_port),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    try:
        done = subprocess.run(
            [str(ROOT / "examples/walkthrough/run.sh")],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
        auth_tasks = set(re.findall(r'"DOCKYARD_CONTAINER_NAME": "auth", .*?"DOCKYARD_TASK_ARN": "([^"]+)"', output))
        random_tasks = set(re.findall(r"random \d+ from (\S+)", output))
        assert len(auth_tasks) == 2, output[-4000:]
        assert len(random_tasks) == 4, output[-4000:]
        assert "auth v2" in output
        # step 8: the random service scales on requests per target, through its own alarms
        assert "TargetTracking-service/stage01/random-AlarmHigh-" in output, output[-4000:]
        assert f"http://127.0.0.1:{lb_port}" in output
    finally:
        subprocess.run([sys.executable, "-m", "dockyard", "down"], cwd=tmp_path, env=env,
                       capture_output=True, timeout=120, check=False)
