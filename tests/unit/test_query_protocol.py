"""The query protocol (api/query_protocol.py), proved with botocore's own serializer and parser.

* every ELBv2 operation's output shape: a sample result is written to XML and
  botocore's query parser reads back exactly that result;
* every operation's input shape: botocore's QuerySerializer flattens a sample
  request into a form, and decode_params rebuilds exactly the request;
* real handler results for every implemented operation (an in-process run over
  a SQLite store, with the documents' internal keys) parse back to their
  shape-projected selves;
* errors come out in the query XML error shape botocore maps to exceptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import boto3
import pytest
from aiohttp.test_utils import TestServer
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import QuerySerializer

from dockyard.api.app import create_app
from dockyard.api.ecs import ECS
from dockyard.api.elbv2 import ELBV2, HANDLERS
from dockyard.api.models import service_model
from dockyard.api.query_protocol import (
    QueryService,
    decode_params,
    iso8601,
    respond,
    serialize_error,
    serialize_result,
)
from dockyard.context import ApiContext, Params, Result
from dockyard.elbv2 import errors as elb_errors
from dockyard.errors import AwsError
from dockyard.store import Kind, open_store
from dockyard.store.sql import SqlStore, sqlite_url
from dockyard.testing.pki import Ca

ELBV2_MODEL = service_model("elbv2")
WHEN = datetime(2024, 5, 1, 12, 30, 45, 123000, tzinfo=UTC)


# --- samples generated from the model ------------------------------------------------------


def sample(shape: Shape, seed: str = "v", depth: int = 0) -> Any:
    """A value for every member of `shape` (two items per list), deterministic per seed."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 8:
            return {}
        return {name: sample(m, f"{seed}.{name}", depth + 1) for name, m in shape.members.items()}
    if kind == "list":
        return [sample(shape.member, f"{seed}{i}", depth + 1) for i in (1, 2)]
    if kind == "map":
        return {f"{seed}-k{i}": sample(shape.value, f"{seed}{i}", depth + 1) for i in (1, 2)}
    if kind == "string":
        enum = getattr(shape, "enum", None)
        return enum[len(seed) % len(enum)] if enum else f"{seed} <&>\"' é"
    if kind in {"integer", "long"}:
        return len(seed) * 7
    if kind == "boolean":
        return len(seed) % 2 == 0
    if kind in {"float", "double"}:
        return len(seed) + 0.25
    if kind == "timestamp":
        return WHEN
    if kind == "blob":
        return seed.encode() + b"\x00\xff"
    raise AssertionError(f"no sample for {kind}")


