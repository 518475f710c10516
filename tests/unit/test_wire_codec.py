"""wire/codec.py: documents round-trip as with the standard library, values orjson
refuses fall back to it, and a store written by `json.dumps` reads the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.store import Kind
from dockyard.store.sql import open_store, sqlite_url
from dockyard.wire import codec

documents = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(documents)
def test_round_trips_as_the_standard_library_does(doc: Any) -> None:
    text = codec.dumps(doc)
    assert codec.loads(text) == json.loads(json.dumps(doc)) == json.loads(text)


def test_what_orjson_refuses_falls_back_to_the_standard_library() -> None:
    doc = {"big": 2**70, 1: "int key", None: "none key"}
    assert codec.loads(codec.dumps(doc)) == json.loads(json.dumps(doc))
    assert codec.loads(codec.dumps({1: "a"})) == {"1": "a"}  # as json.dumps does


def test_rows_written_by_json_dumps_read_the_same(tmp_path: Path) -> None:
    """A store written before the codec (json.dumps text) is read unchanged."""
    store = open_store(sqlite_url(tmp_path))
    doc = {"clusterArn": "arn:c", "clusterName": "c", "n": [1.5, {"é": None}]}
    with store.transaction() as tx:
        tx.insert(Kind.CLUSTER, "arn:c", doc, name="c", status="ACTIVE")
    with store.engine.begin() as conn:  # as an older version stored it
        conn.exec_driver_sql("UPDATE clusters SET doc = ?", (json.dumps(doc),))
    with store.read() as tx:
        assert tx.get(Kind.CLUSTER, "arn:c") == doc
        ((_, raw),) = tx.find_raw(Kind.CLUSTER, {})
    assert raw == json.dumps(doc)
    store.close()


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(documents)
def test_wire_bytes_read_back_as_the_standard_library_reads_its_own(doc: Any) -> None:
    """API response bodies (`dumps_bytes`) and peers' messages (`loads_any`)."""
    body = codec.dumps_bytes(doc)
    assert isinstance(body, bytes)
    assert json.loads(body) == json.loads(json.dumps(doc)) == codec.loads_any(body)


def test_the_wire_codec_takes_what_only_the_standard_library_takes() -> None:
    odd = {"big": 2**70, "nan": float("nan"), "inf": float("inf")}
    assert json.loads(codec.dumps_bytes({"big": 2**70})) == {"big": 2**70}
    read = codec.loads_any(json.dumps(odd))  # an agent's json.dumps writes NaN
    assert read["big"] == 2**70 and read["nan"] != read["nan"] and read["inf"] == float("inf")
    with pytest.raises(ValueError):
        codec.loads_any("{not json")
