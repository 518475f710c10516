"""The ECS account settings: names, allowed values, AWS defaults, and resolution (pure).

Resolution, as AWS documents it: a principal's own setting wins; else the account's
default (the root user's setting, written by PutAccountSettingDefault or by
PutAccountSetting for the root principal); else AWS's default for the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dockyard.errors import InvalidParameterException

ENABLED_DISABLED = ("enabled", "disabled")
ON_OFF = ("on", "off")


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One account setting. `account_only`: only the root principal (the account default)
    may be set; `managed`: AWS manages it (type aws_managed), read-only for everyone."""

    name: str
    default: str
    values: tuple[str, ...]
    account_only: bool = False
    managed: bool = False

    @property
    def setting_type(self) -> str:
        return "aws_managed" if self.managed else "user"


# Every name of botocore's SettingName enum (a unit test keeps this in step with the model).
CATALOG: dict[str, SettingSpec] = {
    spec.name: spec
    for spec in (
        SettingSpec("serviceLongArnFormat", "enabled", ENABLED_DISABLED),
        SettingSpec("taskLongArnFormat", "enabled", ENABLED_DISABLED),
        SettingSpec("containerInstanceLongArnFormat", "enabled", ENABLED_DISABLED),
        SettingSpec("awsvpcTrunking", "disabled", ENABLED_DISABLED),
        SettingSpec("containerInsights", "disabled", ("enabled", "disabled", "enhanced")),
        SettingSpec("fargateFIPSMode", "disabled", ENABLED_DISABLED, account_only=True),
        SettingSpec("tagResourceAuthorization", "on", ON_OFF),
        SettingSpec("fargateTaskRetirementWaitPeriod", "7", ("0", "7", "14"), account_only=True),
        SettingSpec("guardDutyActivate", "off", ON_OFF, managed=True),
        SettingSpec("defaultLogDriverMode", "non-blocking", ("blocking", "non-blocking")),
        SettingSpec("fargateEventWindows", "disabled", ENABLED_DISABLED),
    )
}

# The ARN format settings (records.long_arn_format): resource kind -> setting. Each applies
# to the resources created after it changed, by the principal it applies to.
LONG_ARN_SETTINGS = {
    "task": "taskLongArnFormat",
    "service": "serviceLongArnFormat",
    "container-instance": "containerInstanceLongArnFormat",
}


def spec_of(name: str) -> SettingSpec:
    """The setting called `name`, or InvalidParameterException."""
    spec = CATALOG.get(name)
    if spec is None:
        raise InvalidParameterException(
            f"Invalid account setting name: {name!r}. Valid names: {', '.join(CATALOG)}."
        )
    return spec


def check_writable(spec: SettingSpec, value: str, *, root: bool) -> None:
    """Refuse what AWS refuses: read-only settings, account-only settings for a user or
    role, and values outside the setting's set."""
    if spec.managed:
        raise InvalidParameterException(
            f"{spec.name} is read-only: it is managed on the account's behalf "
            "(type aws_managed) and cannot be changed with the ECS API."
        )
    if spec.account_only and not root:
        raise InvalidParameterException(
            f"{spec.name} can only be set for the account (the root principal): use "
            "PutAccountSettingDefault."
        )
    if value not in spec.values:
        allowed = ", ".join(spec.values)
        raise InvalidParameterException(
            f"Invalid value {value!r} for the account setting {spec.name}: "
            f"the value must be one of {allowed}."
        )


@dataclass(frozen=True, slots=True)
class Resolved:
    """The value that applies to a principal, and whose setting it is."""

    name: str
    value: str
    principal_arn: str

    def to_setting(self) -> dict[str, str]:
        """The ECS `Setting` shape."""
        return {
            "name": self.name,
            "value": self.value,
            "principalArn": self.principal_arn,
            "type": CATALOG[self.name].setting_type,
        }


def resolve(
    name: str, principal: str, root: str, own: Mapping[str, str], account: Mapping[str, str]
) -> Resolved:
    """The effective setting `name` for `principal`: `own` holds the principal's settings,
    `account` the root principal's (the account defaults)."""
    if name in own and not CATALOG[name].account_only:
        return Resolved(name, own[name], principal)
    if name in account:
        return Resolved(name, account[name], root)
    return Resolved(name, CATALOG[name].default, root)
