"""Every API operation Dockyard serves, fuzzed from its botocore model.

For each operation of every served handler table (ECS, ELBv2, CloudWatch on JSON 1.0
and on the query protocol, Application Auto Scaling; read at collection time, so new
handlers are fuzzed as soon as they are registered), an in-process server seeded with
one of everything receives requests serialized exactly as botocore serializes them,
plus wrongly typed JSON and broken forms. Properties:

* the status is never 5xx, and never a traceback in the body;
* errors have the protocol's AWS shape (`__type`/`message` for JSON,
  `ErrorResponse/Error/Code` for query) and parse with botocore's own parser;
  successes parse with botocore's parser against the output shape;
* a refused request leaves every control-store table exactly as it was.

Bounded and reproducible: DOCKYARD_FUZZ_EXAMPLES examples per operation (default 25),
derandomized, no example database. A longer local run:
`DOCKYARD_FUZZ_EXAMPLES=500 .venv/bin/pytest -q -p no:cacheprovider tests/fuzz`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from dockyard.api.models import service_model
from dockyard.testing.fuzz import params_for, raw_form_fields, raw_json_bodies, wrong_typed
from tests.fuzz.harness import (
    Answer,
    Endpoint,
    Seeded,
    Wire,
    copy_data,
    encode,
    endpoints,
    parse,
    seed,
)

EXAMPLES = int(os.environ.get("DOCKYARD_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=list(HealthCheck),
)
ENDPOINTS = {endpoint.label: endpoint for endpoint in endpoints()}
OPERATIONS = [
    pytest.param(label, name, id=f"{label}-{name}")
    for label, endpoint in ENDPOINTS.items()
    for name in sorted(endpoint.handlers)
]
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/', "site-packages")


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    """A store seeded once through the API; each test gets its own copy."""
    path = tmp_path_factory.mktemp("fuzz") / "template"
    wire = Wire(path)
    try:
        seeded = seed(wire)
    finally:
        wire.close()
    return path, seeded


@pytest.fixture
def wire(template: tuple[Path, Seeded], tmp_path: Path) -> Iterator[Wire]:
    copy = tmp_path / "data"
    copy_data(template[0], copy)
    opened = Wire(copy)
    yield opened
    opened.close()


# --- properties --------------------------------------------------------------------------


def check_answer(endpoint: Endpoint, action: str, answer: Answer) -> None:
    """No 5xx, no traceback, AWS's shape for the protocol; botocore parses it."""
    where = f"{endpoint.label} {action}: {answer.status} {answer.text()[:600]}"
    assert answer.status < 500, where
    assert not any(marker in answer.text() for marker in TRACEBACK_MARKERS), where
    assert answer.headers.get("x-amzn-RequestId"), where
    if answer.status >= 300:
        check_error_shape(endpoint, answer, where)
    if action in endpoint.handlers:
        parsed = parse(endpoint, action, answer)  # raises when botocore cannot read it
        if answer.status >= 300:
            assert parsed["Error"]["Code"], where


def check_error_shape(endpoint: Endpoint, answer: Answer, where: str) -> None:
    assert 400 <= answer.status < 500, where
    if endpoint.protocol == "json":
        body = json.loads(answer.body)
        assert isinstance(body, dict), where
        assert isinstance(body.get("__type"), str), where
        assert body["__type"], where
        assert isinstance(body.get("message"), str), where
        return
    root = ET.fromstring(answer.body)
    assert root.tag.endswith("ErrorResponse"), where
    namespace = root.tag[: -len("ErrorResponse")]
    code = root.find(f"{namespace}Error/{namespace}Code")
    message = root.find(f"{namespace}Error/{namespace}Message")
    assert code is not None and code.text, where
    assert message is not None, where


def send_and_check(
    wire: Wire, endpoint: Endpoint, action: str, body: bytes, headers: dict[str, str]
) -> Answer:
    wire.reset()
    before = wire.baseline
    answer = wire.post(body, headers)
    check_answer(endpoint, action, answer)
    if answer.status >= 300:
        assert wire.snapshot() == before, (
            f"{endpoint.label} {action} was refused ({answer.text()[:300]}) but wrote to the store"
        )
    return answer


# --- every operation -----------------------------------------------------------------------


def encoded(
    endpoint: Endpoint, action: str, params: dict[str, Any]
) -> tuple[bytes, dict[str, str]]:
    """botocore's request for `params`; examples no client could send are rejected."""
    try:
        return encode(endpoint, action, params)
    except (TypeError, ValueError, OverflowError):  # e.g. a lone surrogate in a form
        reject()


def test_seeding_reaches_every_lookup(template: tuple[Path, Seeded]) -> None:
    """The fuzz is only as deep as its plausible values: ECS and ELBv2 seeds must succeed."""
    failures = [f for f in template[1].failures if f.startswith(("ecs ", "elbv2 ", "acm "))]
    assert failures == []


