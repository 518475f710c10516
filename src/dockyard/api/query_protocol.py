"""AWS query protocol (ELBv2): form-encoded requests in, XML out, both driven by botocore's model.

A request is `POST /` with `Content-Type: application/x-www-form-urlencoded` and
a body such as `Action=CreateListener&Version=2015-12-01&DefaultActions.member.1.Type=forward`.
It is decoded by walking the operation's input shape (lists `Name.member.N`,
maps `Name.entry.N.key/value`, flattened variants, `true`/`false`, numbers), so
the handler gets exactly the dict botocore was given, then checked with
botocore's ParamValidator. The handler's result is written by walking the
output shape - no templates: keys the shape does not know are ignored (store
documents carry internal keys), lists become `<member>`s, timestamps ISO 8601.
Errors leave as `<ErrorResponse><Error><Type/><Code/><Message/></Error>...`,
which botocore maps to the service's modeled exceptions.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from aiohttp import web
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.utils import parse_timestamp

from dockyard.api.models import service_model, validate
from dockyard.context import ApiContext, Handler
from dockyard.errors import AwsError, ProtocolError, ServerException

log = logging.getLogger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
XML_CONTENT_TYPE = "text/xml"

# Codes of the shared error hierarchy that the query protocol spells differently.
_QUERY_CODES = {
    "UnrecognizedClientException": "InvalidClientTokenId",
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "MissingAuthenticationTokenException": "MissingAuthenticationToken",
    "ServerException": "InternalFailure",
}


@dataclass(frozen=True)
class QueryService:
    """One AWS service on the query protocol: its botocore model and its action handlers."""

    model_name: str
    handlers: Mapping[str, Handler]
    validation_error: str = "ValidationError"

    @property
    def model(self) -> ServiceModel:
        return service_model(self.model_name)

    @property
    def version(self) -> str:
        return str(self.model.metadata["apiVersion"])

    @property
    def namespace(self) -> str:
        return str(self.model.metadata["xmlNamespace"])


# --- decoding -----------------------------------------------------------------------------


class _Node:
    """One dotted segment of the form's keys: `A.member.1.B=x` is A -> member -> 1 -> B."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, _Node] = {}


def _tree(pairs: Iterable[tuple[str, str]]) -> _Node:
    root = _Node()
    for key, value in pairs:
        node = root
        for part in key.split("."):
            node = node.children.setdefault(part, _Node())
        node.value = value
    return root


def _wire_name(shape: Shape, name: str) -> str:
    """The name a member travels under (a flattened list takes its member's name)."""
    if shape.type_name == "list" and shape.serialization.get("flattened"):
        member_name = shape.member.serialization.get("name")
        if member_name:
            return str(member_name)
    return str(shape.serialization.get("name", name))


def decode_params(
    shape: Shape | None, pairs: Iterable[tuple[str, str]], error_code: str = "ValidationError"
) -> dict[str, Any]:
    """The botocore-shaped parameters of a form body (without Action and Version).

    Keys the shape does not know are ignored, as AWS's query services do.
    """
    if shape is None:
        return {}
    return _Decoder(error_code).structure(shape, _tree(pairs), "")


