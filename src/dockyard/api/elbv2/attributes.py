"""Load balancer and target group attributes: AWS's keys, defaults and value rules
(listener attributes: listener_attributes.py, with the same rules and `merged`).

Documents keep the complete list (`"Attributes": [{"Key", "Value"}]`, defaults
included), so the LB controller reads a value without knowing the defaults.
Unknown keys and bad values are ValidationErrors, as in ELBv2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dockyard.elbv2.errors import InvalidConfigurationRequest, ValidationError

Check = Callable[[str, str], None]


def _boolean(key: str, value: str) -> None:
    if value not in {"true", "false"}:
        raise ValidationError(f"The value of '{key}' must be 'true' or 'false'; got '{value}'")


def _between(low: int, high: int, *, or_zero: bool = False) -> Check:
    def check(key: str, value: str) -> None:
        number = int(value) if value.isdigit() else -1
        if not (low <= number <= high or (or_zero and number == 0)):
            allowed = f"0 or {low}-{high}" if or_zero else f"{low}-{high}"
            raise ValidationError(f"The value of '{key}' must be {allowed}; got '{value}'")

    return check


def _one_of(*allowed: str) -> Check:
    def check(key: str, value: str) -> None:
        if value not in allowed:
            raise ValidationError(
                f"The value of '{key}' must be one of {', '.join(allowed)}; got '{value}'"
            )

    return check


def _any(_key: str, _value: str) -> None:
    return None


# The value rules, for the attribute tables of other modules (listener_attributes.py).
boolean, between, one_of = _boolean, _between, _one_of


LOAD_BALANCER: dict[str, tuple[str, Check]] = {
    "access_logs.s3.enabled": ("false", _one_of("false")),  # no S3 here
    "access_logs.s3.bucket": ("", _any),
    "access_logs.s3.prefix": ("", _any),
    "client_keep_alive.seconds": ("3600", _between(60, 604800)),
    "deletion_protection.enabled": ("false", _boolean),
    "idle_timeout.timeout_seconds": ("60", _between(1, 4000)),
    "routing.http.desync_mitigation_mode": (
        "defensive",
        _one_of("monitor", "defensive", "strictest"),
    ),
    "routing.http.drop_invalid_header_fields.enabled": ("false", _boolean),
    "routing.http.preserve_host_header.enabled": ("false", _boolean),
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": ("false", _boolean),
    "routing.http.xff_client_port.enabled": ("false", _boolean),
    "routing.http.xff_header_processing.mode": ("append", _one_of("append", "preserve", "remove")),
    "routing.http2.enabled": ("true", _boolean),
    "waf.fail_open.enabled": ("false", _boolean),
}

TARGET_GROUP: dict[str, tuple[str, Check]] = {
    "deregistration_delay.timeout_seconds": ("300", _between(0, 3600)),
    # At the end of the delay, close what is left (lb/plan.py; ELB documents it for NLBs).
    "deregistration_delay.connection_termination.enabled": ("false", _boolean),
    "load_balancing.algorithm.type": (
        "round_robin",
        _one_of("round_robin", "least_outstanding_requests"),
    ),
    "slow_start.duration_seconds": ("0", _between(30, 900, or_zero=True)),
    "stickiness.enabled": ("false", _boolean),
    "stickiness.lb_cookie.duration_seconds": ("86400", _between(1, 604800)),
    "stickiness.type": ("lb_cookie", _one_of("lb_cookie")),
}


def defaults(table: Mapping[str, tuple[str, Check]]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": default} for key, (default, _check) in table.items()]


def value(doc: Mapping[str, Any], key: str, table: Mapping[str, tuple[str, Check]]) -> str:
    """An attribute of a document, its default when the document lacks it."""
    for attribute in doc.get("Attributes", []):
        if attribute["Key"] == key:
            return str(attribute["Value"])
    if key not in table:
        raise KeyError(key)
    return table[key][0]


def merged(
    current: list[dict[str, str]],
    changes: list[dict[str, Any]],
    table: Mapping[str, tuple[str, Check]],
) -> list[dict[str, str]]:
    """The complete attribute list after `changes`; validates every changed key and value."""
    values = {key: default for key, (default, _check) in table.items()}
    values.update({a["Key"]: a["Value"] for a in current if a["Key"] in table})
    for change in changes:
        key, text = str(change.get("Key")), change.get("Value")
        if key not in table:
            raise ValidationError(f"Attribute key '{key}' is not recognized")
        if text is None:
            raise ValidationError(f"Attribute '{key}' needs a value")
        table[key][1](key, text)
        values[key] = text
    if table is TARGET_GROUP:
        _check_target_group(values)
    return [{"Key": key, "Value": values[key]} for key in table]


def _check_target_group(values: Mapping[str, str]) -> None:
    if (
        values["slow_start.duration_seconds"] != "0"
        and values["load_balancing.algorithm.type"] == "least_outstanding_requests"
    ):
        raise InvalidConfigurationRequest(
            "Slow start mode cannot be used with the least outstanding requests algorithm"
        )