@pytest.mark.parametrize(("label", "action"), OPERATIONS)
@FUZZ
@given(data=st.data())
def test_operation_never_fails_the_server(
    wire: Wire, template: tuple[Path, Seeded], label: str, action: str, data: st.DataObject
) -> None:
    endpoint = ENDPOINTS[label]
    operation = endpoint.operation(action)
    mode = data.draw(st.sampled_from(["model"] * 6 + ["raw"]), label="mode")
    if mode == "model":
        params = data.draw(params_for(operation, template[1].plausible), label="params")
        body, headers = encoded(endpoint, action, params)
    elif endpoint.protocol == "json":
        params = data.draw(wrong_typed(operation), label="wrongly typed params")
        body = json.dumps(params).encode()
        headers = encode(endpoint, action, {})[1]
    else:
        base = data.draw(params_for(operation, template[1].plausible), label="params")
        shape = operation.input_shape
        extra = data.draw(raw_form_fields(shape.members if shape else []), label="form fields")
        body, headers = encoded(endpoint, action, base)
        body = body + b"&" + urlencode(extra).encode()
    answer = send_and_check(wire, endpoint, action, body, headers)
    if answer.status >= 300:  # a served action is routed: the fuzz cannot pass vacuously
        code = parse(endpoint, action, answer)["Error"]["Code"]
        assert code not in {"UnknownOperationException", "InvalidAction"}, answer.text()


# --- garbage per protocol ------------------------------------------------------------------

JSON_ENDPOINTS = [label for label, e in ENDPOINTS.items() if e.protocol == "json"]
QUERY_ENDPOINTS = [label for label, e in ENDPOINTS.items() if e.protocol == "query"]


@pytest.mark.parametrize("label", JSON_ENDPOINTS)
@FUZZ
@given(data=st.data())
def test_json_garbage_is_refused_politely(wire: Wire, label: str, data: st.DataObject) -> None:
    endpoint = ENDPOINTS[label]
    actions = sorted(endpoint.handlers) or ["ListClusters"]
    action = data.draw(st.sampled_from([*actions, "NoSuchAction", ""]), label="action")
    headers = encode(ENDPOINTS["ecs"], "ListClusters", {})[1]
    prefix = service_model(endpoint.model_name).metadata["targetPrefix"]
    headers["X-Amz-Target"] = f"{prefix}.{action}"
    body = data.draw(raw_json_bodies(), label="body")
    send_and_check(wire, endpoint, action, body, headers)


@pytest.mark.parametrize("label", QUERY_ENDPOINTS)
@FUZZ
@given(data=st.data())
def test_query_garbage_is_refused_politely(wire: Wire, label: str, data: st.DataObject) -> None:
    endpoint = ENDPOINTS[label]
    version = str(service_model(endpoint.model_name).metadata["apiVersion"])
    action = data.draw(
        st.sampled_from([*sorted(endpoint.handlers), "NoSuchAction", ""]), label="action"
    )
    fields: list[tuple[str, str]] = []
    if action:
        fields.append(("Action", action))
    fields += data.draw(
        st.sampled_from([[("Version", version)], [], [("Version", "1999-01-01")]]), label="version"
    )
    names: list[str] = []
    if action in endpoint.handlers:
        shape = endpoint.operation(action).input_shape
        names = sorted(shape.members) if shape else []
    fields += data.draw(raw_form_fields(names), label="fields")
    body = urlencode(fields).encode()
    body = data.draw(
        st.sampled_from([body, body + b"&%ZZ=1", body + b"&\xff\xfe=1", b"\xff" + body]),
        label="encoding",
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    send_and_check(wire, endpoint, action, body, headers)


RAW_CASES: list[tuple[dict[str, str], bytes]] = [
    ({}, b""),
    ({"Content-Type": "application/json"}, b"{}"),
    ({"X-Amz-Target": "Nope.ListClusters"}, b"{}"),
    ({"X-Amz-Target": "ListClusters"}, b"{}"),
    ({"X-Amz-Target": ""}, b"{}"),
    ({"X-Amz-Target": "AmazonEC2ContainerServiceV20141113."}, b"{}"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b""),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"Action="),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"Version=2015-12-01"),
    ({"Content-Type": "text/plain"}, b"Action=ListMetrics&Version=2010-08-01"),
]


@pytest.mark.parametrize(("headers", "body"), RAW_CASES)
def test_requests_without_a_service_are_refused_politely(
    wire: Wire, headers: dict[str, str], body: bytes
) -> None:
    form = headers.get("Content-Type", "").startswith("application/x-www-form")
    endpoint = ENDPOINTS["elbv2" if form else "ecs"]
    send_and_check(wire, endpoint, "", body, headers)
