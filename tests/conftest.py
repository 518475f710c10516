"""Parallel runs (pytest-xdist, `--dist loadgroup`; scripts/test): which tests may share
a worker's time with which.

Every test gets an `xdist_group`, so a module's tests stay on one worker (its
module-scoped server starts once):

- "docker": every module that runs containers on the one Docker engine. They share the
  engine, the test images and the hosts' loopback addresses, and clean up containers by
  label: they run one after the other, on one worker.
- "postgres": the store suites and the PostgreSQL servers (one throwaway cluster and its
  OS user per worker: kept on one).
- anything else: its own module (servers on free ports, their own data dirs and
  HAProxy processes): modules run side by side.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DOCKER_MARKERS = ("docker_images", "remove_task_containers", "docker.from_env", "import docker")
POSTGRES_MODULES = {"test_postgres_server.py", "test_ha_failover.py", "test_server_lock.py"}
_groups: dict[Path, str] = {}


def _group(path: Path) -> str:
    found = _groups.get(path)
    if found is None:
        if path.parent.name == "store" or path.name in POSTGRES_MODULES:
            found = "postgres"
        elif path.parent.name == "e2e" and any(m in path.read_text() for m in DOCKER_MARKERS):
            found = "docker"
        else:
            found = str(path)
        _groups[path] = found
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(Path(str(item.path)))))
