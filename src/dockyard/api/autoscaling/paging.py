"""MaxResults / NextToken for Application Auto Scaling listings (computed in memory).

Same token format as the ECS listings (`api/pagination.py`), but a bad token is
Application Auto Scaling's InvalidNextTokenException and MaxResults is at most 50.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from dockyard.api.pagination import Page, decode_token, paginate_list
from dockyard.autoscaling.errors import ValidationException
from dockyard.errors import AwsError, InvalidParameterException

T = TypeVar("T")
MAX_RESULTS = 50


class InvalidNextTokenException(AwsError):
    code = "InvalidNextTokenException"


def paginate(
    params: dict[str, Any], items: Sequence[T], key: Callable[[T], Any], field: str
) -> dict[str, Any]:
    """`{field: page, NextToken?}` over `items` sorted by `key`."""
    limit = params.get("MaxResults", MAX_RESULTS)
    if not 1 <= limit <= MAX_RESULTS:
        raise ValidationException(f"MaxResults must be between 1 and {MAX_RESULTS}.")
    token = params.get("NextToken")
    try:
        after = decode_token(token) if token else None
    except InvalidParameterException:
        raise InvalidNextTokenException("Invalid NextToken.") from None
    ordered = sorted(items, key=key)
    page, next_token = paginate_list(ordered, Page(after=after, limit=limit), key)
    result: dict[str, Any] = {field: page}
    if next_token:
        result["NextToken"] = next_token
    return result
