"""Pagination tokens and ARN parsing."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.api.pagination import decode_token, encode_token, page_of, paginate_list
from dockyard.arns import Identity, new_id, parse_arn
from dockyard.errors import InvalidParameterException


@given(st.lists(st.one_of(st.text(), st.integers()), max_size=4))
def test_token_round_trip(key: list[object]) -> None:
    assert decode_token(encode_token(key)) == key


@pytest.mark.parametrize("token", ["%%%", "bm90IGpzb24", encode_token([1])[:-1] + "!"])
def test_bad_tokens_are_invalid_parameter(token: str) -> None:
    with pytest.raises(InvalidParameterException):
        decode_token(token)


@pytest.mark.parametrize("limit", [0, 101, -5])
def test_max_results_bounds(limit: int) -> None:
    with pytest.raises(InvalidParameterException):
        page_of({"maxResults": limit})


@given(st.lists(st.text(min_size=1), unique=True), st.integers(1, 7))
def test_paginate_list_visits_everything_once(items: list[str], size: int) -> None:
    items = sorted(items)
    seen: list[str] = []
    params: dict[str, object] = {"maxResults": size}
    for _ in range(len(items) + 2):
        page, token = paginate_list(items, page_of(params), lambda x: x)
        seen.extend(page)
        if token is None:
            break
        params = {"maxResults": size, "nextToken": token}
    assert seen == items


def test_arns() -> None:
    identity = Identity("eu-west-1", "123456789012")
    arn = identity.ecs("container-instance/stage01/abc")
    assert arn == "arn:aws:ecs:eu-west-1:123456789012:container-instance/stage01/abc"
    parsed = parse_arn(arn)
    assert parsed is not None
    assert (parsed.resource_type, parsed.resource_path) == ("container-instance", "stage01/abc")
    assert str(parsed) == arn
    assert parse_arn("stage01") is None
    assert parse_arn("arn:aws:ecs:r:a:") is None


def test_new_ids_have_ecs_shape_and_sort_by_creation_time() -> None:
    """Task and container-instance ids: 32 lowercase hex digits, distinct within one
    millisecond, and later ids sort after earlier ones (the store's ARN index grows at
    its end)."""
    burst = [new_id() for _ in range(2000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in burst)
    assert len(set(burst)) == len(burst)
    earlier = new_id()
    time.sleep(0.002)
    later = new_id()
    assert earlier < later
    assert max(burst) < later
