"""AWS Signature Version 4 verification for incoming requests.

The server holds a table of access key id -> secret access key
(`load_credentials`) and checks every request with `verify`, which recomputes
the signature with botocore's own signer (`botocore.auth.SigV4Auth`) for the
request exactly as received and compares it with `hmac.compare_digest`.

Two forms are accepted:

* the ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
  Signature=...`` header, which boto3, the aws CLI and every SDK send;
* presigned query-string auth (``X-Amz-Algorithm``, ``X-Amz-Credential``,
  ``X-Amz-Date``, ``X-Amz-Expires``, ``X-Amz-SignedHeaders``,
  ``X-Amz-Signature`` in the query), as made by botocore's ``SigV4QueryAuth``.

Secrets never appear in exception messages or logs: messages name access key
ids, dates and line numbers, never a secret nor an ``Authorization`` value.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from dockyard.errors import (
    AwsError,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

__all__ = ["ALGORITHM", "DEFAULT_MAX_SKEW", "load_credentials", "verify"]

ALGORITHM = "AWS4-HMAC-SHA256"
DEFAULT_MAX_SKEW = timedelta(minutes=15)
#: Longest lifetime a presigned request may ask for (7 days, as AWS).
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600

_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_TIMESTAMP_RE = re.compile(r"\d{8}T\d{6}Z")
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")

MISSING_TOKEN_MESSAGE = "Missing Authentication Token"
UNRECOGNIZED_CLIENT_MESSAGE = "The security token included in the request is invalid."
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)


# --------------------------------------------------------------------------- credentials


def load_credentials(path: str) -> dict[str, str]:
    """Read a credentials file: access key id -> secret access key.

    Accepted formats (detected from the content):

    * a JSON object ``{"AKID": "secret", ...}``;
    * an AWS-style INI credentials file (``[profile]`` sections with
      ``aws_access_key_id`` / ``aws_secret_access_key``; sections with neither
      are skipped, so an ``~/.aws/config``-like file with roles is fine);
    * one ``AKID:SECRET`` or ``AKID SECRET`` per line; blank lines and lines
      starting with ``#`` are ignored.

    Raises `ValueError` with a message naming the file (and line or profile)
    if it cannot be read, is malformed, repeats an access key id with another
    secret, or holds no credentials at all. Messages never quote a secret.
    """
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except OSError as exc:
        raise ValueError(
            f"cannot read credentials file {path!r}: {exc.strerror or type(exc).__name__}"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"credentials file {path!r} is not valid UTF-8 text") from None

    if _looks_like_json(text):
        pairs = _parse_json_credentials(text, path)
    elif _looks_like_ini(text):
        pairs = _parse_ini_credentials(text, path)
    else:
        pairs = _parse_line_credentials(text, path)

    result: dict[str, str] = {}
    for access_key, secret, where in pairs:
        _check_access_key_id(access_key, path, where)
        if not secret:
            raise ValueError(f"credentials file {path!r}: {where}: empty secret access key")
        if any(ch.isspace() for ch in secret):
            raise ValueError(
                f"credentials file {path!r}: {where}: secret access key contains whitespace"
            )
        known = result.get(access_key)
        if known is not None and known != secret:
            raise ValueError(
                f"credentials file {path!r}: {where}: access key id {access_key!r} "
                "is given twice with different secrets"
            )
        result[access_key] = secret
    if not result:
        raise ValueError(f"credentials file {path!r} contains no credentials")
    return result


def _check_access_key_id(access_key: str, path: str, where: str) -> None:
    if not access_key:
        raise ValueError(f"credentials file {path!r}: {where}: empty access key id")
    if not access_key.isprintable() or any(ch.isspace() or ch in "/,=" for ch in access_key):
        raise ValueError(
            f"credentials file {path!r}: {where}: access key id {access_key!r} must not "
            "contain whitespace, '/', ',' or '='"
        )


def _looks_like_json(text: str) -> bool:
    start = text.lstrip()[:1]
    if start == "{":
        return True
    if start != "[":
        return False
    try:  # "[default]" starts an INI file; a JSON array is a (bad) JSON file
        json.loads(text)
    except ValueError:
        return False
    return True


def _parse_json_credentials(text: str, path: str) -> list[tuple[str, str, str]]:
    error: str | None = None
    data: Any = None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # Not chained: the exception carries the whole document, secrets included.
        error = f"line {exc.lineno} column {exc.colno}: {exc.msg}"
    if error is not None:
        raise ValueError(f"credentials file {path!r} is not valid JSON ({error})")
    if not isinstance(data, dict):
        raise ValueError(
            f"credentials file {path!r}: JSON must be an object of access key id -> secret"
        )
    pairs = []
    for access_key, secret in data.items():
        if not isinstance(secret, str):
            raise ValueError(
                f"credentials file {path!r}: the secret of access key id {access_key!r} "
                "must be a JSON string"
            )
        pairs.append((access_key, secret, f"key {access_key!r}"))
    return pairs


_INI_SECTION_RE = re.compile(r"\[[^\]]+\]")


def _looks_like_ini(text: str) -> bool:
    return any(_INI_SECTION_RE.fullmatch(line.strip()) for line in text.splitlines())


def _parse_ini_credentials(text: str, path: str) -> list[tuple[str, str, str]]:
    parser = configparser.ConfigParser(
        interpolation=None, default_section="\0no-default-section", strict=True
    )
    error: str | None = None
    try:
        parser.read_string(text, source=path)
    except configparser.MissingSectionHeaderError as exc:
        # Messages of parsing errors quote the offending lines, which may hold secrets.
        error = f"line {exc.lineno} comes before any [profile] header"
    except configparser.ParsingError as exc:
        lines = ", ".join(str(err[0]) for err in getattr(exc, "errors", ())) or "?"
        error = f"cannot parse line(s) {lines}"
    except configparser.DuplicateSectionError as exc:
        error = f"profile [{exc.section}] appears twice (line {exc.lineno})"
    except configparser.DuplicateOptionError as exc:
        error = f"option {exc.option!r} appears twice in [{exc.section}] (line {exc.lineno})"
    except configparser.Error as exc:
        error = type(exc).__name__
    if error is not None:
        raise ValueError(f"credentials file {path!r} is not a valid INI file: {error}")

    pairs = []
    for section in parser.sections():
        access_key = parser.get(section, "aws_access_key_id", fallback=None)
        secret = parser.get(section, "aws_secret_access_key", fallback=None)
        if access_key is None and secret is None:
            continue
        if access_key is None or secret is None:
            missing = "aws_access_key_id" if access_key is None else "aws_secret_access_key"
            raise ValueError(f"credentials file {path!r}: profile [{section}] has no {missing}")
        pairs.append((access_key.strip(), secret.strip(), f"profile [{section}]"))
    return pairs


_LINE_RE = re.compile(r"([^\s:]+)\s*(?::|\s)\s*(\S+)")


def _parse_line_credentials(text: str, path: str) -> list[tuple[str, str, str]]:
    pairs = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE_RE.fullmatch(line)
        if match is None:
            raise ValueError(
                f"credentials file {path!r}: line {lineno}: expected 'ACCESS_KEY_ID:SECRET' "
                "or 'ACCESS_KEY_ID SECRET'"
            )
        pairs.append((match.group(1), match.group(2), f"line {lineno}"))
    return pairs


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class _SignedRequestInfo:
    """What the client claims: who signed, for which scope, at what time."""

    access_key: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str  # ISO-8601 basic, e.g. 20240102T030405Z; the string signed
    expires: int | None  # presigned requests only: X-Amz-Expires seconds


class _Signer(SigV4Auth):  # type: ignore[misc]  # botocore is untyped
    """botocore's SigV4 signer, restricted to the headers the client signed.

    The stock `headers_to_sign` drops some headers (user-agent, expect, ...)
    and invents `host` from the URL; a verifier must use exactly the
    client's SignedHeaders, which `_compute_signature` puts in the request.
    """

    def headers_to_sign(self, request: Any) -> Any:
        return request.headers


def _incomplete(message: str) -> AwsError:
    return AwsError(message, code="IncompleteSignatureException", status=403)


def verify(  # noqa: PLR0917 - positional signature is the agreed API
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    now: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> str:
    """Check the SigV4 signature of a request; return the signer's access key id.

    `path` is the request path exactly as received, still percent-encoded
    (aiohttp: ``request.rel_url.raw_path``); `query_string` the raw, still
    encoded query without ``?`` (aiohttp: ``request.rel_url.raw_query_string``).
    If `path` contains ``?`` the rest is taken as the query string when
    `query_string` is empty, so ``request.raw_path`` with ``""`` works too.
    `headers` may be any mapping; names are compared case-insensitively and
    repeated headers (``CIMultiDictProxy``) are all seen. `body` is the raw
    body. `now` is the server's clock (naive means UTC).

    Raises (all `dockyard.errors.AwsError`, HTTP 403):
    `MissingAuthenticationTokenException` if the request carries no
    signature; ``IncompleteSignatureException`` (an `AwsError` code) if the
    Authorization header / presign parameters are malformed;
    `UnrecognizedClientException` for an unknown access key id;
    `InvalidSignatureException` for a wrong signature, a date outside
    ``now +- max_skew`` (or past X-Amz-Expires when presigned), a credential
    scope date that is not the request's date, or an ``X-Amz-Content-Sha256``
    that does not match the body.
    """
    if "?" in path:
        path, _, rest = path.partition("?")
        query_string = query_string or rest
    query_string = query_string.removeprefix("?")
    header_pairs = [(str(name).lower(), str(value)) for name, value in headers.items()]
    query = _parse_query(query_string)

    authorization = [value for name, value in header_pairs if name == "authorization"]
    presigned = any(name == "X-Amz-Algorithm" for name, _ in query)
    if authorization and presigned:
        raise _incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
            "or the Authorization header should be specified."
        )
    if authorization:
        info = _parse_authorization_header(authorization, header_pairs)
        signed_query = query
    elif presigned:
        info = _parse_presigned_query(query)
        signed_query = [(name, value) for name, value in query if name != "X-Amz-Signature"]
    else:
        raise MissingAuthenticationTokenException(MISSING_TOKEN_MESSAGE)

    secret = credentials.get(info.access_key)
    if secret is None:
        raise UnrecognizedClientException(UNRECOGNIZED_CLIENT_MESSAGE)

    _check_time(info, now, max_skew)
    _check_payload_hash(header_pairs, body)

    expected = _compute_signature(
        info,
        secret=secret,
        method=method,
        path=path,
        query=signed_query,
        header_pairs=header_pairs,
        body=body,
    )
    if not hmac.compare_digest(expected.encode("ascii"), info.signature.encode("ascii")):
        raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE)
    return info.access_key


def _parse_query(query_string: str) -> list[tuple[str, str]]:
    """Decode a raw query string into (name, value) pairs, order and repeats kept.

    '+' is kept literally (SigV4 clients encode a space as %20); re-encoding is
    left to botocore's canonical query string, which normalises the encoding.
    """
    pairs = []
    for part in query_string.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def _single_header(header_pairs: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in header_pairs if key == name]
    if len(values) > 1:
        raise _incomplete(f"The request has more than one '{name}' header.")
    return values[0] if values else None


def _parse_authorization_header(
    values: Sequence[str], header_pairs: Sequence[tuple[str, str]]
) -> _SignedRequestInfo:
    if len(values) != 1:
        raise _incomplete("The request has more than one 'authorization' header.")
    # Never quote the header in messages: a non-SigV4 value may be a bearer secret.
    algorithm, _, rest = values[0].strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(
            f"Unsupported Authorization header: only {ALGORITHM} signatures are accepted."
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        item = part.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise _incomplete(
                "Authorization header is malformed: expected 'Credential=..., "
                "SignedHeaders=..., Signature=...'."
            )
        if name in fields:
            raise _incomplete(f"Authorization header has '{name}' more than once.")
        fields[name] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise _incomplete(
            " ".join(f"Authorization header requires '{n}' parameter." for n in missing)
        )

    amz_date = _single_header(header_pairs, "x-amz-date")
    if amz_date is not None:
        timestamp = amz_date.strip()
        if not _is_timestamp(timestamp):
            raise _incomplete("X-Amz-Date must be in ISO-8601 basic format, e.g. 20240102T030405Z.")
    else:
        http_date = _single_header(header_pairs, "date")
        if http_date is None:
            raise _incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' "
                "or a 'Date' header."
            )
        timestamp = _http_date_to_timestamp(http_date)

    return _build_info(
        fields["Credential"], fields["SignedHeaders"], fields["Signature"], timestamp, None
    )


def _parse_presigned_query(query: Sequence[tuple[str, str]]) -> _SignedRequestInfo:
    params: dict[str, str] = {}
    for name, value in query:
        if name.startswith("X-Amz-"):
            if name in params:
                raise _incomplete(f"Query parameter '{name}' appears more than once.")
            params[name] = value
    if any(not params.get(name) for name in _PRESIGN_PARAMS):
        raise _incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', "
            "'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date'. "
            "Re-examine the query-string parameters."
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _incomplete(f"X-Amz-Algorithm only supports '{ALGORITHM}'.")
    timestamp = params["X-Amz-Date"]
    if not _is_timestamp(timestamp):
        raise _incomplete("X-Amz-Date must be in ISO-8601 basic format, e.g. 20240102T030405Z.")
    expires: int | None = None
    raw_expires = params.get("X-Amz-Expires")
    if raw_expires is not None:
        if not raw_expires.isdigit() or not 0 < int(raw_expires) <= MAX_PRESIGN_EXPIRES:
            raise _incomplete(
                f"X-Amz-Expires must be a whole number of seconds from 1 to {MAX_PRESIGN_EXPIRES}."
            )
        expires = int(raw_expires)
    return _build_info(
        params["X-Amz-Credential"],
        params["X-Amz-SignedHeaders"],
        params["X-Amz-Signature"],
        timestamp,
        expires,
    )


def _is_timestamp(value: str) -> bool:
    if not _TIMESTAMP_RE.fullmatch(value):
        return False
    try:
        datetime.strptime(value, _TIMESTAMP_FORMAT)
    except ValueError:
        return False
    return True


def _http_date_to_timestamp(value: str) -> str:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise _incomplete("The Date header is not a valid HTTP date.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


def _build_info(
    credential: str,
    signed_headers: str,
    signature: str,
    timestamp: str,
    expires: int | None,
) -> _SignedRequestInfo:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise _incomplete(
            "Credential must have the form "
            "'<access key id>/<YYYYMMDD>/<region>/<service>/aws4_request'."
        )
    access_key, scope_date, region, service, terminator = parts
    if terminator != "aws4_request":
        raise _incomplete("Credential should be scoped with a valid terminator: 'aws4_request'.")
    if scope_date != timestamp[:8]:
        raise InvalidSignatureException(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
            f"date from HTTP: '{scope_date[:16]}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    names = tuple(name.strip().lower() for name in signed_headers.split(";"))
    if not all(names):
        raise _incomplete("SignedHeaders must be a ';'-separated list of header names.")
    if "host" not in names:
        raise _incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        )
    if not _SIGNATURE_RE.fullmatch(signature):
        # Not hex: cannot be what we compute; also keeps compare_digest on ASCII.
        raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE)
    return _SignedRequestInfo(
        access_key=access_key,
        region=region,
        service=service,
        signed_headers=names,
        signature=signature,
        timestamp=timestamp,
        expires=expires,
    )


def _format_timestamp(moment: datetime) -> str:
    return moment.strftime(_TIMESTAMP_FORMAT)


def _check_time(info: _SignedRequestInfo, now: datetime, max_skew: timedelta) -> None:
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    signed_at = datetime.strptime(info.timestamp, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    minutes = f"{max_skew.total_seconds() / 60:g}"
    if signed_at > now + max_skew:
        raise InvalidSignatureException(
            f"Signature not yet current: {info.timestamp} is still later than "
            f"{_format_timestamp(now + max_skew)} ({_format_timestamp(now)} + {minutes} min.)"
        )
    if info.expires is None:
        if signed_at < now - max_skew:
            raise InvalidSignatureException(
                f"Signature expired: {info.timestamp} is now earlier than "
                f"{_format_timestamp(now - max_skew)} ({_format_timestamp(now)} - {minutes} min.)"
            )
    elif now > signed_at + timedelta(seconds=info.expires):
        raise InvalidSignatureException(
            f"Signature expired: {info.timestamp} is now earlier than "
            f"{_format_timestamp(now - timedelta(seconds=info.expires))} "
            f"({_format_timestamp(now)} - {info.expires} sec. X-Amz-Expires)"
        )


def _check_payload_hash(header_pairs: Sequence[tuple[str, str]], body: bytes) -> None:
    """An X-Amz-Content-Sha256 header replaces the body hash in the signature,
    so it must be the body's real hash or the body would not be authenticated.
    UNSIGNED-PAYLOAD and streaming payloads are refused for the same reason."""
    claimed = _single_header(header_pairs, "x-amz-content-sha256")
    if claimed is None:
        return
    if claimed.strip().lower() != hashlib.sha256(body).hexdigest():
        raise InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )


def _compute_signature(
    info: _SignedRequestInfo,
    *,
    secret: str,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    header_pairs: Sequence[tuple[str, str]],
    body: bytes,
) -> str:
    if not path.startswith("/"):
        raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE)
    # http:// so botocore always hashes the body (it may skip that for https);
    # the host part is never used: 'host' comes from the signed headers.
    request = AWSRequest(
        method=method.upper(), url=f"http://dockyard.invalid{path}", data=body, params=query
    )
    for name in info.signed_headers:
        values = [value for key, value in header_pairs if key == name]
        if not values:
            raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE)
        for value in values:
            request.headers[name] = value  # HTTPHeaders appends repeats
    request.context["timestamp"] = info.timestamp
    signer = _Signer(Credentials(info.access_key, secret), info.service, info.region)
    try:
        canonical_request = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical_request)
        signature: str = signer.signature(string_to_sign, request)
    except UnicodeError:
        # Undecodable bytes in a header (aiohttp keeps them as surrogates).
        raise InvalidSignatureException(SIGNATURE_MISMATCH_MESSAGE) from None
    return signature
