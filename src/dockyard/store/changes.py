"""What a write transaction touched, told to other servers on a shared PostgreSQL (pure).

Only with a `writer_id` (dockyard.ha) does `SqlTx` keep `touched`: per kind name, what its
writes touched, or None when that is not known (a task deleted: its document is gone):

    TASK                                   (clusterArn, group) of each document written
    SERVICE, CONTAINER_INSTANCE,
    TARGET_GROUP                           the keys (ARNs)
    TARGET                                 the target group ARN (key `<tg arn>|<id>|<port>`)

At commit `change_payload` makes the NOTIFY payload: `writer|KIND,KIND` (the kinds written),
then `|` and compact JSON of what they touched, e.g.
`a/1|SERVICE,TASK|{"SERVICE":["arn:..."],"TASK":{"arn:...cluster/c":["service:web"]}}`.
A kind listed without details is unknown to the listener (anything of it may have
changed): the details of an unknown kind are left out, and all details when the payload
would exceed PAYLOAD_LIMIT bytes (PostgreSQL refuses 8000). `|` inside JSON strings is
written `\\u007c`, so the details hold no `|` (`dockyard.ha.notify.parse_change`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dockyard.store.base import Doc, Kind

PAYLOAD_LIMIT = 7000  # bytes of a NOTIFY payload; PostgreSQL's limit is 8000
TOUCHED_KINDS = frozenset(
    {Kind.TASK, Kind.SERVICE, Kind.CONTAINER_INSTANCE, Kind.TARGET_GROUP, Kind.TARGET}
)
Touched = dict[str, set[Any] | None]  # kind name -> keys or (cluster, group) pairs; None: unknown


def touch(touched: Touched, kind: Kind, key: str, doc: Doc | None) -> None:
    """Record that a write of `kind` touched `key` (`doc`: written; None: deleted)."""
    if kind not in TOUCHED_KINDS:
        return
    items = touched.setdefault(kind.name, set())
    if items is None:
        return
    if kind is Kind.TASK:
        cluster = None if doc is None else doc.get("clusterArn")
        group = None if doc is None else doc.get("group")
        if not isinstance(cluster, str):  # a delete (or no cluster): which group is unknown
            touched[kind.name] = None
        elif isinstance(group, str):  # a task without a group belongs to no service
            items.add((cluster, group))
    elif kind is Kind.TARGET:
        items.add(key.partition("|")[0])
    else:
        items.add(key)


def change_payload(writer: str, kinds: set[str], touched: Mapping[str, Any] | None = None) -> str:
    """The NOTIFY payload of a write transaction (module docstring)."""
    head = f"{writer}|{','.join(sorted(kinds))}"
    details: dict[str, Any] = {}
    for name, items in sorted((touched or {}).items()):
        if items is None:
            continue
        if name == Kind.TASK.name:
            clusters: dict[str, list[str]] = {}
            for cluster, group in sorted(items):
                clusters.setdefault(cluster, []).append(group)
            details[name] = clusters
        else:
            details[name] = sorted(items)
    if not details:
        return head
    text = json.dumps(details, separators=(",", ":")).replace("|", "\\u007c")
    payload = f"{head}|{text}"
    return head if len(payload.encode()) > PAYLOAD_LIMIT else payload
