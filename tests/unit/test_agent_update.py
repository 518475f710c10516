"""UpdateContainerAgent: the package format (wire/package.py), the agentUpdateStatus
transitions (instances/agent_update.py, api/ecs/agent_update.py) and the agent's install step (agent/update.py),
in process on a SQLite store; the whole upgrade with Docker is tests/e2e/test_agent_update.py."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.agent.update import UpdateFailed, install, python_path
from dockyard.api import agent_package
from dockyard.api.ecs import agent_update
from dockyard.api.ecs.clusters import create_cluster
from dockyard.api.ecs.container_instances import (
    describe_container_instances,
    register_container_instance,
)
from dockyard.context import ApiContext
from dockyard.errors import AwsError
from dockyard.instances import agent_update as agent_update_states
from dockyard.store import Kind, open_store
from dockyard.store.sql import SqlStore, sqlite_url
from dockyard.wire import package


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_tree_hash_ignores_bytecode_and_stamp_but_not_content(tmp_path: Path) -> None:
    root = _tree(tmp_path / "a", {"__init__.py": "x = 1\n", "agent/main.py": "y = 2\n"})
    first = package.tree_hash(root)
    _tree(root, {"__pycache__/m.cpython-311.pyc": "junk", package.STAMP: "9.9.9\n"})
    assert package.tree_hash(root) == first
    _tree(root, {"agent/main.py": "y = 3\n"})
    assert package.tree_hash(root) != first


def test_version_names_the_hash_and_the_suffix() -> None:
    tree = "ab" * 32
    assert package.version_for(tree).endswith("+" + tree[:12])
    assert package.version_for(tree, "next.2").endswith(f"+{tree[:12]}.next.2")
    with pytest.raises(ValueError, match="DOCKYARD_VERSION_SUFFIX"):
        package.version_for(tree, "bad suffix")


def test_zip_is_deterministic_and_installs_with_its_stamp(tmp_path: Path) -> None:
    root = _tree(tmp_path / "src", {"__init__.py": "", "wire/package.py": "z = 1\n"})
    tree = package.tree_hash(root)
    data = package.build_zip(root, "0.1.0+x")
    assert data == package.build_zip(root, "0.1.0+x")
    target = install(data, tmp_path / "versions", "0.1.0+x", tree[:12])
    assert (target / "dockyard" / "wire" / "package.py").read_text() == "z = 1\n"
    assert package.installed_version(target / "dockyard") == ("0.1.0+x", tree[:12])
    # a second delivery of the same version reuses the installed copy
    assert install(data, tmp_path / "versions", "0.1.0+x", tree[:12]) == target


@pytest.mark.parametrize(
    ("entries", "version", "agent_hash", "reason"),
    [
        pytest.param({"dockyard/AGENT_VERSION": "v2\n"}, "v2", "000000000000", "hash mismatch",
                     id="content-hash-mismatch"),
        pytest.param({"dockyard/AGENT_VERSION": "v1\n"}, "v2", "", "version stamp",
                     id="stamp-mismatch"),
        pytest.param({"../evil.py": ""}, "v2", "", "unexpected entry", id="path-escape"),
    ],
)  # fmt: skip
def test_install_refuses_a_bad_package_and_leaves_nothing(
    tmp_path: Path, entries: dict[str, str], version: str, agent_hash: str, reason: str
) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    versions = tmp_path / "versions"
    with pytest.raises(UpdateFailed, match=reason):
        install(out.getvalue(), versions, version, agent_hash)
    assert not versions.exists() or list(versions.iterdir()) == []


def test_python_path_puts_the_new_version_first_and_drops_older_ones(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    old, new = versions / "v1", versions / "v2"
    joined = python_path(new, versions, f"{old}:/opt/extra")
    assert joined.split(":") == [str(new.resolve()), "/opt/extra"]


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ApiContext]:
    store: SqlStore = open_store(sqlite_url(tmp_path))
    context = ApiContext(store=store, clock=lambda: 1000.0)
    create_cluster(context, {"clusterName": "default"})
    yield context
    store.close()


def _register(ctx: ApiContext, version: str | None) -> str:
    params: dict[str, Any] = {
        "cluster": "default",
        "instanceIdentityDocument": '{"instanceId": "i-1"}',
        "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024},
        ],
    }
    if version is not None:
        params["versionInfo"] = {"agentVersion": version, "agentHash": "h", "dockerVersion": "d"}
    result = register_container_instance(ctx, params)
    return str(result["containerInstance"]["containerInstanceArn"])


def _set(ctx: ApiContext, arn: str, **fields: Any) -> dict[str, Any]:
    with ctx.store.transaction() as tx:
        doc = tx.get(Kind.CONTAINER_INSTANCE, arn)
        assert doc is not None
        doc.update(fields)
        tx.update(Kind.CONTAINER_INSTANCE, arn, doc)
    return doc


def _describe(ctx: ApiContext, arn: str) -> dict[str, Any]:
    found = describe_container_instances(ctx, {"cluster": "default", "containerInstances": [arn]})
    return dict(found["containerInstances"][0])


def _code(ctx: ApiContext, arn: str) -> str:
    with pytest.raises(AwsError) as caught:
        agent_update.update_container_agent(ctx, {"cluster": "default", "containerInstance": arn})
    return caught.value.code


def test_refusals_as_ecs_and_nothing_written(ctx: ApiContext) -> None:
    target, _ = agent_package.server_version()
    arn = _register(ctx, None)
    _set(ctx, arn, agentConnected=True)
    assert _code(ctx, arn) == "MissingVersionException"
    arn = _register(ctx, target)
    _set(ctx, arn, agentConnected=True)
    assert _code(ctx, arn) == "NoUpdateAvailableException"
    arn = _register(ctx, "0.0.1")
    _set(ctx, arn, agentConnected=False)
    assert _code(ctx, arn) == "ClientException"  # not connected: nobody to tell
    _set(ctx, arn, agentConnected=True, agentUpdateStatus="STAGING",
         agentUpdate={"targetVersion": target, "requestedAt": 990.0})  # fmt: skip
    assert _code(ctx, arn) == "UpdateInProgressException"
    assert _describe(ctx, arn)["agentUpdateStatus"] == "STAGING"
    assert _code(ctx, arn.replace(arn.rsplit("/", 1)[-1], "nope")) == "InvalidParameterException"


def test_lifecycle_pending_to_updated_forward_only(ctx: ApiContext) -> None:
    target, _ = agent_package.server_version()
    woken: list[str] = []
    ctx.on_agent_update = woken.append
    arn = _register(ctx, "0.0.1")
    _set(ctx, arn, agentConnected=True)
    answer = agent_update.update_container_agent(
        ctx, {"cluster": "default", "containerInstance": arn}
    )
    assert answer["containerInstance"]["agentUpdateStatus"] == "PENDING"
    assert "agentUpdate" not in answer["containerInstance"]  # private bookkeeping
    assert woken == [arn]
    for status in ("STAGING", "STAGED", "STAGING", "UPDATING"):  # the late STAGING is dropped
        agent_update_states.record_status(ctx.store, arn, {"status": status, "version": target})
    agent_update_states.record_status(ctx.store, arn, {"status": "STAGED", "version": "other"})
    assert _describe(ctx, arn)["agentUpdateStatus"] == "UPDATING"
    _register(ctx, target)  # the restarted agent
    described = _describe(ctx, arn)
    assert described["agentUpdateStatus"] == "UPDATED"
    assert described["versionInfo"]["agentVersion"] == target


def test_failures_agent_reported_and_wrong_version_after_restart(ctx: ApiContext) -> None:
    target, _ = agent_package.server_version()
    arn = _register(ctx, "0.0.1")
    _set(ctx, arn, agentConnected=True)
    agent_update.update_container_agent(ctx, {"cluster": "default", "containerInstance": arn})
    agent_update_states.record_status(
        ctx.store, arn, {"status": "FAILED", "version": target, "reason": "hash mismatch: ..."}
    )
    assert _describe(ctx, arn)["agentUpdateStatus"] == "FAILED"
    # FAILED is not in progress: it may be asked again
    agent_update.update_container_agent(ctx, {"cluster": "default", "containerInstance": arn})
    _register(ctx, "0.0.1")  # restarted before staging: still PENDING, resent on connect
    with ctx.store.read() as tx:
        doc = tx.get(Kind.CONTAINER_INSTANCE, arn)
    assert doc is not None
    assert agent_update_states.pending_target(doc) == target
    agent_update_states.record_status(ctx.store, arn, {"status": "UPDATING", "version": target})
    _register(ctx, "0.0.1")  # exec'd but came back old
    with ctx.store.read() as tx:
        doc = tx.get(Kind.CONTAINER_INSTANCE, arn)
    assert doc is not None
    assert doc["agentUpdateStatus"] == "FAILED"
    assert "0.0.1" in doc["agentUpdate"]["reason"]


async def test_package_is_served_signed_only_and_matches_its_hash(ctx: ApiContext) -> None:
    """GET /agent/package with server credentials: unsigned refused, SigV4 (the agent's
    signed_headers) served; the bytes hash to what the update message names."""
    import hashlib

    import aiohttp
    from aiohttp.test_utils import TestServer

    from dockyard.agent.channel import signed_headers
    from dockyard.api.app import create_app

    app = create_app(ctx, services=[], credentials={"AKIDTEST": "secret"})
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url(agent_package.PATH))
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as refused:
                assert refused.status in {400, 403}
            headers = signed_headers(url, "AKIDTEST", "secret", "us-east-1")
            async with session.get(url, headers=headers) as answer:
                assert answer.status == 200
                data = await answer.read()
        built = await agent_package.server_package()
        message = agent_package.update_message(built)
        assert hashlib.sha256(data).hexdigest() == message["sha256"]
        assert message["version"] == agent_package.server_version()[0]
    finally:
        await server.close()
