"""The JSON codec: the store's documents to text and back (every write and read), API
responses, and the agent channel's messages at both ends (server and agent).

Why: encoding task documents was the largest single cost of the server's hot paths
(`json.JSONEncoder.encode` ~9 % of the server in a scale-up: every placement inserts a
task, every agent report rewrites one; bench/README.md, issue 9). orjson encodes a task
document ~6x and decodes it ~2x faster than the standard library.

The text differs from `json.dumps`'s: no spaces after `:` and `,`, non-ASCII characters
as UTF-8 instead of `\\uXXXX` escapes. Both decode to the same documents, so a store
written before (or by another version) reads the same; only substring hints on stored
text must accept both spellings (`controllers/instances.CONNECTED`). Values orjson
refuses (integers beyond 64 bits) fall back to `json.dumps`, so any value the standard
library encoded still encodes. Keys that are not strings become strings, as with
`json.dumps` (OPT_NON_STR_KEYS).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError: e.g. an int over 64 bits
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


# The same codec serves the hot wire paths (API responses, the agent channel's messages
# both ways, at the server and in the agent): the standard library's encoder was ~2 % of
# the server at 5,000 instances (run M2's profile) and ~10 % of the benchmark's
# simulated agents (2026-12-03). Both fall back to the standard library where orjson
# refuses (integers beyond 64 bits; NaN/Infinity, which json.dumps writes and reads).


def dumps_bytes(value: Any) -> bytes:
    """`value` as compact JSON bytes (an API response body)."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def loads_any(text: str | bytes) -> Any:
    """Whatever `json.loads` reads (a peer's message), orjson's speed when it can;
    ValueError when neither reads it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