def project(shape: Shape, value: Any) -> Any:
    """What a client should see of `value`: members of the shape only, timestamps as datetimes."""
    kind = shape.type_name
    if kind == "structure":
        return {
            name: project(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [project(shape.member, item) for item in value]
    if kind == "map":
        return {key: project(shape.value, item) for key, item in value.items()}
    if kind == "timestamp" and isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return value


def parse_ok(operation: OperationModel, body: bytes) -> dict[str, Any]:
    parsed = create_parser("query").parse(
        {"body": body, "headers": {}, "status_code": 200}, operation.output_shape
    )
    assert isinstance(parsed, dict)
    return parsed


def form_of(operation: OperationModel, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The form botocore sends for `params`, round-tripped through URL encoding."""
    body = QuerySerializer().serialize_to_request(params, operation)["body"]
    return parse_qsl(urlencode(body), keep_blank_values=True)


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_output_shape_round_trips_through_botocore_parser(name: str) -> None:
    operation = ELBV2_MODEL.operation_model(name)
    result = sample(operation.output_shape, name) if operation.output_shape else {}
    body = serialize_result(operation, result, "req-1")
    assert body.startswith(b"<?xml")
    assert f"<{name}Response xmlns=\"{ELBV2_MODEL.metadata['xmlNamespace']}\">".encode() in body
    parsed = parse_ok(operation, body)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-1"
    assert parsed == result


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_input_shape_round_trips_through_botocore_serializer(name: str) -> None:
    operation = ELBV2_MODEL.operation_model(name)
    params = sample(operation.input_shape, name)
    form = form_of(operation, params)
    assert ("Action", name) in form and ("Version", "2015-12-01") in form
    decoded = decode_params(operation.input_shape, [kv for kv in form if kv[0] not in {"Action", "Version"}])
    assert decoded == params


TRAITS_MODEL = ServiceModel(
    {
        "metadata": {
            "protocol": "query",
            "apiVersion": "2020-01-01",
            "xmlNamespace": "http://example.com/doc/2020-01-01/",
            "endpointPrefix": "traits",
        },
        "operations": {
            "Op": {
                "name": "Op",
                "http": {"method": "POST", "requestUri": "/"},
                "input": {"shape": "Shapes"},
                "output": {"shape": "Shapes", "resultWrapper": "OpResult"},
            }
        },
        "shapes": {
            "Shapes": {
                "type": "structure",
                "members": {
                    "Flat": {"shape": "FlatList", "locationName": "Item"},
                    "Named": {"shape": "String", "locationName": "OtherName"},
                    "Entries": {"shape": "Pairs"},
                    "FlatMap": {"shape": "FlatPairs"},
                    "When": {"shape": "Time"},
                    "Raw": {"shape": "Blob"},
                    "Ratio": {"shape": "Double"},
                },
            },
            "FlatList": {
                "type": "list",
                "member": {"shape": "Inner", "locationName": "Item"},
                "flattened": True,
            },
            "Inner": {"type": "structure", "members": {"N": {"shape": "Long"}}},
            "Pairs": {
                "type": "map",
                "key": {"shape": "String", "locationName": "Name"},
                "value": {"shape": "Inner", "locationName": "Value"},
            },
            "FlatPairs": {
                "type": "map",
                "key": {"shape": "String"},
                "value": {"shape": "String"},
                "flattened": True,
            },
            "String": {"type": "string"},
            "Long": {"type": "long"},
            "Time": {"type": "timestamp"},
            "Blob": {"type": "blob"},
            "Double": {"type": "double"},
        },
    },
    service_name="traits",
)


def test_flattened_lists_maps_and_location_names_round_trip() -> None:
    """Serialization traits ELBv2 does not use today (from a small model built here)."""
    operation = TRAITS_MODEL.operation_model("Op")
    params = sample(operation.input_shape, "Op")
    form = form_of(operation, params)
    keys = {key for key, _ in form}
    assert {"Item.1.N", "OtherName", "Entries.entry.1.Name", "FlatMap.1.key"} <= keys
    decoded = decode_params(operation.input_shape, [kv for kv in form if kv[0] not in {"Action", "Version"}])
    assert decoded == params
    body = serialize_result(operation, params, "rid")
    assert b"<Item><N>" in body and b"<OtherName>" in body
    parsed = parse_ok(operation, body)
    parsed.pop("ResponseMetadata")
    assert parsed == params


def test_nested_lists_booleans_integers_and_empty_lists() -> None:
    operation = ELBV2_MODEL.operation_model("CreateListener")
    form = [
        ("LoadBalancerArn", "arn:lb"),
        ("Port", "8080"),
        ("DefaultActions.member.1.Type", "forward"),
        ("DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn", "b"),
        ("DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.Weight", "3"),
        ("DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn", "a"),
        ("DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled", "true"),
        ("Certificates", ""),
        ("Unknown.member.1", "ignored"),
    ]
    assert decode_params(operation.input_shape, form) == {
        "LoadBalancerArn": "arn:lb",
        "Port": 8080,
        "DefaultActions": [
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": "a"},
                        {"TargetGroupArn": "b", "Weight": 3},
                    ],
                    "TargetGroupStickinessConfig": {"Enabled": True},
                },
            }
        ],
        "Certificates": [],
    }
    attributes = ELBV2_MODEL.operation_model("ModifyTargetGroupAttributes").input_shape
    decoded = decode_params(
        attributes,
        [
            ("TargetGroupArn", "tg"),
            ("Attributes.member.1.Key", "stickiness.enabled"),
            ("Attributes.member.1.Value", "true"),
            ("Attributes.member.10.Key", "slow_start.duration_seconds"),
            ("Attributes.member.10.Value", "30"),
        ],
    )
    assert [a["Key"] for a in decoded["Attributes"]] == [
        "stickiness.enabled",
        "slow_start.duration_seconds",
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Port", "eighty"),
        ("DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled", "yes"),
        ("DefaultActions.member.x.Type", "forward"),
        ("DefaultActions", "forward"),
        ("Port.member.1", "80"),
    ],
)
def test_malformed_values_are_validation_errors(key: str, value: str) -> None:
    operation = ELBV2_MODEL.operation_model("CreateListener")
    with pytest.raises(AwsError) as caught:
        decode_params(operation.input_shape, [(key, value)])
    assert caught.value.code == "ValidationError"


def test_extra_result_keys_are_ignored_and_timestamps_are_iso8601() -> None:
    operation = ELBV2_MODEL.operation_model("DescribeLoadBalancers")
    result = {
        "LoadBalancers": [
            {
                "LoadBalancerName": "web",
                "CreatedTime": 1714566645.123,
                "Attributes": [{"Key": "internal", "Value": "kept out"}],
                "State": {"Code": "active", "internal": 1},
            }
        ],
        "Internal": "not in the shape",
    }
    body = serialize_result(operation, result, "r")
    assert b"internal" not in body.lower().replace(b"internal-facing", b"")
    assert b"<CreatedTime>2024-05-01T12:30:45.123Z</CreatedTime>" in body
    parsed = parse_ok(operation, body)
    assert parsed["LoadBalancers"] == [
        {"LoadBalancerName": "web", "CreatedTime": WHEN, "State": {"Code": "active"}}
    ]
    assert iso8601(WHEN) == iso8601(WHEN.timestamp()) == "2024-05-01T12:30:45.123Z"


def test_wrongly_typed_results_are_refused() -> None:
    operation = ELBV2_MODEL.operation_model("DescribeLoadBalancers")
    with pytest.raises(TypeError):
        serialize_result(operation, {"LoadBalancers": {"not": "a list"}}, "r")


# --- errors --------------------------------------------------------------------------------


def parse_error(body: bytes, status: int = 400) -> dict[str, Any]:
    parsed = create_parser("query").parse({"body": body, "headers": {}, "status_code": status}, None)
    assert isinstance(parsed, dict)
    return parsed


def test_error_xml_is_botocores_error_shape() -> None:
    body = serialize_error(elb_errors.TargetGroupNotFound(), ELBV2.namespace, "rid-7")
    assert body.startswith(b"<?xml") and b"<ErrorResponse xmlns=" in body
    parsed = parse_error(body)
    assert parsed["Error"] == {
        "Type": "Sender",
        "Code": "TargetGroupNotFound",
        "Message": "One or more target groups not found",
    }
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-7"


def test_error_classes_match_the_modeled_error_shapes() -> None:
    modeled = {
        shape.error_code: shape
        for name in ELBV2_MODEL.operation_names
        for shape in ELBV2_MODEL.operation_model(name).error_shapes
    }
    classes = [
        cls
        for cls in vars(elb_errors).values()
        if isinstance(cls, type) and issubclass(cls, elb_errors.ElbError)
        and cls is not elb_errors.ElbError
    ]
    assert len(classes) >= 20
    for cls in classes:
        if cls.code == "ValidationError":
            continue
        assert cls.code in modeled, cls
        error = modeled[cls.code].metadata["error"]
        assert (cls.status, cls.sender_fault) == (error["httpStatusCode"], error["senderFault"])


# --- real handlers, in process -------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(sqlite_url(tmp_path))
    yield opened
    opened.close()


class Recorder:
    """Runs requests through `respond` with botocore's serializer and parser, keeping each
    handler's raw result to compare with what the client parsed."""

    def __init__(self, store: SqlStore) -> None:
        self.ctx = ApiContext(store=store)
        self.results: dict[str, Result] = {}
        handlers = {name: self._recording(name, handler) for name, handler in HANDLERS.items()}
        self.service = QueryService("elbv2", handlers)

    def _recording(
        self, name: str, handler: Callable[[ApiContext, Params], Result]
    ) -> Callable[[ApiContext, Params], Result]:
        def run(ctx: ApiContext, params: Params) -> Result:
            result = handler(ctx, params)
            self.results[name] = result
            return result

        return run

    def __call__(self, name: str, **params: Any) -> dict[str, Any]:
        operation = ELBV2_MODEL.operation_model(name)
        body = urlencode(QuerySerializer().serialize_to_request(params, operation)["body"])
        response = respond(
            {self.service.version: self.service}, self.ctx, body.encode(), "rid", lambda: None
        )
        assert isinstance(response.body, bytes)
        if response.status != 200:
            raise AssertionError(parse_error(response.body, response.status))
        parsed = parse_ok(operation, response.body)
        parsed.pop("ResponseMetadata")
        assert parsed == project(operation.output_shape, self.results[name]), name
        return parsed

    def error(self, name: str, **params: Any) -> str:
        operation = ELBV2_MODEL.operation_model(name)
        body = urlencode(QuerySerializer().serialize_to_request(params, operation)["body"])
        response = respond(
            {self.service.version: self.service}, self.ctx, body.encode(), "rid", lambda: None
        )
        assert isinstance(response.body, bytes)
        assert response.status == 400
        return str(parse_error(response.body)["Error"]["Code"])


def test_every_operation_with_real_results_parses_back(store: SqlStore, tmp_path: Path) -> None:
    call = Recorder(store)
    lb = call("CreateLoadBalancer", Name="web", Tags=[{"Key": "team", "Value": "a"}])
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    call("DescribeLoadBalancers", Names=["web"])
    call("ModifyLoadBalancerAttributes", LoadBalancerArn=lb_arn,
         Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "30"}])
    call("DescribeLoadBalancerAttributes", LoadBalancerArn=lb_arn)
    groups = [
        call("CreateTargetGroup", Name=name, Protocol="HTTP", Port=8080, TargetType="ip",
             Matcher={"HttpCode": "200-299"})["TargetGroups"][0]["TargetGroupArn"]
        for name in ("auth", "random")
    ]
    call("ModifyTargetGroup", TargetGroupArn=groups[0], HealthCheckPath="/health")
    call("ModifyTargetGroupAttributes", TargetGroupArn=groups[0],
         Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
    call("DescribeTargetGroupAttributes", TargetGroupArn=groups[0])
    listener = call("CreateListener", LoadBalancerArn=lb_arn, Protocol="HTTP", Port=18080,
                    DefaultActions=[{"Type": "forward", "TargetGroupArn": groups[0]}])
    listener_arn = listener["Listeners"][0]["ListenerArn"]
    call("ModifyListener", ListenerArn=listener_arn, DefaultActions=[{
        "Type": "forward",
        "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": groups[0], "Weight": 1}]},
    }])
    call("DescribeListeners", LoadBalancerArn=lb_arn)
    rule = call("CreateRule", ListenerArn=listener_arn, Priority=10,
                Conditions=[{"Field": "path-pattern", "Values": ["/random/*"]}],
                Actions=[{"Type": "forward", "TargetGroupArn": groups[1]}])
    rule_arn = rule["Rules"][0]["RuleArn"]
    call("ModifyRule", RuleArn=rule_arn, Conditions=[
        {"Field": "http-header",
         "HttpHeaderConfig": {"HttpHeaderName": "X-Kind", "Values": ["random"]}},
    ])
    call("SetRulePriorities", RulePriorities=[{"RuleArn": rule_arn, "Priority": 20}])
    rules = call("DescribeRules", ListenerArn=listener_arn)["Rules"]
    assert [r["Priority"] for r in rules] == ["20", "default"]
    call("DescribeTargetGroups", LoadBalancerArn=lb_arn)
    call("RegisterTargets", TargetGroupArn=groups[0],
         Targets=[{"Id": "127.0.0.1", "Port": 20001}, {"Id": "127.0.0.2"}])
    health = call("DescribeTargetHealth", TargetGroupArn=groups[0])["TargetHealthDescriptions"]
    assert [(h["Target"]["Port"], h["TargetHealth"]["State"]) for h in health] == [
        (20001, "initial"), (8080, "initial")
    ]
    call("DeregisterTargets", TargetGroupArn=groups[0], Targets=[{"Id": "127.0.0.2"}])
    call("AddTags", ResourceArns=[groups[0], rule_arn], Tags=[{"Key": "k", "Value": "v"}])
    call("RemoveTags", ResourceArns=[groups[0]], TagKeys=["k"])
    tags = call("DescribeTags", ResourceArns=[lb_arn, groups[0], rule_arn])["TagDescriptions"]
    assert [t["Tags"] for t in tags] == [[{"Key": "team", "Value": "a"}], [], [{"Key": "k", "Value": "v"}]]
    assert call.error("DeleteTargetGroup", TargetGroupArn=groups[1]) == "ResourceInUse"
    call("DeleteRule", RuleArn=rule_arn)
    call("DeleteTargetGroup", TargetGroupArn=groups[1])
    certificate = "arn:aws:acm:us-east-1:000000000000:certificate/1234"  # as ACM stores one
    sni = certificate + "5"
    with store.transaction() as tx:
        for arn in (certificate, sni):
            tx.insert(Kind.CERTIFICATE, arn, {"CertificateArn": arn}, domain_name="a.test")
    https = call("CreateListener", LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=18443,
                 Certificates=[{"CertificateArn": certificate}],
                 DefaultActions=[{"Type": "forward", "TargetGroupArn": groups[0]}])
    https_arn = https["Listeners"][0]["ListenerArn"]
    call("AddListenerCertificates", ListenerArn=https_arn,
         Certificates=[{"CertificateArn": sni}])
    call("DescribeListenerCertificates", ListenerArn=https_arn)
    call("RemoveListenerCertificates", ListenerArn=https_arn,
         Certificates=[{"CertificateArn": sni}])
    call("DescribeSSLPolicies", Names=["ELBSecurityPolicy-2016-08"])
    # Trust stores (mutual TLS), the CA bundle and the CRL given inline
    call.ctx.certs_dir = tmp_path / "certs"
    ca = Ca.create()
    bundle = {"CaCertificatesBundleS3Bucket": "inline",
              "CaCertificatesBundleS3Key": ca.certificate.decode()}
    store_arn = call("CreateTrustStore", Name="clients", **bundle)["TrustStores"][0]["TrustStoreArn"]
    call("ModifyTrustStore", TrustStoreArn=store_arn, **bundle)
    call("DescribeTrustStores", Names=["clients"])
    call("ModifyListener", ListenerArn=https_arn,
         MutualAuthentication={"Mode": "verify", "TrustStoreArn": store_arn})
    call("DescribeTrustStoreAssociations", TrustStoreArn=store_arn)
    call("AddTrustStoreRevocations", TrustStoreArn=store_arn, RevocationContents=[
        {"S3Bucket": "inline", "S3Key": ca.crl([ca.issue("c")]).decode()}])
    call("DescribeTrustStoreRevocations", TrustStoreArn=store_arn)
    call("GetTrustStoreRevocationContent", TrustStoreArn=store_arn, RevocationId=1)
    call("RemoveTrustStoreRevocations", TrustStoreArn=store_arn, RevocationIds=[1])
    call("GetTrustStoreCaCertificatesBundle", TrustStoreArn=store_arn)
    assert call.error("DeleteSharedTrustStoreAssociation", TrustStoreArn=store_arn,
                      ResourceArn=lb_arn) == "DeleteAssociationSameAccount"
    call.results["DeleteSharedTrustStoreAssociation"] = {}  # always refused: nothing is shared
    # Listener attributes, network settings, account answers, AWS-capacity refusals
    call("ModifyListenerAttributes", ListenerArn=listener_arn,
         Attributes=[{"Key": "routing.http.response.server.enabled", "Value": "false"}])
    call("DescribeListenerAttributes", ListenerArn=listener_arn)
    call("SetSubnets", LoadBalancerArn=lb_arn, Subnets=["subnet-a", "subnet-b"])
    call("SetSecurityGroups", LoadBalancerArn=lb_arn, SecurityGroups=["sg-0123456789abcdef0"])
    call("SetIpAddressType", LoadBalancerArn=lb_arn, IpAddressType="ipv4")
    call("DescribeAccountLimits", PageSize=3)
    for name, code in [("DescribeCapacityReservation", "ValidationError"),
                       ("ModifyCapacityReservation", "OperationNotPermitted"),
                       ("ModifyIpPools", "ValidationError")]:
        assert call.error(name, LoadBalancerArn=lb_arn) == code
        call.results[name] = {}  # always refused: tied to AWS capacity
    assert call.error("GetResourcePolicy", ResourceArn=lb_arn) == "ResourceNotFound"
    call.results["GetResourcePolicy"] = {}  # always refused: nothing is shared
    call("DeleteListener", ListenerArn=https_arn)
    call("DeleteTrustStore", TrustStoreArn=store_arn)
    call("DeleteListener", ListenerArn=listener_arn)
    call("DeleteLoadBalancer", LoadBalancerArn=lb_arn)
    assert set(call.results) == set(HANDLERS)


