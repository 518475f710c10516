"""Rule conditions, in both spellings AWS accepts: `Values` and the `*Config` forms.

Stored form (what the LB controller reads): `Field` plus its config
(`PathPatternConfig: {"Values": [...]}`, `HttpHeaderConfig: {"HttpHeaderName", "Values"}`,
`QueryStringConfig: {"Values": [{"Key", "Value"}]}`, ...) always; `Values` too
when the client used that older form (host-header and path-pattern), as AWS echoes it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from dockyard.elbv2.errors import ValidationError

CONFIG_OF = {
    "host-header": "HostHeaderConfig",
    "path-pattern": "PathPatternConfig",
    "http-header": "HttpHeaderConfig",
    "query-string": "QueryStringConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "source-ip": "SourceIpConfig",
}
ONCE_PER_RULE = {"host-header", "path-pattern", "http-request-method", "source-ip"}
PLAIN_VALUES = {"host-header", "path-pattern"}
MAX_VALUES = 5
MAX_LENGTH = 128

_PATH = re.compile(r"^[A-Za-z0-9_\-.$/~\"'@:+&*?]+$")
_HOST = re.compile(r"^[A-Za-z0-9\-.*?]+$")
_METHOD = re.compile(r"^[A-Z_-]{1,40}$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,40}$")


def normalize_conditions(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validated, normalized copies of a rule's conditions."""
    if not conditions:
        raise ValidationError("A rule must have at least one condition")
    out, seen, total = [], set(), 0
    for condition in conditions:
        field = condition.get("Field")
        if field not in CONFIG_OF:
            raise ValidationError(
                f"Condition field '{field}' must be one of {', '.join(CONFIG_OF)}"
            )
        if field in ONCE_PER_RULE and field in seen:
            raise ValidationError(f"A rule can have only one '{field}' condition")
        seen.add(field)
        config_name = CONFIG_OF[field]
        for other in CONFIG_OF.values():
            if other != config_name and condition.get(other) is not None:
                raise ValidationError(f"{other} cannot be specified for condition '{field}'")
        values, config = condition.get("Values"), condition.get(config_name)
        if condition.get("RegexValues") or (config or {}).get("RegexValues"):
            raise ValidationError("Regular expression conditions (RegexValues) are not supported")
        if values and config is not None:
            raise ValidationError(f"Specify either Values or {config_name}, not both")
        if values and field not in PLAIN_VALUES:
            raise ValidationError(f"Condition '{field}' takes {config_name}, not Values")
        normalized: dict[str, Any] = {"Field": field}
        if values:
            normalized["Values"] = list(values)
            config = {"Values": list(values)}
        if config is None:
            raise ValidationError(f"Condition '{field}' needs {config_name}")
        normalized[config_name] = _config(field, config)
        total += len(normalized[config_name]["Values"])
        out.append(normalized)
    if total > MAX_VALUES:
        raise ValidationError(f"A rule can have at most {MAX_VALUES} condition values; got {total}")
    return out


def _strings(field: str, values: Any, pattern: re.Pattern[str]) -> list[str]:
    if not values:
        raise ValidationError(f"Condition '{field}' needs at least one value")
    for value in values:
        if not value or len(value) > MAX_LENGTH:
            raise ValidationError(
                f"Values of condition '{field}' must be 1-{MAX_LENGTH} characters long"
            )
        if not pattern.match(value):
            raise ValidationError(f"Value '{value}' of condition '{field}' has invalid characters")
    return list(values)


def _config(field: str, config: dict[str, Any]) -> dict[str, Any]:
    values = config.get("Values")
    if field == "path-pattern":
        return {"Values": _strings(field, values, _PATH)}
    if field == "host-header":
        return {"Values": _strings(field, values, _HOST)}
    if field == "http-request-method":
        return {"Values": _strings(field, values, _METHOD)}
    if field == "http-header":
        name = config.get("HttpHeaderName", "")
        if not _HEADER.match(name):
            raise ValidationError(f"HTTP header name '{name}' is not valid (1-40 token characters)")
        return {"HttpHeaderName": name, "Values": _strings(field, values, re.compile(r"^.+$"))}
    if field == "query-string":
        if not values:
            raise ValidationError("Condition 'query-string' needs at least one key/value pair")
        pairs = []
        for pair in values:
            value, key = pair.get("Value"), pair.get("Key")
            if not value or len(value) > MAX_LENGTH or (key is not None and len(key) > MAX_LENGTH):
                raise ValidationError(
                    f"Query string pairs need a Value of 1-{MAX_LENGTH} characters"
                )
            pairs.append({"Value": value} if key is None else {"Key": key, "Value": value})
        return {"Values": pairs}
    # source-ip
    if not values:
        raise ValidationError("Condition 'source-ip' needs at least one CIDR block")
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValidationError(f"'{value}' is not a valid CIDR block") from None
    return {"Values": list(values)}