class _Decoder:
    def __init__(self, error_code: str) -> None:
        self.error_code = error_code

    def fail(self, message: str) -> AwsError:
        return AwsError(message, code=self.error_code)

    def value(self, shape: Shape, node: _Node, path: str) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, node, path)
        if kind == "list":
            return self.list(shape, node, path)
        if kind == "map":
            return self.map(shape, node, path)
        if node.value is None or node.children:
            raise self.fail(f"Invalid value for parameter {path}: expected a single value.")
        return self.scalar(shape, node.value, path)

    def structure(self, shape: Shape, node: _Node, path: str) -> dict[str, Any]:
        if node.value and not node.children:
            raise self.fail(f"Invalid value for parameter {path}: expected a structure.")
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            child = node.children.get(_wire_name(member, name))
            if child is not None:
                out[name] = self.value(member, child, f"{path}.{name}" if path else name)
        return out

    def indexed(self, node: _Node, path: str) -> list[tuple[int, _Node]]:
        items = []
        for index, child in node.children.items():
            if not index.isdigit() or int(index) < 1:
                raise self.fail(f"Invalid index {index!r} in parameter {path}.")
            items.append((int(index), child))
        return sorted(items, key=lambda item: item[0])

    def list(self, shape: Shape, node: _Node, path: str) -> list[Any]:
        if not node.children:
            if node.value:
                raise self.fail(f"Invalid value for parameter {path}: expected a list.")
            return []  # `Name=` is how the query protocol sends an empty list
        if shape.serialization.get("flattened"):
            container = node
        else:
            container = node.children.get(shape.member.serialization.get("name", "member"), _Node())
        return [
            self.value(shape.member, child, f"{path}[{index}]")
            for index, child in self.indexed(container, path)
        ]

    def map(self, shape: Shape, node: _Node, path: str) -> dict[str, Any]:
        container = node if shape.serialization.get("flattened") else node.children.get("entry")
        if container is None:
            return {}
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out: dict[str, Any] = {}
        for index, entry in self.indexed(container, path):
            key_node, value_node = entry.children.get(key_name), entry.children.get(value_name)
            if key_node is None or value_node is None:
                raise self.fail(f"Entry {index} of parameter {path} needs a key and a value.")
            key = self.value(shape.key, key_node, f"{path}.{index}.{key_name}")
            out[key] = self.value(shape.value, value_node, f"{path}[{key}]")
        return out

    def scalar(self, shape: Shape, text: str, path: str) -> Any:
        kind = shape.type_name
        try:
            if kind in {"integer", "long"}:
                return int(text)
            if kind in {"float", "double"}:
                return float(text)
            if kind == "boolean":
                if text.lower() not in {"true", "false"}:
                    raise ValueError(text)
                return text.lower() == "true"
            if kind == "timestamp":
                return parse_timestamp(text)
            if kind == "blob":
                return base64.b64decode(text, validate=True)
        except (ValueError, OverflowError, binascii.Error):
            raise self.fail(
                f"Invalid value for parameter {path}: {text!r} is not a valid {kind}."
            ) from None
        return text


# --- encoding -----------------------------------------------------------------------------


