"""Marker / PageSize for the Describe actions (ELBv2's spelling of nextToken / maxResults).

The marker is the opaque token of `api.pagination` (the sort key of the last
item sent); a bad one is a ValidationError, as ELBv2 answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from dockyard.api.pagination import Page, decode_token, finish, paginate_list
from dockyard.elbv2.errors import ValidationError
from dockyard.errors import InvalidParameterException

T = TypeVar("T")
MAX_PAGE_SIZE = 400


def page_of(params: dict[str, Any]) -> Page:
    size = params.get("PageSize", MAX_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError(f"Page size must be between 1 and {MAX_PAGE_SIZE}; got {size}")
    marker = params.get("Marker")
    try:
        after = decode_token(marker) if marker else None
    except InvalidParameterException:
        raise ValidationError("The marker is not valid") from None
    return Page(after=after, limit=size)


def page_in_memory(
    items: Sequence[T], page: Page, key: Callable[[T], Any]
) -> tuple[list[T], str | None]:
    """A page of a list already sorted by `key` (for lookups by names or ARNs)."""
    return paginate_list(items, page, key)


def page_of_rows(
    rows: Sequence[T], page: Page, key: Callable[[T], Any]
) -> tuple[list[T], str | None]:
    """A page of rows fetched from the store with `limit=page.fetch` after the marker."""
    return finish(rows, page, lambda row: [key(row)])


def answer(result_key: str, items: list[Any], marker: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {result_key: items}
    if marker:
        result["NextMarker"] = marker
    return result
