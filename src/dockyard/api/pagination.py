"""nextToken / maxResults for List actions: keyset pagination over the store's sort key.

The token is the sort key of the last item returned, opaque to clients
(base64 of JSON); a page is fetched as `limit + 1` rows to know if more follow.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dockyard.errors import InvalidParameterException

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    after: list[Any] | None
    limit: int

    @property
    def fetch(self) -> int:
        return self.limit + 1


def encode_token(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> list[Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidParameterException("Invalid nextToken.") from None
    if not isinstance(key, list):
        raise InvalidParameterException("Invalid nextToken.")
    return key


def page_of(params: dict[str, Any], *, default: int = 100, maximum: int = 100) -> Page:
    """Read maxResults/nextToken; maxResults must lie within 1..maximum as in ECS."""
    limit = params.get("maxResults", default)
    if not 1 <= limit <= maximum:
        raise InvalidParameterException(f"maxResults must be between 1 and {maximum}; got {limit}.")
    token = params.get("nextToken")
    return Page(after=decode_token(token) if token else None, limit=limit)


def finish(
    rows: Sequence[T], page: Page, key: Callable[[T], Sequence[Any]]
) -> tuple[list[T], str | None]:
    """Cut the fetched rows to the page; the token points after its last item."""
    items = list(rows[: page.limit])
    more = len(rows) > page.limit
    return items, (encode_token(key(items[-1])) if more and items else None)


def paginate_list(
    items: Sequence[T], page: Page, key: Callable[[T], Any]
) -> tuple[list[T], str | None]:
    """Pagination over an in-memory list already sorted by `key` (for computed listings)."""
    start = 0
    if page.after is not None:
        marker = page.after[0] if page.after else None
        while start < len(items) and key(items[start]) <= marker:
            start += 1
    window = items[start : start + page.fetch]
    return finish(window, page, lambda item: [key(item)])
