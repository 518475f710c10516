"""Filter patterns, table-driven: what CloudWatch Logs matches, and what it refuses."""

from __future__ import annotations

import json

import pytest

from dockyard.logs.filter_pattern import FilterPatternError, compile_pattern

ERROR_LINE = "2024-05-01 ERROR disk full on /dev/sda"
INFO_LINE = "2024-05-01 INFO request served in 12 ms"
DOC = json.dumps(
    {
        "level": "error",
        "latency": 150,
        "user": {"id": 7, "name": "ann"},
        "tags": ["a", "b"],
        "ok": False,
        "gone": None,
    }
)

CASES = [
    pytest.param("", ERROR_LINE, True, id="empty-matches-all"),
    pytest.param("ERROR", ERROR_LINE, True, id="term"),
    pytest.param("ERROR", INFO_LINE, False, id="term-missing"),
    pytest.param("error", ERROR_LINE, False, id="case-sensitive"),
    pytest.param("ERROR disk", ERROR_LINE, True, id="all-terms"),
    pytest.param("ERROR served", ERROR_LINE, False, id="all-terms-one-missing"),
    pytest.param('"disk full"', ERROR_LINE, True, id="quoted-phrase"),
    pytest.param('"full disk"', ERROR_LINE, False, id="quoted-phrase-order"),
    pytest.param("ERROR -sda", ERROR_LINE, False, id="exclusion"),
    pytest.param("ERROR -sdb", ERROR_LINE, True, id="exclusion-absent"),
    pytest.param("?ERROR ?WARN", ERROR_LINE, True, id="alternative-first"),
    pytest.param("?WARN ?INFO", INFO_LINE, True, id="alternative-second"),
    pytest.param("?WARN ?FATAL", ERROR_LINE, False, id="alternative-none"),
    pytest.param("%ERR(OR)? disk%", ERROR_LINE, True, id="regex"),
    pytest.param("%^INFO%", INFO_LINE, False, id="regex-anchor"),
    pytest.param('{ $.level = "error" }', DOC, True, id="json-string"),
    pytest.param('{ $.level = "warn" }', DOC, False, id="json-string-differs"),
    pytest.param("{ $.level = error }", DOC, True, id="json-bare-word"),
    pytest.param('{ $.level = "err*" }', DOC, True, id="json-wildcard"),
    pytest.param('{ $.level != "error" }', DOC, False, id="json-not-equal"),
    pytest.param("{ $.latency > 100 }", DOC, True, id="json-greater"),
    pytest.param("{ $.latency <= 100 }", DOC, False, id="json-less-equal"),
    pytest.param("{ $.latency = 150 }", DOC, True, id="json-number-equal"),
    pytest.param("{ $.user.id >= 7 }", DOC, True, id="json-nested"),
    pytest.param('{ $.tags[1] = "b" }', DOC, True, id="json-index"),
    pytest.param("{ $.ok IS FALSE }", DOC, True, id="json-is-false"),
    pytest.param("{ $.gone IS NULL }", DOC, True, id="json-is-null"),
    pytest.param("{ $.missing NOT EXISTS }", DOC, True, id="json-not-exists"),
    pytest.param("{ $.level NOT EXISTS }", DOC, False, id="json-exists"),
    pytest.param('{ $.level = "error" && $.latency > 100 }', DOC, True, id="json-and"),
    pytest.param('{ $.level = "warn" && $.latency > 100 }', DOC, False, id="json-and-false"),
    pytest.param('{ $.level = "warn" || $.latency > 100 }', DOC, True, id="json-or"),
    pytest.param(
        '{ ($.level = "warn" || $.latency > 100) && $.user.name = "ann" }',
        DOC,
        True,
        id="json-parentheses",
    ),
    pytest.param("{ $.latency > 100 }", '{"latency": "150"}', False, id="json-string-not-number"),
    pytest.param('{ $.level = "error" }', ERROR_LINE, False, id="json-on-plain-text"),
    pytest.param("{ $.missing > 1 }", DOC, False, id="json-missing-field"),
]


@pytest.mark.parametrize(("pattern", "message", "expected"), CASES)
def test_pattern_matches(pattern: str, message: str, expected: bool) -> None:
    assert compile_pattern(pattern)(message) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("{ $.level = ", id="json-unterminated"),
        pytest.param("{ $.level }", id="json-no-operator"),
        pytest.param("{ level = 1 }", id="json-no-selector"),
        pytest.param('{ $.level > "x" }', id="json-order-on-string"),
        pytest.param("{ ($.a = 1 }", id="json-unbalanced"),
        pytest.param("{ $.a = 1 $.b = 2 }", id="json-missing-operator"),
        pytest.param("[ip, user]", id="space-delimited"),
        pytest.param("%(%", id="bad-regex"),
        pytest.param('"unterminated', id="unterminated-quote"),
    ],
)
def test_unreadable_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)
