"""How an instance joins a capacity provider (agent flag or ECS_CAPACITY_PROVIDER) and the
constraint that keeps a share on its provider's instances."""

from __future__ import annotations

from pathlib import Path

from dockyard.agent.config import build_config
from dockyard.scheduler.query import compile_query
from dockyard.tasks.provider_placement import PROVIDER_ATTRIBUTE, share_constraints

MEMBER = {"type": "memberOf", "expression": f"attribute:{PROVIDER_ATTRIBUTE} == spot"}


def _attributes(flags: dict[str, object], env_file: Path | None) -> dict[str, str | None]:
    config = build_config({"endpoint": "http://127.0.0.1:1", "cpu": 1, "memory": 1, **flags},
                          env_file, environ={})  # fmt: skip
    return {a["name"]: a.get("value") for a in config.agent_attributes()}


def test_the_agent_joins_by_flag_or_env_file_and_the_flag_wins(tmp_path: Path) -> None:
    env = tmp_path / "ecs.config"
    env.write_text("ECS_CAPACITY_PROVIDER=spot\n")
    assert _attributes({}, env)[PROVIDER_ATTRIBUTE] == "spot"
    assert _attributes({"capacity_provider": "ondemand"}, env)[PROVIDER_ATTRIBUTE] == "ondemand"
    assert PROVIDER_ATTRIBUTE not in _attributes({}, None)


def test_share_constraint_is_added_or_joined_at_the_limit() -> None:
    assert share_constraints("spot", []) == [MEMBER]
    assert share_constraints("FARGATE", [{"type": "distinctInstance"}]) == [
        {"type": "distinctInstance"}
    ]
    full = [{"type": "memberOf", "expression": f"attribute:n{i} exists"} for i in range(10)]
    joined = share_constraints("spot", full)
    assert len(joined) == 10 and joined[:9] == full[:9]
    assert joined[9]["expression"] == f"(attribute:n9 exists) and {MEMBER['expression']}"
    compile_query(str(joined[9]["expression"]))  # still a valid expression
