"""The agent's side of UpdateContainerAgent: download, install beside itself, restart.

    `update` message -> STAGING: GET /agent/package (SigV4 when the agent has
    credentials), SHA-256 checked -> unpacked into <data dir>/versions/<version>/,
    tree hash and version stamp checked, and the new code imported once in a child
    process -> STAGED -> UPDATING: the agent stops as on SIGTERM (containers keep
    running) and re-executes itself (os.execve, same interpreter and argv) with
    PYTHONPATH=<data dir>/versions/<version> first. The new process registers with the
    new versionInfo (the server marks UPDATED) and re-adopts its containers by label.

Any failure before the exec is reported FAILED with its reason and the agent keeps
running its current version. Only the running and the new version directories are
kept. The package format is wire/package.py; the server side is api/agent_package.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import aiohttp

from dockyard.wire import package

log = logging.getLogger("dockyard.agent.update")
VERSIONS_DIR = "versions"
DOWNLOAD_TIMEOUT_S = 120.0
CHECK_TIMEOUT_S = 60.0
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


class UpdateFailed(Exception):
    """Why an update stopped; reported to the server as the FAILED reason."""


class Updater:
    def __init__(
        self,
        endpoint: Callable[[], str],
        data_dir: Path,
        send: Send,
        request_stop: Callable[[], None],
        *,
        headers: Callable[[str], dict[str, str]] | None = None,
    ) -> None:
        self.endpoint = endpoint  # the server in use now (it changes after a failover)
        self.versions = (data_dir / VERSIONS_DIR).resolve()
        self.send = send
        self.request_stop = request_stop
        self.headers = headers or (lambda _url: {})
        self.running: asyncio.Task[None] | None = None
        self.restart_with: Path | None = None  # set once UPDATING: exec with this path

    def start(self, message: Mapping[str, Any]) -> None:
        """Handle an `update` message (from the channel); one update at a time."""
        if self.running is not None and not self.running.done():
            log.info("an update is already under way; ignoring %s", message.get("version"))
            return
        self.running = asyncio.create_task(self._update(dict(message)))

    async def _report(self, status: str, version: str, reason: str | None = None) -> None:
        message: dict[str, Any] = {"type": "update_status", "status": status, "version": version}
        if reason:
            message["reason"] = reason
        with contextlib.suppress(ConnectionError, RuntimeError, aiohttp.ClientError):
            await self.send(message)

    async def _update(self, message: dict[str, Any]) -> None:
        version = str(message.get("version", ""))
        try:
            await self._report("STAGING", version)
            target = await self._stage(message, version)
            await self._report("STAGED", version)
            await asyncio.to_thread(check_import, target, version)
        except UpdateFailed as error:
            log.warning("agent update to %s failed: %s", version, error)
            await self._report("FAILED", version, str(error))
            return
        except Exception as error:  # never leave the server waiting without a reason
            log.exception("agent update to %s failed", version)
            await self._report("FAILED", version, f"{type(error).__name__}: {error}")
            return
        await self._report("UPDATING", version)
        log.info("agent update: restarting with %s", version)
        self.restart_with = target
        self.request_stop()

    async def _stage(self, message: dict[str, Any], version: str) -> Path:
        if not package.VERSION_RE.match(version) or version in {".", ".."}:
            raise UpdateFailed(f"invalid version {version!r}")
        path = str(message.get("path", "/agent/package"))
        if not path.startswith("/"):
            raise UpdateFailed(f"invalid package path {path!r}")
        url = self.endpoint().rstrip("/") + path
        timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, headers=self.headers(url)) as response,
            ):
                if response.status != 200:
                    raise UpdateFailed(f"GET {path} answered HTTP {response.status}")
                data = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise UpdateFailed(f"cannot download the package: {error}") from None
        actual, expected = hashlib.sha256(data).hexdigest(), message.get("sha256")
        if actual != expected:
            raise UpdateFailed(f"hash mismatch: the package's SHA-256 is {actual}, not {expected}")
        return await asyncio.to_thread(
            install, data, self.versions, version, str(message.get("agentHash", ""))
        )

    def exec_new_version(self) -> NoReturn:
        """Replace this process with the same command on the new version's code."""
        assert self.restart_with is not None
        env = dict(os.environ)
        env["PYTHONPATH"] = python_path(self.restart_with, self.versions, env.get("PYTHONPATH"))
        argv = list(getattr(sys, "orig_argv", [])) or [sys.executable, *sys.argv]
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, argv, env)


def install(data: bytes, versions: Path, version: str, agent_hash: str) -> Path:
    """Unpack into versions/<version> (atomically, by rename); reuse a complete copy."""
    versions = versions.resolve()
    target = versions / version
    if target.is_dir():
        try:
            if package.installed_version(target / "dockyard") == (version, agent_hash):
                return target
        except OSError:
            pass
        shutil.rmtree(target)
    staging = versions / f".{version}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        package.unpack(data, staging, version=version, agent_hash=agent_hash)
    except package.PackageError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise UpdateFailed(str(error)) from None
    staging.rename(target)
    prune(versions, keep={target, running_version_dir(versions)})
    return target


def running_version_dir(versions: Path) -> Path | None:
    """The versions/<v> directory this process runs from, if it was installed by an update."""
    here = package.package_dir()
    with contextlib.suppress(ValueError):
        return versions / here.relative_to(versions.resolve()).parts[0]
    return None


def prune(versions: Path, keep: set[Path | None]) -> None:
    for entry in versions.iterdir():
        if entry not in keep and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def check_import(target: Path, version: str) -> None:
    """Import the new agent once in a child process: a broken package fails here, while
    the current agent still runs, rather than after the exec."""
    env = dict(os.environ)
    env["PYTHONPATH"] = python_path(target, target.parent, env.get("PYTHONPATH"))
    code = (
        "import dockyard.agent.main\n"
        "from dockyard.wire import package\n"
        "print(package.installed_version()[0])\n"
    )
    try:
        result = subprocess.run(  # our own interpreter, fixed code
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UpdateFailed(f"cannot start the new agent: {error}") from None
    reported = result.stdout.strip().splitlines()[-1:] or [""]
    if result.returncode != 0 or reported[0] != version:
        detail = (result.stderr.strip().splitlines() or [reported[0]])[-1]
        raise UpdateFailed(f"the new agent does not start: {detail}")


def python_path(target: Path, versions: Path, current: str | None) -> str:
    """PYTHONPATH with `target` first, without any earlier version directory."""
    root = str(versions.resolve())
    kept = [
        entry
        for entry in (current or "").split(os.pathsep)
        if entry and not str(Path(entry).resolve()).startswith(root)
    ]
    return os.pathsep.join([str(target.resolve()), *kept])
