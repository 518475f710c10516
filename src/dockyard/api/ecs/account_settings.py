"""Account settings: PutAccountSetting, PutAccountSettingDefault, ListAccountSettings,
DeleteAccountSetting.

The rules (catalog, resolution, principals) live in `dockyard.accounts`; this module
reads the request, checks it and answers in the ECS shapes. Settings that change what
Dockyard does: containerInsights (a new cluster's default) and taskLongArnFormat (the ARN
format of new tasks); see src/dockyard/accounts/README.md.
"""

from __future__ import annotations

from dockyard.accounts import records
from dockyard.accounts.catalog import CATALOG, Resolved, check_writable, spec_of
from dockyard.accounts.principals import is_root, principal_for
from dockyard.api.pagination import page_of, paginate_list
from dockyard.context import ApiContext, Params, Result
from dockyard.errors import InvalidParameterException

MAX_RESULTS = 10  # ListAccountSettings: 1..10, 10 when not given


def _put(ctx: ApiContext, principal: str, name: str, value: str) -> Result:
    spec = spec_of(name)
    check_writable(spec, value, root=is_root(ctx.identity, principal))
    with ctx.store.transaction() as tx:
        records.put(tx, principal, name, value)
    return {"setting": Resolved(name, value, principal).to_setting()}


def put_account_setting(ctx: ApiContext, params: Params) -> Result:
    principal = principal_for(ctx.identity, params.get("principalArn"))
    return _put(ctx, principal, params["name"], params["value"])


def put_account_setting_default(ctx: ApiContext, params: Params) -> Result:
    return _put(ctx, ctx.identity.iam_root(), params["name"], params["value"])


def delete_account_setting(ctx: ApiContext, params: Params) -> Result:
    name = params["name"]
    spec = spec_of(name)
    principal = principal_for(ctx.identity, params.get("principalArn"))
    if spec.managed:
        check_writable(spec, spec.default, root=True)  # raises: read-only
    with ctx.store.transaction() as tx:
        removed = records.delete(tx, principal, name)
        if removed is None:  # nothing of its own: answer what applies to it
            applied = records.effective(tx, ctx.identity, [name], principal)[0]
            return {"setting": applied.to_setting()}
    return {"setting": Resolved(name, removed, principal).to_setting()}


def list_account_settings(ctx: ApiContext, params: Params) -> Result:
    name, value = params.get("name"), params.get("value")
    if value is not None and name is None:
        raise InvalidParameterException(
            "To filter account settings by value, you must also specify a setting name."
        )
    if name is not None:
        spec_of(name)
    page = page_of(params, default=MAX_RESULTS, maximum=MAX_RESULTS)
    principal = principal_for(ctx.identity, params.get("principalArn"))
    with ctx.store.read() as tx:
        if params.get("effectiveSettings", False):
            applied = records.effective(tx, ctx.identity, CATALOG, principal)
            settings = [s.to_setting() for s in applied]
        else:
            own = records.explicit(tx, principal)
            settings = [Resolved(n, own[n], principal).to_setting() for n in CATALOG if n in own]
    wanted = [
        s
        for s in sorted(settings, key=lambda s: s["name"])
        if (name is None or s["name"] == name) and (value is None or s["value"] == value)
    ]
    if page.after is not None and [type(a) for a in page.after] != [str]:
        raise InvalidParameterException("Invalid nextToken.")
    items, token = paginate_list(wanted, page, lambda s: s["name"])
    result: Result = {"settings": items}
    if token:
        result["nextToken"] = token
    return result
