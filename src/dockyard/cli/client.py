"""How the friendly commands reach a Dockyard server, and how failures become exit codes.

Every command group over the API uses `ApiGroup` (so any API or connection
failure inside it is reported the same way), gets its boto3 client from
`client(ctx)` and lists with `paginate()`. Exit codes: 1 for an error the API
returned, 2 for bad input (click's usage code), 3 when the server cannot be
reached.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import boto3
import botocore.session
import click
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from dockyard import __version__

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
DEFAULT_REGION = "us-east-1"
# Used when no AWS credentials are configured: a server without --credentials
# accepts any signature, but botocore insists on signing with something.
DUMMY_ACCESS_KEY = "dockyard"
DUMMY_SECRET_KEY = "dockyard"

EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

T = TypeVar("T")


class CliError(click.ClickException):
    """A failure reported as one plain line on stderr (no click "Error: " prefix added)."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True, file=file)


class ApiError(CliError):
    """The server answered with an AWS error (or a describe call listed failures)."""

    exit_code = EXIT_API_ERROR

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"Error ({code}): {message}")
        self.code = code


class InputError(CliError):
    """The user's input or local configuration is wrong; nothing reached the server."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(f"Error: {message}")


class UnreachableError(CliError):
    exit_code = EXIT_UNREACHABLE

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"cannot reach Dockyard at {endpoint}: {reason}")
        self.endpoint = endpoint


@dataclass(frozen=True, slots=True)
class Settings:
    """The global options of the `dockyard` group (see cli/main.py)."""

    endpoint: str
    region: str
    output: str

    @property
    def json(self) -> bool:
        return self.output == "json"


def settings(ctx: click.Context) -> Settings:
    """Global options from ctx.obj, with the same defaults when a group runs on its own."""
    obj = ctx.find_root().obj
    values: dict[str, Any] = obj if isinstance(obj, dict) else {}
    return Settings(
        endpoint=values.get("endpoint") or os.environ.get("DOCKYARD_ENDPOINT") or DEFAULT_ENDPOINT,
        region=values.get("region") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
        output=values.get("output") or "table",
    )


def _session() -> boto3.Session:
    """A boto3 session using the standard AWS env vars / profile / credential files.

    The EC2 instance-metadata provider is dropped: a Dockyard server never
    trusts IAM role credentials, and probing 169.254.169.254 off EC2 can stall
    every command for seconds.
    """
    core = botocore.session.Session()
    core.get_component("credential_provider").remove("iam-role")
    return boto3.Session(botocore_session=core)


def signed_get(
    endpoint: str, url: str, region: str, *, timeout: float | None = 60
) -> http.client.HTTPResponse:
    """Open a GET of `url` (a Dockyard endpoint outside the AWS APIs: task logs, servers),
    SigV4-signed ("ecs") with the caller's AWS credentials when there are any. An error
    answer -> ApiError (AWS's `__type` and `message` when the body has them); no answer ->
    UnreachableError. The caller closes the response (`with`)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    signed = AWSRequest(method="GET", url=url)
    credentials = _session().get_credentials()
    if credentials is not None:
        SigV4Auth(credentials.get_frozen_credentials(), "ecs", region).add_auth(signed)
    request = urllib.request.Request(url, headers=dict(signed.headers.items()), method="GET")
    try:
        response: http.client.HTTPResponse = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise _http_error(error) from None
    except (urllib.error.URLError, OSError) as error:
        raise UnreachableError(endpoint, str(getattr(error, "reason", error))) from None
    return response


def _http_error(error: urllib.error.HTTPError) -> ApiError:
    try:
        body = json.loads(error.read())
    except (ValueError, OSError):
        body = None
    fields: dict[str, Any] = body if isinstance(body, dict) else {}
    code = fields.get("__type") or f"HTTP{error.code}"
    return ApiError(str(code), str(fields.get("message") or error.reason))


def make_client(service: str, endpoint: str, region: str) -> Any:
    """A boto3 client for `service` at a Dockyard endpoint (fails fast, no retries)."""
    try:
        session = _session()
        keys: dict[str, str] = {}
        if session.get_credentials() is None:
            keys = {
                "aws_access_key_id": DUMMY_ACCESS_KEY,
                "aws_secret_access_key": DUMMY_SECRET_KEY,
            }
        return session.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"mode": "standard", "total_max_attempts": 1},
                user_agent_extra=f"dockyard-cli/{__version__}",
            ),
            **keys,
        )
    except (ProfileNotFound, PartialCredentialsError, NoCredentialsError) as error:
        raise InputError(str(error)) from None
    except ValueError as error:  # botocore: "Invalid endpoint: ..."
        raise InputError(f"{error} (set --endpoint or DOCKYARD_ENDPOINT)") from None


def client(ctx: click.Context, service: str = "ecs") -> Any:
    """The command's boto3 client for `service`, created once per invocation."""
    cache: dict[str, Any] = ctx.find_root().meta.setdefault("dockyard.clients", {})
    if service not in cache:
        conf = settings(ctx)
        cache[service] = make_client(service, conf.endpoint, conf.region)
    return cache[service]


def _connection_reason(error: BotoCoreError) -> str:
    """The short OS-level reason ("Connection refused") behind a botocore connection error."""
    seen: set[int] = set()
    current: BaseException | None = error.kwargs.get("error") or error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        current = current.__cause__ or current.__context__
    return str(error)


@contextmanager
def api_errors(endpoint: str) -> Iterator[None]:
    """Translate boto3/botocore failures raised inside into `CliError`s with our exit codes."""
    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        code = details.get("Code") or "UnknownError"
        message = details.get("Message") or str(error)
        raise ApiError(code, message) from None
    except (BotoConnectionError, HTTPClientError) as error:
        raise UnreachableError(endpoint, _connection_reason(error)) from None
    except (ParamValidationError, ProfileNotFound, PartialCredentialsError) as error:
        raise InputError(str(error)) from None
    except BotoCoreError as error:
        raise ApiError(type(error).__name__, str(error)) from None


class ApiGroup(click.Group):
    """A click group whose sub-commands talk to the API: their failures exit 1/2/3 as above."""

    def invoke(self, ctx: click.Context) -> Any:
        with api_errors(settings(ctx).endpoint):
            return super().invoke(ctx)


def paginate(api: Any, operation: str, key: str, **params: Any) -> list[Any]:
    """All items under `key` of a List* operation, following nextToken across pages."""
    items: list[Any] = []
    if api.can_paginate(operation):
        for page in api.get_paginator(operation).paginate(**params):
            items.extend(page.get(key, []))
        return items
    call = getattr(api, operation)
    while True:
        page = call(**params)
        items.extend(page.get(key, []))
        token = page.get("nextToken")
        if not token:
            return items
        params = {**params, "nextToken": token}


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Chunks of at most `size` (Describe* calls take at most 100 names at once)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def describe_all(
    api: Any,
    operation: str,
    key: str,
    names: Iterable[str],
    *,
    name_param: str,
    size: int = 100,
    **params: Any,
) -> dict[str, list[Any]]:
    """Run a Describe* call over any number of names; merged `{key: [...], "failures": [...]}`."""
    merged: dict[str, list[Any]] = {key: [], "failures": []}
    for chunk in batched(list(names), size):
        answer = getattr(api, operation)(**{name_param: chunk}, **params)
        merged[key].extend(answer.get(key, []))
        merged["failures"].extend(answer.get("failures", []))
    return merged