def iso8601(value: Any) -> str:
    """AWS's timestamp text: `2024-05-01T12:00:00.123Z` (epoch numbers or datetimes)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    moment: datetime = value if value.tzinfo else value.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# Characters XML 1.0 cannot carry (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/F):
# a message echoing a client's "\x1f" must not make the whole answer unparseable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _text(shape: Shape, value: Any) -> str:
    return xml_safe(_raw_text(shape, value))


def _raw_text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind in {"integer", "long"}:
        return str(int(value))
    if kind in {"float", "double"}:
        return repr(float(value))
    if kind == "timestamp":
        return iso8601(value)
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode()
    if not isinstance(value, str | int | float):
        raise TypeError(f"{shape.name} expects a string, got {type(value).__name__}")
    return str(value)


def _write(parent: ET.Element, name: str, shape: Shape, value: Any) -> None:
    kind = shape.type_name
    flattened = bool(shape.serialization.get("flattened"))
    if kind == "list":
        if not isinstance(value, list | tuple):
            raise TypeError(f"{shape.name} expects a list, got {type(value).__name__}")
        container = parent if flattened else ET.SubElement(parent, name)
        item_name = name if flattened else shape.member.serialization.get("name", "member")
        for item in value:
            _write(container, item_name, shape.member, item)
    elif kind == "map":
        if not isinstance(value, Mapping):
            raise TypeError(f"{shape.name} expects a map, got {type(value).__name__}")
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        element = None if flattened else ET.SubElement(parent, name)
        for key, item in value.items():
            # flattened: <Name><key/><value/></Name> per entry; else <Name><entry>...</entry>
            entry = (
                ET.SubElement(parent, name) if element is None else ET.SubElement(element, "entry")
            )
            _write(entry, key_name, shape.key, key)
            _write(entry, value_name, shape.value, item)
    elif kind == "structure":
        if not isinstance(value, Mapping):
            raise TypeError(f"{shape.name} expects a structure, got {type(value).__name__}")
        _write_members(ET.SubElement(parent, name), shape, value)
    else:
        ET.SubElement(parent, name).text = _text(shape, value)


def _write_members(element: ET.Element, shape: Shape, value: Mapping[str, Any]) -> None:
    for member_name, member in shape.members.items():
        item = value.get(member_name)
        if item is not None:
            _write(element, _wire_name(member, member_name), member, item)


def _bytes(root: ET.Element) -> bytes:
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def serialize_result(
    operation: OperationModel, result: Mapping[str, Any], request_id: str
) -> bytes:
    """`<{Op}Response><{Op}Result>...</{Op}Result><ResponseMetadata>...` for a result dict."""
    namespace = operation.service_model.metadata.get("xmlNamespace", "")
    root = ET.Element(f"{operation.name}Response", xmlns=namespace)
    shape = operation.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper")
        _write_members(ET.SubElement(root, wrapper) if wrapper else root, shape, result)
    metadata = ET.SubElement(root, "ResponseMetadata")
    ET.SubElement(metadata, "RequestId").text = request_id
    return _bytes(root)


def serialize_error(error: AwsError, namespace: str, request_id: str) -> bytes:
    root = ET.Element("ErrorResponse", xmlns=namespace)
    body = ET.SubElement(root, "Error")
    ET.SubElement(body, "Type").text = "Sender" if error.sender_fault else "Receiver"
    ET.SubElement(body, "Code").text = xml_safe(_QUERY_CODES.get(error.code, error.code))
    ET.SubElement(body, "Message").text = xml_safe(error.message)
    ET.SubElement(root, "RequestId").text = request_id
    return _bytes(root)


# --- dispatch -----------------------------------------------------------------------------


def _run(
    service: QueryService | None,
    fields: list[tuple[str, str]],
    ctx: ApiContext,
    request_id: str,
) -> bytes:
    values = dict(fields)
    action, version = values.get("Action", ""), values.get("Version", "")
    if not action:
        raise ProtocolError("Missing Action parameter.", code="MissingAction")
    if service is None or action not in service.handlers:
        raise ProtocolError(
            f"Could not find operation {action} for version {version or 'NO_VERSION_SPECIFIED'}.",
            code="InvalidAction",
        )
    operation = service.model.operation_model(action)
    pairs = ((k, v) for k, v in fields if k not in {"Action", "Version"})
    params = decode_params(operation.input_shape, pairs, service.validation_error)
    validate(operation, params, service.validation_error)
    result = service.handlers[action](ctx, params)
    return serialize_result(operation, result, request_id)


def respond(
    services: Mapping[str, QueryService],
    ctx: ApiContext,
    body: bytes,
    request_id: str,
    authenticate: Callable[[], None],
) -> web.Response:
    """Answer one query-protocol request; `services` are keyed by API version."""
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        fields = []
    values = dict(fields)
    service = services.get(values.get("Version", ""))
    if service is None and "Version" not in values and len(services) == 1:
        service = next(iter(services.values()))
    namespace = service.namespace if service else ""
    status = 200
    try:
        authenticate()
        payload = _run(service, fields, ctx, request_id)
    except AwsError as error:
        log.info("query %s -> %s %s", values.get("Action", "-"), error.status, error.code)
        status, payload = error.status, serialize_error(error, namespace, request_id)
    except Exception:
        log.exception("query %s failed (request %s)", values.get("Action", "-"), request_id)
        internal = ServerException("An internal error occurred. Request id: " + request_id)
        status, payload = internal.status, serialize_error(internal, namespace, request_id)
    return web.Response(
        status=status,
        body=payload,
        content_type=XML_CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id},
    )
