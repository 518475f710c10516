"""Account settings in the store: one row per (principal, name) in `account_settings`,
its document the ECS `Setting` shape without `type` ({"name", "value", "principalArn"}).

Rows exist only for settings someone set; AWS's defaults live in `catalog`, so a
default that changes in a later release applies to every account that did not choose.
"""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.accounts.catalog import CATALOG, LONG_ARN_SETTINGS, Resolved, resolve
from dockyard.accounts.principals import caller_arn
from dockyard.arns import Identity
from dockyard.store import Kind, Tx


def _key(principal: str, name: str) -> str:
    return f"{principal}|{name}"


def explicit(tx: Tx, principal: str) -> dict[str, str]:
    """The settings `principal` set itself: name -> value."""
    rows = tx.find(Kind.ACCOUNT_SETTING, {"principal": principal})
    return {row["name"]: row["value"] for row in rows if row.get("name") in CATALOG}


def put(tx: Tx, principal: str, name: str, value: str) -> None:
    doc = {"name": name, "value": value, "principalArn": principal}
    key = _key(principal, name)
    if tx.get(Kind.ACCOUNT_SETTING, key) is None:
        tx.insert(Kind.ACCOUNT_SETTING, key, doc, principal=principal, name=name)
    else:
        tx.update(Kind.ACCOUNT_SETTING, key, doc)


def delete(tx: Tx, principal: str, name: str) -> str | None:
    """Remove the principal's own setting; its value, or None when it had none."""
    key = _key(principal, name)
    row = tx.get(Kind.ACCOUNT_SETTING, key)
    if row is None:
        return None
    tx.delete(Kind.ACCOUNT_SETTING, key)
    return str(row["value"])


def effective(
    tx: Tx, identity: Identity, names: Iterable[str], principal: str | None = None
) -> list[Resolved]:
    """The settings `names` as they apply to `principal` (default: the current caller):
    its own rows, else the account's (the root principal's), else AWS's defaults."""
    who = principal or caller_arn(identity)
    root = identity.iam_root()
    account = explicit(tx, root)
    own = account if who == root else explicit(tx, who)
    return [resolve(name, who, root, own, account) for name in names]


def long_arn_format(tx: Tx, identity: Identity, kind: str) -> bool:
    """Whether a new `kind` ("task", "service" or "container-instance") created by the
    current caller gets the long ARN format (kind/cluster/id), else kind/id."""
    return effective(tx, identity, [LONG_ARN_SETTINGS[kind]])[0].value == "enabled"