def test_too_many_targets_registers_none(store: SqlStore) -> None:
    call = Recorder(store)
    group = call("CreateTargetGroup", Name="big", Protocol="HTTP", Port=80, TargetType="ip")
    arn = group["TargetGroups"][0]["TargetGroupArn"]
    targets = [{"Id": f"10.0.{i // 250}.{i % 250 + 1}"} for i in range(1001)]
    assert call.error("RegisterTargets", TargetGroupArn=arn, Targets=targets) == "TooManyTargets"
    assert call("DescribeTargetHealth", TargetGroupArn=arn)["TargetHealthDescriptions"] == []
    call("RegisterTargets", TargetGroupArn=arn, Targets=targets[:1000])


def test_unknown_action_and_missing_action_are_query_errors(store: SqlStore) -> None:
    services = {ELBV2.version: ELBV2}
    ctx = ApiContext(store=store)
    for body, code in [
        (b"Action=FrobnicateLoadBalancer&Version=2015-12-01", "InvalidAction"),
        (b"Action=DescribeLoadBalancers&Version=1999-01-01", "InvalidAction"),
        (b"Version=2015-12-01", "MissingAction"),
        (b"Action=DescribeLoadBalancers&Version=2015-12-01&PageSize=x", "ValidationError"),
    ]:
        response = respond(services, ctx, body, "rid", lambda: None)
        assert isinstance(response.body, bytes)
        assert response.status == 400
        assert parse_error(response.body)["Error"]["Code"] == code


