"""Account settings, pure parts: the catalog against botocore's model, resolution order,
value rules, principals, ARN formats and the refused operations."""

from __future__ import annotations

import pytest

from dockyard.accounts.catalog import CATALOG, check_writable, resolve, spec_of
from dockyard.accounts.principals import CALLER, AccessDeniedException, caller_arn, principal_for
from dockyard.api.ecs import HANDLERS, unsupported
from dockyard.api.models import service_model
from dockyard.arns import Identity, parse_arn, resource_id
from dockyard.errors import InvalidParameterException

IDENTITY = Identity()
ROOT = "arn:aws:iam::000000000000:root"
USER = "arn:aws:iam::000000000000:user/deploy"


def test_catalog_is_the_models_setting_names() -> None:
    assert set(CATALOG) == set(service_model("ecs").shape_for("SettingName").enum)
    for spec in CATALOG.values():
        assert spec.default in spec.values


@pytest.mark.parametrize(
    ("own", "account", "expected"),
    [
        pytest.param({}, {}, ("disabled", ROOT), id="aws-default"),
        pytest.param({}, {"containerInsights": "enabled"}, ("enabled", ROOT), id="account"),
        pytest.param(
            {"containerInsights": "enhanced"},
            {"containerInsights": "enabled"},
            ("enhanced", USER),
            id="own-wins",
        ),
    ],
)
def test_resolution_order(
    own: dict[str, str], account: dict[str, str], expected: tuple[str, str]
) -> None:
    resolved = resolve("containerInsights", USER, ROOT, own, account)
    assert (resolved.value, resolved.principal_arn) == expected


def test_account_only_settings_ignore_a_users_row() -> None:
    resolved = resolve(
        "fargateTaskRetirementWaitPeriod", USER, ROOT, {"fargateTaskRetirementWaitPeriod": "0"}, {}
    )
    assert (resolved.value, resolved.principal_arn) == ("7", ROOT)


@pytest.mark.parametrize(
    ("name", "value", "root"),
    [
        pytest.param("containerInsights", "on", True, id="value-not-in-set"),
        pytest.param("tagResourceAuthorization", "enabled", True, id="on-off-setting"),
        pytest.param("fargateTaskRetirementWaitPeriod", "7", False, id="account-only"),
        pytest.param("guardDutyActivate", "on", True, id="aws-managed"),
    ],
)
def test_refused_values(name: str, value: str, root: bool) -> None:
    with pytest.raises(InvalidParameterException):
        check_writable(spec_of(name), value, root=root)


def test_unknown_setting_name() -> None:
    with pytest.raises(InvalidParameterException):
        spec_of("dualStackIPv7")


def test_the_caller_is_root_without_an_access_key_and_a_user_with_one() -> None:
    assert caller_arn(IDENTITY) == ROOT
    token = CALLER.set("AKIDALICE")
    try:
        assert caller_arn(IDENTITY) == "arn:aws:iam::000000000000:user/AKIDALICE"
        assert principal_for(IDENTITY, None) == "arn:aws:iam::000000000000:user/AKIDALICE"
        with pytest.raises(AccessDeniedException):
            principal_for(IDENTITY, USER)
    finally:
        CALLER.reset(token)
    assert principal_for(IDENTITY, USER) == USER  # the root user may name anyone


@pytest.mark.parametrize(
    "given",
    [
        "not-an-arn",
        "arn:aws:iam::111111111111:root",
        "arn:aws:sts::000000000000:assumed-role/app/session",
        "arn:aws:iam::000000000000:group/admins",
        "arn:aws:iam::000000000000:user/",
    ],
)
def test_bad_principal_arns(given: str) -> None:
    with pytest.raises(InvalidParameterException):
        principal_for(IDENTITY, given)


def test_role_with_a_path_is_a_principal() -> None:
    role = "arn:aws:iam::000000000000:role/service-role/app"
    assert principal_for(IDENTITY, role) == role


def test_long_and_short_arns() -> None:
    long = IDENTITY.ecs_scoped("task", "stage01", "abc")
    short = IDENTITY.ecs_scoped("task", "stage01", "abc", long=False)
    assert long == "arn:aws:ecs:us-east-1:000000000000:task/stage01/abc"
    assert short == "arn:aws:ecs:us-east-1:000000000000:task/abc"
    for arn in (long, short):
        parsed = parse_arn(arn)
        assert parsed is not None and resource_id(parsed) == "abc"


def test_refused_operations_answer_a_modeled_error() -> None:
    model = service_model("ecs")
    table = unsupported.handlers()
    assert "CreateExpressGatewayService" in table
    for operation in table:
        assert operation in HANDLERS  # registered in the ECS table
        modeled = {e.name for e in model.operation_model(operation).error_shapes}
        with pytest.raises(Exception) as excinfo:
            table[operation](None, {})  # type: ignore[arg-type]
        code = getattr(excinfo.value, "code", "")
        assert code in modeled and "is not available on Dockyard" in str(excinfo.value)
