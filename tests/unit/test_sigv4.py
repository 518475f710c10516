"""SigV4 verification: requests signed by botocore itself must verify, and any
change to what was signed, a wrong or unknown key, or a stale date must not."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import boto3
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from multidict import CIMultiDict, CIMultiDictProxy

from dockyard.api import sigv4
from dockyard.api.sigv4 import load_credentials, verify
from dockyard.errors import (
    AwsError,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
OTHER_AKID = "AKIDOTHER"
OTHER_SECRET = "otherSecret/abc+def"
CREDS = {AKID: SECRET, OTHER_AKID: OTHER_SECRET}
SIGNED_AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
ENDPOINT = "http://localhost:8080"

ECS_BODY = b'{"maxResults": 10}'
ECS_HEADERS = {
    "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
    "Content-Type": "application/x-amz-json-1.1",
    "User-Agent": "Boto3/1.34.0 md/Botocore#1.34.0",
}
ELB_BODY = b"Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=my%20lb"
ELB_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    "User-Agent": "aws-cli/1.32.0",
}


@pytest.fixture(autouse=True)
def _frozen_signing_clock() -> Iterator[None]:
    """botocore stamps X-Amz-Date from its own clock; pin it to SIGNED_AT."""
    naive = SIGNED_AT.replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=naive):
        yield


class Wire:
    """A request as the server sees it after botocore signed and sent it."""

    def __init__(self, request: AWSRequest) -> None:
        parts = urlsplit(request.url)
        self.method: str = request.method
        self.path = parts.path or "/"
        self.query = parts.query
        headers: CIMultiDict[str] = CIMultiDict()
        # What the HTTP layer adds on the way: Host (signed) and some unsigned ones.
        headers["Host"] = parts.netloc
        for name, value in request.headers.items():
            headers[name] = value
        headers.setdefault("Accept-Encoding", "identity")
        self.headers = headers
        data = request.data or b""
        self.body: bytes = data.encode() if isinstance(data, str) else data

    def verify(self, **overrides: Any) -> str:
        args: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "query_string": self.query,
            "headers": CIMultiDictProxy(self.headers),
            "body": self.body,
            "credentials": CREDS,
            "now": SIGNED_AT + timedelta(seconds=3),
        }
        args.update(overrides)
        return verify(**args)


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    service: str,
    region: str = "us-east-1",
    access_key: str = AKID,
    secret: str = SECRET,
    signer: type[SigV4Auth] = SigV4Auth,
) -> Wire:
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    signer(Credentials(access_key, secret), service, region).add_auth(request)
    return Wire(request)


class SignAllHeaders(SigV4Auth):  # type: ignore[misc]
    """A client that signs every header, user-agent included (botocore skips it)."""

    def headers_to_sign(self, request: Any) -> Any:
        headers = HTTPHeaders()
        for name, value in request.headers.items():
            headers[name.lower()] = value
        headers["host"] = urlsplit(request.url).netloc
        return headers


def ecs_request(**kwargs: Any) -> Wire:
    return sign("POST", ENDPOINT + "/", ECS_HEADERS, ECS_BODY, service="ecs", **kwargs)


def elb_request(**kwargs: Any) -> Wire:
    return sign(
        "POST", ENDPOINT + "/", ELB_HEADERS, ELB_BODY, service="elasticloadbalancing", **kwargs
    )


def presigned_request(expires: int = 300) -> Wire:
    request = AWSRequest(
        method="GET",
        url=ENDPOINT + "/",
        params={
            "Action": "DescribeLoadBalancers",
            "Version": "2015-12-01",
            "Names.member.1": "a b",
        },
    )
    SigV4QueryAuth(
        Credentials(AKID, SECRET), "elasticloadbalancing", "eu-west-3", expires=expires
    ).add_auth(request)
    return Wire(request)


# ------------------------------------------------------------------ good signatures


def test_ecs_json_post_verifies() -> None:
    wire = ecs_request()
    assert "x-amz-target" in wire.headers["Authorization"]
    assert wire.verify() == AKID


def test_elbv2_form_post_verifies() -> None:
    wire = elb_request(access_key=OTHER_AKID, secret=OTHER_SECRET, region="eu-west-3")
    assert wire.verify() == OTHER_AKID


def test_plain_dict_headers_are_looked_up_case_insensitively() -> None:
    wire = ecs_request()
    lowered = {name.lower(): value for name, value in wire.headers.items()}
    assert wire.verify(headers=lowered) == AKID
    upper = {name.upper(): value for name, value in wire.headers.items()}
    assert wire.verify(headers=upper) == AKID


def test_unsigned_headers_may_change() -> None:
    wire = ecs_request()
    wire.headers["User-Agent"] = "something else"  # blacklisted by the signer: not signed
    wire.headers["X-Forwarded-For"] = "10.0.0.1"
    assert wire.verify() == AKID


def test_headers_botocore_would_not_sign_are_honoured_when_signed() -> None:
    wire = sign("POST", ENDPOINT + "/", ECS_HEADERS, ECS_BODY, service="ecs", signer=SignAllHeaders)
    assert "user-agent" in wire.headers["Authorization"]
    assert wire.verify() == AKID
    wire.headers["User-Agent"] = "something else"
    with pytest.raises(InvalidSignatureException):
        wire.verify()


def test_path_is_used_as_received() -> None:
    wire = sign("GET", ENDPOINT + "/a%20b/c%2Fd/", {}, b"", service="ecs")
    assert wire.path == "/a%20b/c%2Fd/"
    assert wire.verify() == AKID
    with pytest.raises(InvalidSignatureException):
        wire.verify(path="/a b/c/d/")


def test_raw_path_with_query_and_empty_query_string() -> None:
    wire = sign(
        "GET", ENDPOINT + "/x?Action=DescribeTags&Names.member.1=a%20b", {}, b"", service="ecs"
    )
    assert wire.verify() == AKID
    assert wire.verify(path=f"{wire.path}?{wire.query}", query_string="") == AKID
    with pytest.raises(InvalidSignatureException):
        wire.verify(query_string="Action=DescribeTags&Names.member.1=a%20c")


def test_date_header_instead_of_x_amz_date() -> None:
    headers = {**ECS_HEADERS, "Date": "Mon, 01 Jan 2001 00:00:00 GMT"}
    wire = sign("POST", ENDPOINT + "/", headers, ECS_BODY, service="ecs")
    assert "X-Amz-Date" not in wire.headers
    assert wire.headers["Date"].startswith("Mon, 06 May 2024 07:08:09")
    assert wire.verify() == AKID


def test_matching_content_sha256_header_verifies() -> None:
    headers = {**ECS_HEADERS, "X-Amz-Content-SHA256": hashlib.sha256(ECS_BODY).hexdigest()}
    wire = sign("POST", ENDPOINT + "/", headers, ECS_BODY, service="ecs")
    assert "x-amz-content-sha256" in wire.headers["Authorization"]
    assert wire.verify() == AKID


def test_presigned_query_verifies() -> None:
    wire = presigned_request()
    assert "X-Amz-Signature=" in wire.query
    assert "Authorization" not in wire.headers
    assert wire.verify() == AKID
    assert wire.verify(now=SIGNED_AT + timedelta(seconds=300)) == AKID


# ------------------------------------------------------------------ rejections


def test_wrong_secret_is_rejected() -> None:
    wire = ecs_request(secret="not-the-secret")
    with pytest.raises(InvalidSignatureException) as caught:
        wire.verify()
    assert caught.value.message == sigv4.SIGNATURE_MISMATCH_MESSAGE
    assert caught.value.code == "InvalidSignatureException"
    assert caught.value.status == 403


def test_key_signed_by_other_users_secret_is_rejected() -> None:
    wire = ecs_request(access_key=AKID, secret=OTHER_SECRET)
    with pytest.raises(InvalidSignatureException):
        wire.verify()


def test_unknown_access_key_is_rejected() -> None:
    wire = ecs_request(access_key="AKIDUNKNOWN")
    with pytest.raises(UnrecognizedClientException) as caught:
        wire.verify()
    assert caught.value.message == "The security token included in the request is invalid."
    assert caught.value.code == "UnrecognizedClientException"


def test_missing_authorization_is_rejected() -> None:
    wire = ecs_request()
    del wire.headers["Authorization"]
    with pytest.raises(MissingAuthenticationTokenException) as caught:
        wire.verify()
    assert caught.value.message == "Missing Authentication Token"
    assert caught.value.status == 403


def test_tampered_body_is_rejected() -> None:
    wire = ecs_request()
    with pytest.raises(InvalidSignatureException) as caught:
        wire.verify(body=b'{"maxResults": 11}')
    assert caught.value.message == sigv4.SIGNATURE_MISMATCH_MESSAGE


def test_tampered_form_body_is_rejected() -> None:
    wire = elb_request()
    with pytest.raises(InvalidSignatureException):
        wire.verify(body=ELB_BODY.replace(b"my%20lb", b"other"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster"),
        ("Content-Type", "application/json"),
        ("Host", "localhost:9090"),
    ],
)
def test_tampered_signed_header_is_rejected(name: str, value: str) -> None:
    wire = ecs_request()
    wire.headers[name] = value
    with pytest.raises(InvalidSignatureException):
        wire.verify()


def test_dropped_signed_header_is_rejected() -> None:
    wire = ecs_request()
    del wire.headers["X-Amz-Target"]
    with pytest.raises(InvalidSignatureException):
        wire.verify()


def test_tampered_method_is_rejected() -> None:
    with pytest.raises(InvalidSignatureException):
        ecs_request().verify(method="PUT")


def test_tampered_x_amz_date_is_rejected() -> None:
    wire = ecs_request()
    wire.headers["X-Amz-Date"] = "20240506T070810Z"
    with pytest.raises(InvalidSignatureException):
        wire.verify()


def test_mismatched_content_sha256_header_is_rejected() -> None:
    headers = {**ECS_HEADERS, "X-Amz-Content-SHA256": hashlib.sha256(ECS_BODY).hexdigest()}
    wire = sign("POST", ENDPOINT + "/", headers, ECS_BODY, service="ecs")
    # The signature covers the claimed hash, not the body: the body must be checked too.
    with pytest.raises(InvalidSignatureException) as caught:
        wire.verify(body=b'{"maxResults": 99}')
    assert "x-amz-content-sha256" in caught.value.message


def test_unsigned_payload_is_rejected() -> None:
    headers = {**ECS_HEADERS, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    wire = sign("POST", ENDPOINT + "/", headers, ECS_BODY, service="ecs")
    with pytest.raises(InvalidSignatureException):
        wire.verify()


def test_expired_signature_is_rejected_with_aws_wording() -> None:
    wire = ecs_request()
    assert wire.verify(now=SIGNED_AT + timedelta(minutes=15)) == AKID  # edge still valid
    now = SIGNED_AT + timedelta(minutes=15, seconds=1)
    with pytest.raises(InvalidSignatureException) as caught:
        wire.verify(now=now)
    assert caught.value.message == (
        "Signature expired: 20240506T070809Z is now earlier than 20240506T070810Z "
        "(20240506T072310Z - 15 min.)"
    )


def test_expired_check_uses_max_skew_and_naive_now_is_utc() -> None:
    wire = ecs_request()
    naive_now = (SIGNED_AT + timedelta(minutes=6)).replace(tzinfo=None)
    assert wire.verify(now=naive_now) == AKID
    with pytest.raises(InvalidSignatureException, match=r"- 5 min\.\)$"):
        wire.verify(now=naive_now, max_skew=timedelta(minutes=5))


def test_future_signature_is_rejected() -> None:
    wire = ecs_request()
    now = SIGNED_AT - timedelta(minutes=16)
    with pytest.raises(InvalidSignatureException) as caught:
        wire.verify(now=now)
    assert caught.value.message == (
        "Signature not yet current: 20240506T070809Z is still later than 20240506T070709Z "
        "(20240506T065209Z + 15 min.)"
    )


def test_credential_scope_date_must_match_request_date() -> None:
    wire = ecs_request()
    wire.headers["Authorization"] = wire.headers["Authorization"].replace(
        "/20240506/", "/20240507/"
    )
    with pytest.raises(InvalidSignatureException, match="Date in Credential scope"):
        wire.verify()


def test_presigned_query_expires() -> None:
    wire = presigned_request(expires=300)
    with pytest.raises(InvalidSignatureException, match="Signature expired"):
        wire.verify(now=SIGNED_AT + timedelta(seconds=301))


def test_presigned_query_tampered_is_rejected() -> None:
    wire = presigned_request()
    with pytest.raises(InvalidSignatureException):
        wire.verify(query_string=wire.query.replace("a%20b", "a%20c"))
    with pytest.raises(InvalidSignatureException):
        wire.verify(query_string=wire.query.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"))


def test_presigned_and_authorization_together_are_rejected() -> None:
    wire = presigned_request()
    wire.headers["Authorization"] = ecs_request().headers["Authorization"]
    with pytest.raises(AwsError) as caught:
        wire.verify()
    assert caught.value.code == "IncompleteSignatureException"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer my-very-secret-token",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240506/us-east-1/ecs/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240506/us-east-1/ecs, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240506/us-east-1/ecs/aws5_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240506/us-east-1/ecs/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240506/us-east-1/ecs/aws4_request "
        "SignedHeaders=host;x-amz-date Signature=" + "0" * 64,
    ],
)
def test_malformed_authorization_is_incomplete_signature(authorization: str) -> None:
    wire = ecs_request()
    wire.headers["Authorization"] = authorization
    with pytest.raises(AwsError) as caught:
        wire.verify()
    assert caught.value.code == "IncompleteSignatureException"
    assert caught.value.status == 403
    assert "my-very-secret-token" not in caught.value.message


def test_missing_date_is_incomplete_signature() -> None:
    wire = ecs_request()
    del wire.headers["X-Amz-Date"]
    with pytest.raises(AwsError) as caught:
        wire.verify()
    assert caught.value.code == "IncompleteSignatureException"
    assert "X-Amz-Date" in caught.value.message


def test_non_hex_signature_is_rejected() -> None:
    wire = ecs_request()
    auth = wire.headers["Authorization"]
    wire.headers["Authorization"] = auth[: auth.index("Signature=")] + "Signature=" + "é" * 64
    with pytest.raises(InvalidSignatureException):
        wire.verify()


def test_secrets_never_in_messages() -> None:
    for wire in (ecs_request(secret="bad"), ecs_request(access_key="AKIDNOPE")):
        for now in (SIGNED_AT, SIGNED_AT + timedelta(hours=1)):
            with pytest.raises(AwsError) as caught:
                wire.verify(now=now)
            assert SECRET not in str(caught.value)
            assert OTHER_SECRET not in str(caught.value)


# ------------------------------------------------------------------ real clients


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _capture_client_request(service: str, call: str, reply: bytes) -> Wire:
    """Let a real boto3 client build and sign a request; capture it unsent."""
    captured: list[Any] = []

    def before_send(request: Any, **_: Any) -> AWSResponse:
        captured.append(request)
        return AWSResponse(request.url, 200, {}, _RawBody(reply))

    client = boto3.session.Session(
        aws_access_key_id=AKID, aws_secret_access_key=SECRET, region_name="us-west-2"
    ).client(service, endpoint_url=ENDPOINT)
    client.meta.events.register(f"before-send.{service}", before_send)
    getattr(client, call)()
    client.close()
    prepared = captured[0]
    request = AWSRequest(
        method=prepared.method,
        url=prepared.url,
        headers={
            name: value.decode() if isinstance(value, bytes) else value
            for name, value in prepared.headers.items()
        },
    )
    request.data = prepared.body or b""
    return Wire(request)


def test_boto3_ecs_client_request_verifies() -> None:
    wire = _capture_client_request("ecs", "list_clusters", b'{"clusterArns": []}')
    assert wire.headers["X-Amz-Target"].endswith(".ListClusters")
    assert wire.verify() == AKID
    with pytest.raises(InvalidSignatureException):
        wire.verify(body=wire.body + b" ")


def test_boto3_elbv2_client_request_verifies() -> None:
    reply = (
        b"<DescribeLoadBalancersResponse><DescribeLoadBalancersResult><LoadBalancers/>"
        b"</DescribeLoadBalancersResult></DescribeLoadBalancersResponse>"
    )
    wire = _capture_client_request("elbv2", "describe_load_balancers", reply)
    assert b"Action=DescribeLoadBalancers" in wire.body
    assert wire.verify() == AKID
    with pytest.raises(InvalidSignatureException):
        wire.verify(body=wire.body.replace(b"2015-12-01", b"2015-12-02"))


async def test_aiohttp_wiring_with_real_boto3_over_http() -> None:
    """The recommended aiohttp wiring, exercised by boto3 over a real socket."""

    async def handler(request: web.Request) -> web.Response:
        try:
            access_key = verify(
                request.method,
                request.raw_path,
                "",
                request.headers,
                await request.read(),
                CREDS,
                datetime.now(UTC),
            )
        except AwsError as exc:
            payload = {"__type": exc.code, "message": exc.message}
            return web.Response(
                status=exc.status, body=json.dumps(payload), content_type="application/json"
            )
        return web.json_response({"clusterArns": [f"arn:aws:ecs:::cluster/{access_key}"]})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        endpoint = str(server.make_url("/"))

        def call(secret: str) -> Any:
            client = boto3.session.Session(
                aws_access_key_id=AKID, aws_secret_access_key=secret, region_name="us-east-1"
            ).client("ecs", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))
            try:
                return client.list_clusters()
            finally:
                client.close()

        with mock.patch("botocore.auth.get_current_datetime", wraps=_utcnow_naive):
            result = await asyncio.to_thread(call, SECRET)
            assert result["clusterArns"] == [f"arn:aws:ecs:::cluster/{AKID}"]
            with pytest.raises(ClientError) as caught:
                await asyncio.to_thread(call, "wrong-secret")
        assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    finally:
        await server.close()


def _utcnow_naive(remove_tzinfo: bool = True) -> datetime:
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if remove_tzinfo else now


# ------------------------------------------------------------------ credentials file


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "credentials"
    path.write_text(text)
    return str(path)


def test_load_credentials_json(tmp_path: Path) -> None:
    path = _write(tmp_path, json.dumps(CREDS))
    assert load_credentials(path) == CREDS


def test_load_credentials_lines(tmp_path: Path) -> None:
    text = f"# dockyard users\n\n{AKID}:{SECRET}\n  {OTHER_AKID}   {OTHER_SECRET}  \nK3 : s:3\n"
    assert load_credentials(_write(tmp_path, text)) == {**CREDS, "K3": "s:3"}


def test_load_credentials_ini(tmp_path: Path) -> None:
    text = (
        "# comment\n[default]\n"
        f"aws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n\n"
        "[profile roles]\nrole_arn = arn:aws:iam::1:role/x\n\n"
        f"[other]\nAWS_ACCESS_KEY_ID={OTHER_AKID}\naws_secret_access_key={OTHER_SECRET}\n"
        "aws_session_token = ignored%token\n"
    )
    assert load_credentials(_write(tmp_path, text)) == CREDS


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"AKID": "topsecret1", }', "not valid JSON"),
        ('["topsecret1"]', "JSON must be an object"),
        ('{"AKID": 5}', "must be a JSON string"),
        ('{"AKID": ""}', "empty secret"),
        ('{"AK ID": "topsecret1"}', "must not contain whitespace"),
        ("AKID:topsecret1\nAKID:topsecret2\n", "twice with different secrets"),
        ("AKID:topsecret1\nnonsense-line-topsecret1\n", "line 2"),
        ("AKID topsecret1 trailing\n", "line 1"),
        ("# nothing here\n\n", "no credentials"),
        ("", "no credentials"),
        ("[default]\naws_access_key_id = AKID\n", "no aws_secret_access_key"),
        ("[default]\naws_secret_access_key = topsecret1\n", "no aws_access_key_id"),
        ("x = topsecret1\n[default]\n", "comes before any"),
        ("[default]\ntopsecret1 line\n", "not a valid INI file"),
        ("[a]\naws_access_key_id=A\naws_access_key_id=B\n", "appears twice"),
    ],
)
def test_load_credentials_rejects_bad_files(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=fragment) as caught:
        load_credentials(path)
    assert "topsecret" not in str(caught.value)
    assert path in str(caught.value)


def test_load_credentials_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read credentials file"):
        load_credentials(str(tmp_path / "absent"))


def test_load_credentials_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_bytes(b"AKID:\xff\xfe\n")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        load_credentials(str(path))