def test_unexpected_exceptions_are_internal_failures(store: SqlStore) -> None:
    def broken(_ctx: ApiContext, _params: Params) -> Result:
        raise RuntimeError("secret internals")

    service = QueryService("elbv2", {"DescribeLoadBalancers": broken})
    body = b"Action=DescribeLoadBalancers&Version=2015-12-01"
    response = respond({service.version: service}, ApiContext(store=store), body, "r9", lambda: None)
    assert isinstance(response.body, bytes)
    assert response.status == 500 and b"secret" not in response.body
    error = parse_error(response.body, 500)["Error"]
    assert (error["Type"], error["Code"]) == ("Receiver", "InternalFailure")


async def test_app_routes_forms_to_elbv2_and_json_to_ecs(store: SqlStore, tmp_path: Path) -> None:
    """boto3 over a real socket, with SigV4 checked: both protocols on one endpoint."""
    credentials = tmp_path / "credentials"
    credentials.write_text("AKIDTEST:secret\n")
    from dockyard.api.sigv4 import load_credentials

    app = create_app(ApiContext(store=store), [ECS, ELBV2], load_credentials(str(credentials)))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    endpoint = str(server.make_url("/"))

    def client(service: str, secret: str = "secret") -> Any:
        return boto3.session.Session(
            aws_access_key_id="AKIDTEST", aws_secret_access_key=secret, region_name="us-east-1"
        ).client(service, endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))

    def calls() -> tuple[Any, ...]:
        elbv2, ecs = client("elbv2"), client("ecs")
        created = elbv2.create_load_balancer(Name="web")["LoadBalancers"][0]
        listed = ecs.list_clusters()["clusterArns"]
        with pytest.raises(elbv2.exceptions.LoadBalancerNotFoundException):
            elbv2.describe_load_balancers(Names=["nope"])
        with pytest.raises(ClientError) as bad_signature:
            client("elbv2", "wrong").describe_load_balancers()
        return created, listed, bad_signature.value.response

    try:
        created, listed, bad = await asyncio.to_thread(calls)
    finally:
        await server.close()
    assert created["LoadBalancerName"] == "web" and created["State"] == {"Code": "provisioning"}
    assert listed == []
    assert bad["Error"]["Code"] == "SignatureDoesNotMatch"
    assert bad["ResponseMetadata"]["HTTPStatusCode"] == 403
