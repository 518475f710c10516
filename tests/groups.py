"""Which test files may run side by side (scripts/test runs the two groups at once).

    python -m tests.groups serial     files that run one after the other, in one process
    python -m tests.groups parallel   the rest: run with pytest-xdist (`--dist loadfile`)

Serial: every end-to-end module that runs containers on the one Docker engine (they
share the engine, the test images and the hosts' loopback addresses, and clean up
containers by label) and the PostgreSQL suites (one throwaway cluster and its OS user).
Everything else starts servers on free ports with their own data dirs and HAProxy
processes, so modules run side by side (a module's tests stay on one worker).

A module counts as a Docker one when it mentions one of DOCKER_MARKERS.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DOCKER_MARKERS = ("docker_images", "remove_task_containers", "docker.from_env", "import docker")
POSTGRES_MODULES = {
    "test_postgres_server.py",
    "test_ha_failover.py",
    "test_server_lock.py",
    "test_ha_tls.py",
    "test_pg_slow_db.py",
}


def is_serial(path: Path) -> bool:
    if path.parent.name == "store" or path.name in POSTGRES_MODULES:
        return True
    return path.parent.name == "e2e" and any(m in path.read_text() for m in DOCKER_MARKERS)


def split() -> tuple[list[str], list[str]]:
    serial: list[str] = []
    parallel: list[str] = []
    for path in sorted(ROOT.glob("*/test_*.py")):
        relative = str(path.relative_to(ROOT.parent))
        (serial if is_serial(path) else parallel).append(relative)
    return serial, parallel


if __name__ == "__main__":
    serial, parallel = split()
    print("\n".join(serial if sys.argv[1:] == ["serial"] else parallel))
