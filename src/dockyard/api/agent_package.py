"""GET /agent/package: the server's own `dockyard` package, for UpdateContainerAgent.

The server is the agents' update source: it packs the package it runs from (wire/
package.py, once per process, in a thread) and serves the zip to agents (SigV4-checked
when the server has credentials, as the agent websocket is). Its version is the
*server version* agents are upgraded to; DOCKYARD_VERSION_SUFFIX (read at first use)
appends `.<suffix>`, so a test or an operator can make a server newer than agents
started from the same files.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from dockyard.api.json_protocol import json_error
from dockyard.errors import AwsError
from dockyard.wire import package

PATH = "/agent/package"
SUFFIX_ENV = "DOCKYARD_VERSION_SUFFIX"


@dataclass(frozen=True)
class ServerPackage:
    version: str  # agentVersion agents are upgraded to
    agent_hash: str  # tree hash (12 hex), checked by the agent after unpacking
    data: bytes  # the zip
    sha256: str  # of the zip, checked by the agent before unpacking


@functools.cache
def server_version() -> tuple[str, str]:
    """(agentVersion, agentHash) this server upgrades agents to."""
    tree = package.tree_hash(package.package_dir())
    return package.version_for(tree, os.environ.get(SUFFIX_ENV, "")), tree[:12]


_built: ServerPackage | None = None


async def server_package() -> ServerPackage:
    """The zip of this server's package, built on first use (in a thread) and kept."""
    global _built  # noqa: PLW0603 - one package per server process
    if _built is None:  # two first callers may both build: the same bytes, harmless
        version, agent_hash = await asyncio.to_thread(server_version)
        data = await asyncio.to_thread(package.build_zip, package.package_dir(), version)
        _built = ServerPackage(version, agent_hash, data, package.sha256(data))
    return _built


def make_handler(
    authenticate: Callable[[web.Request], object],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        try:
            authenticate(request)
        except AwsError as error:
            return json_error(error)
        built = await server_package()
        return web.Response(
            body=built.data,
            content_type="application/zip",
            headers={"x-dockyard-agent-version": built.version, "x-dockyard-sha256": built.sha256},
        )

    return handle


def update_message(built: ServerPackage) -> Mapping[str, str]:
    """The `update` message an agent receives (wire/agent.py)."""
    return {
        "type": "update",
        "version": built.version,
        "agentHash": built.agent_hash,
        "sha256": built.sha256,
        "path": PATH,
    }
