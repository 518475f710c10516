"""Target group health check settings: ELB's defaults and rules per target group protocol.

                     HTTP groups (ALB)     TCP / TLS groups (NLB)
    protocol         HTTP                  TCP (default; a connect), HTTP, HTTPS
    interval         30 s                  30 s
    timeout          5 s                   10 s (TCP, HTTPS), 6 s (HTTP)
    thresholds       5 healthy, 2 unhealthy
    path, matcher    "/", 200 (200-499)    HTTP/HTTPS checks only: "/", 200-399 (200-599)

`settle(params, current, protocol)` gives the settings a target group keeps after a
CreateTargetGroup (current None) or a ModifyTargetGroup: the request's values over the
current ones over the defaults, validated. A TCP check has no path and no matcher (ELB
shows none). Used by target_groups.py; rendered by lb/render.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dockyard.api.elbv2.network import NLB_GROUP
from dockyard.elbv2.errors import ValidationError

ALB_DEFAULTS: dict[str, Any] = {
    "HealthCheckProtocol": "HTTP",
    "HealthCheckPort": "traffic-port",
    "HealthCheckEnabled": True,
    "HealthCheckIntervalSeconds": 30,
    "HealthCheckTimeoutSeconds": 5,
    "HealthyThresholdCount": 5,
    "UnhealthyThresholdCount": 2,
    "HealthCheckPath": "/",
    "Matcher": {"HttpCode": "200"},
}
HTTP_ONLY = ("HealthCheckPath", "Matcher")
_CODES = re.compile(r"^\d{3}(,\d{3})*$")
_RANGE = re.compile(r"^(\d{3})-(\d{3})$")


def defaults(protocol: str, health_protocol: str) -> dict[str, Any]:
    """ELB's defaults for a group of `protocol` checked over `health_protocol`."""
    if protocol not in NLB_GROUP:
        return dict(ALB_DEFAULTS)
    out = dict(ALB_DEFAULTS)
    out["HealthCheckProtocol"] = health_protocol
    out["HealthCheckTimeoutSeconds"] = 6 if health_protocol == "HTTP" else 10
    out["Matcher"] = {"HttpCode": "200-399"}
    if health_protocol == "TCP":
        for key in HTTP_ONLY:
            del out[key]
    return out


def check_matcher(matcher: Mapping[str, Any], highest: int = 499) -> None:
    """HttpCode is "200", a list "200,202" or a range "200-299", within 200-`highest`."""
    if "GrpcCode" in matcher:
        raise ValidationError("GrpcCode matchers need a gRPC target group, which is not supported")
    code = matcher.get("HttpCode", "")
    if _CODES.match(code):
        bounds = [int(part) for part in code.split(",")]
    elif match := _RANGE.match(code):
        bounds = [int(match[1]), int(match[2])]
        if bounds[0] > bounds[1]:
            raise ValidationError(f"Health check matcher range '{code}' is reversed")
    else:
        raise ValidationError(
            f"Health check matcher HttpCode '{code}' must be a code, a list such as "
            "'200,202' or a range such as '200-299'"
        )
    if not all(200 <= bound <= highest for bound in bounds):
        raise ValidationError(f"Health check matcher codes must be between 200 and {highest}")


def settle(
    params: Mapping[str, Any], current: Mapping[str, Any] | None, protocol: str
) -> dict[str, Any]:
    """The validated health check settings of a group of `protocol` after this request."""
    network = protocol in NLB_GROUP
    current = current or {}
    health_protocol = str(
        params.get("HealthCheckProtocol")
        or current.get("HealthCheckProtocol")
        or ("TCP" if network else "HTTP")
    )
    allowed = ("TCP", "HTTP", "HTTPS") if network else ("HTTP",)
    if health_protocol not in allowed:
        raise ValidationError(
            f"Health check protocol '{health_protocol}' is not supported for target groups "
            f"with the protocol '{protocol}'; use {' or '.join(allowed)}"
        )
    if health_protocol == "TCP" and any(key in params for key in HTTP_ONLY):
        raise ValidationError(
            "A health check path and matcher apply to HTTP and HTTPS health checks only; "
            "this target group's health check protocol is TCP"
        )
    settings = {
        key: params.get(key, current.get(key, default))
        for key, default in defaults(protocol, health_protocol).items()
    }
    settings["HealthCheckProtocol"] = health_protocol
    _check(settings, 599 if network else 499)
    return settings


def _check(settings: dict[str, Any], highest_code: int) -> None:
    port = str(settings["HealthCheckPort"])
    if port != "traffic-port" and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValidationError("Health check port must be 'traffic-port' or between 1 and 65535")
    if "HealthCheckPath" in settings:
        path = settings["HealthCheckPath"]
        if not path.startswith("/") or len(path) > 1024:
            raise ValidationError("Health check path must start with '/' (up to 1024 characters)")
    interval, timeout = (
        settings["HealthCheckIntervalSeconds"],
        settings["HealthCheckTimeoutSeconds"],
    )
    if not 5 <= interval <= 300:
        raise ValidationError("Health check interval must be between 5 and 300 seconds")
    if not 2 <= timeout <= 120:
        raise ValidationError("Health check timeout must be between 2 and 120 seconds")
    if timeout >= interval:
        raise ValidationError(
            f"Health check timeout '{timeout}' must be smaller than the interval '{interval}'"
        )
    for key in ("HealthyThresholdCount", "UnhealthyThresholdCount"):
        if not 2 <= settings[key] <= 10:
            raise ValidationError(f"{key} must be between 2 and 10")
    if "Matcher" in settings:
        check_matcher(settings["Matcher"], highest_code)
