"""ARNs in AWS's format, built and parsed in one place.

arn:aws:ecs:us-east-1:000000000000:cluster/stage01
arn:aws:ecs:us-east-1:000000000000:task-definition/web:3
arn:aws:ecs:us-east-1:000000000000:container-instance/stage01/<id>
arn:aws:ecs:us-east-1:000000000000:task/stage01/<id>

Tasks, services and container instances also have AWS's older short form without the
cluster name (task/<id>, service/<name>, container-instance/<id>); Dockyard issues the
short form while the creator's taskLongArnFormat, serviceLongArnFormat or
containerInstanceLongArnFormat account setting is `disabled` (dockyard.accounts).
`resource_id` reads the last part of either form; `cluster_name_of` the cluster of the
long form (None for the short form: ask the store, whose rows keep the cluster).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def resource_type(self) -> str:
        return self.resource.split("/", 1)[0]

    @property
    def resource_path(self) -> str:
        return self.resource.split("/", 1)[1] if "/" in self.resource else ""

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(text: str) -> Arn | None:
    """The parts of an ARN, or None when `text` is not one."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5]:
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


@dataclass(frozen=True, slots=True)
class Identity:
    """Region and account of this control plane: every ARN it issues carries them."""

    region: str = "us-east-1"
    account_id: str = "000000000000"
    partition: str = "aws"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    def ecs(self, resource: str) -> str:
        return self.arn("ecs", resource)

    def ecs_scoped(self, kind: str, cluster_name: str, name: str, *, long: bool = True) -> str:
        """A task, service or container-instance ARN: kind/cluster/name (long) or kind/name."""
        return self.ecs(f"{kind}/{cluster_name}/{name}" if long else f"{kind}/{name}")

    def iam_root(self) -> str:
        """The account's root principal (account settings' default principal)."""
        return f"arn:{self.partition}:iam::{self.account_id}:root"


def resource_id(arn: Arn) -> str:
    """The id or name at the end of a long or short ARN (task/C/ID and task/ID -> ID)."""
    return arn.resource.rsplit("/", 1)[-1]


def ref_name(ref: str, resource_type: str) -> str | None:
    """What an API reference names: the reference itself when it is not an ARN, the last
    path segment of an ARN of `resource_type` (long or short), None for another type's ARN."""
    arn = parse_arn(ref)
    if arn is None:
        return ref
    if arn.resource_type != resource_type:
        return None
    return arn.resource_path.rsplit("/", 1)[-1]


def scoped_arns(identity: Identity, kind: str, cluster_name: str, name: str) -> tuple[str, str]:
    """The (long, short) ARNs a task, service or container instance may have: what a
    lookup by name or id tries, long first."""
    return (
        identity.ecs_scoped(kind, cluster_name, name),
        identity.ecs_scoped(kind, cluster_name, name, long=False),
    )


def cluster_name_of(text: str) -> str | None:
    """The cluster name in a long task/service/container-instance ARN (kind/C/ID -> C);
    None for the short form (kind/ID) or what is not an ARN."""
    arn = parse_arn(text)
    parts = arn.resource.split("/") if arn is not None else []
    return parts[1] if len(parts) == 3 else None


def short_form(text: str) -> str:
    """The short form of a long task/service/container-instance ARN (kind/C/ID -> kind/ID);
    anything else unchanged."""
    arn = parse_arn(text)
    parts = arn.resource.split("/") if arn is not None else []
    if arn is None or len(parts) != 3:
        return text
    return str(Arn(arn.partition, arn.service, arn.region, arn.account, f"{parts[0]}/{parts[2]}"))


def new_id() -> str:
    """A 32-hex-digit id, as ECS uses for tasks and container instances: the time in
    milliseconds (12 digits), then 80 random bits (20 digits).

    Time-ordered, as UUIDv7 and ULIDs are, so that a store's primary-key index on ARNs
    grows at its end: with random ids every new task's key landed on a random page of
    that index, one more page written (and checkpointed) per task, and at a million
    tasks the index outgrows the page cache (bench/README.md, 2026-12-03). Still opaque
    to users (ECS promises nothing of its ids but their shape); 80 random bits keep
    ids of one millisecond apart."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def new_ec2_instance_id() -> str:
    """An id shaped like an EC2 instance id (i- plus 17 hex digits)."""
    return "i-" + secrets.token_hex(9)[:17]
