"""Listener attributes: DescribeListenerAttributes, ModifyListenerAttributes.

ELB's keys by listener protocol: HTTP/HTTPS listeners (ALB) take the request header
names (`routing.http.request.x_amzn_*.header_name`) and the response headers
(`routing.http.response.*`); TCP/TLS/UDP listeners (NLB) take
`tcp.idle_timeout.seconds` (60-6000, default 350). The listener document keeps the
complete list under "Attributes" (defaults included, as load balancers and target
groups do); a key of the other kind of listener is a ValidationError.
What the data plane honours is in lb/README.md ("Listener attributes").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dockyard.api.elbv2 import attributes
from dockyard.api.elbv2.attributes import Check, between, boolean, one_of
from dockyard.api.elbv2.refs import get_listener, notify_lb
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2.errors import ValidationError
from dockyard.store import Kind

_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,40}$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]{0,1024}$")
METHODS = {"GET", "HEAD", "POST", "DELETE", "PUT", "CONNECT", "OPTIONS", "TRACE", "PATCH"}


def _header_name(key: str, value: str) -> None:
    if not _HEADER_NAME.match(value):
        raise ValidationError(
            f"The value of '{key}' must be a header name of 1-40 letters, digits and hyphens; "
            f"got '{value}'"
        )


def _header_value(key: str, value: str) -> None:
    """A response header's value; empty means the header is not added."""
    if not _PRINTABLE.match(value):
        raise ValidationError(
            f"The value of '{key}' must be printable ASCII of up to 1024 characters"
        )


def _or_unset(check: Check) -> Check:
    def checked(key: str, value: str) -> None:
        if value:
            check(key, value)

    return checked


def _methods(key: str, value: str) -> None:
    given = [method.strip() for method in value.split(",")]
    if not set(given) <= METHODS or "" in given:
        raise ValidationError(
            f"The value of '{key}' must be a comma-separated list of {', '.join(sorted(METHODS))}"
        )


def _frame_options(key: str, value: str) -> None:
    if value not in {"DENY", "SAMEORIGIN"} and not re.match(r"^ALLOW-FROM \S+$", value):
        raise ValidationError(
            f"The value of '{key}' must be DENY, SAMEORIGIN or ALLOW-FROM <uri>; got '{value}'"
        )


_REQUEST = "routing.http.request.{}.header_name"
_RESPONSE = "routing.http.response.{}.header_value"

HTTP: dict[str, tuple[str, Check]] = {
    _REQUEST.format(name): (header, _header_name)
    for name, header in [
        ("x_amzn_mtls_clientcert_serial_number", "X-Amzn-Mtls-Clientcert-Serial-Number"),
        ("x_amzn_mtls_clientcert_issuer", "X-Amzn-Mtls-Clientcert-Issuer"),
        ("x_amzn_mtls_clientcert_subject", "X-Amzn-Mtls-Clientcert-Subject"),
        ("x_amzn_mtls_clientcert_validity", "X-Amzn-Mtls-Clientcert-Validity"),
        ("x_amzn_mtls_clientcert_leaf", "X-Amzn-Mtls-Clientcert-Leaf"),
        ("x_amzn_mtls_clientcert", "X-Amzn-Mtls-Clientcert"),
        ("x_amzn_tls_version", "X-Amzn-Tls-Version"),
        ("x_amzn_tls_cipher_suite", "X-Amzn-Tls-Cipher-Suite"),
    ]
} | {
    "routing.http.response.server.enabled": ("true", boolean),
    _RESPONSE.format("strict_transport_security"): ("", _header_value),
    _RESPONSE.format("access_control_allow_origin"): ("", _header_value),
    _RESPONSE.format("access_control_allow_methods"): ("", _or_unset(_methods)),
    _RESPONSE.format("access_control_allow_headers"): ("", _header_value),
    _RESPONSE.format("access_control_allow_credentials"): ("", _or_unset(one_of("true"))),
    _RESPONSE.format("access_control_expose_headers"): ("", _header_value),
    _RESPONSE.format("access_control_max_age"): ("", _or_unset(between(0, 86400))),
    _RESPONSE.format("content_security_policy"): ("", _header_value),
    _RESPONSE.format("x_content_type_options"): ("", _or_unset(one_of("nosniff"))),
    _RESPONSE.format("x_frame_options"): ("", _or_unset(_frame_options)),
}

TCP: dict[str, tuple[str, Check]] = {
    "tcp.idle_timeout.seconds": ("350", between(60, 6000)),
}


def table_for(listener: Mapping[str, Any]) -> dict[str, tuple[str, Check]]:
    """The attribute table of a listener's protocol (HTTP/HTTPS: ALB; the rest: NLB)."""
    return HTTP if listener.get("Protocol", "HTTP") in {"HTTP", "HTTPS"} else TCP


def _check_keys(listener: Mapping[str, Any], changes: list[dict[str, Any]]) -> None:
    table = table_for(listener)
    for change in changes:
        key = str(change.get("Key"))
        if key not in table and key in (HTTP.keys() | TCP.keys()):
            kind = "HTTP and HTTPS" if key in HTTP else "TCP, TLS and UDP"
            raise ValidationError(
                f"Attribute '{key}' applies to {kind} listeners, not to a "
                f"{listener.get('Protocol', 'HTTP')} listener"
            )


def describe_listener_attributes(ctx: ApiContext, params: Params) -> Result:
    with ctx.store.read() as tx:
        doc = get_listener(tx, params["ListenerArn"])
    return {"Attributes": attributes.merged(doc.get("Attributes", []), [], table_for(doc))}


def modify_listener_attributes(ctx: ApiContext, params: Params) -> Result:
    changes = params["Attributes"]
    if not changes:
        raise ValidationError("At least one attribute must be specified")
    with ctx.store.transaction() as tx:
        doc = get_listener(tx, params["ListenerArn"])
        _check_keys(doc, changes)
        doc["Attributes"] = attributes.merged(doc.get("Attributes", []), changes, table_for(doc))
        tx.update(Kind.LISTENER, doc["ListenerArn"], doc)
    notify_lb(ctx)
    return {"Attributes": doc["Attributes"]}
