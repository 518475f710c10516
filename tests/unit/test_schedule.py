"""Scheduled-action expressions (dockyard.autoscaling.schedule): at, rate, cron, time zones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.autoscaling.schedule import At, Rate, ScheduleError, next_run, parse


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("at(2026-02-30T10:00:00)", id="at-no-such-day"),
        pytest.param("at(2026-01-01 10:00:00)", id="at-no-T"),
        pytest.param("rate(0 minutes)", id="rate-zero"),
        pytest.param("rate(1 minutes)", id="rate-1-plural"),
        pytest.param("rate(5 minute)", id="rate-5-singular"),
        pytest.param("rate(5 weeks)", id="rate-unit"),
        pytest.param("cron(0 10 * * ? )", id="cron-5-fields"),
        pytest.param("cron(0 10 * * * *)", id="cron-no-question-mark"),
        pytest.param("cron(0 10 ? * ? *)", id="cron-two-question-marks"),
        pytest.param("cron(60 10 * * ? *)", id="cron-minute-range"),
        pytest.param("cron(0 24 * * ? *)", id="cron-hour-range"),
        pytest.param("cron(0 10 ? * 8 *)", id="cron-dow-range"),
        pytest.param("cron(0 10 ? * 2#6 *)", id="cron-nth-range"),
        pytest.param("cron(0 10 32W * ? *)", id="cron-w-range"),
        pytest.param("cron(0 10 * FOO ? *)", id="cron-month-name"),
        pytest.param("every 5 minutes", id="not-an-expression"),
    ],
)
def test_invalid(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse(expression)


def test_parse_shapes() -> None:
    assert parse("at(2026-12-02T10:30:00)") == At(datetime(2026, 12, 2, 10, 30))
    assert parse("rate(1 minute)") == Rate(60)
    assert parse("rate(2 hours)") == Rate(7200)
    assert parse("rate(3 days)") == Rate(3 * 86400)


BASE = utc(2026, 12, 2, 10, 0)  # a Wednesday


@pytest.mark.parametrize(
    ("expression", "after", "timezone", "expected"),
    [
        pytest.param("at(2026-12-02T10:30:00)", BASE, None, utc(2026, 12, 2, 10, 30), id="at"),
        pytest.param("at(2026-12-02T09:30:00)", BASE, None, None, id="at-past"),
        pytest.param(
            "at(2026-12-02T11:30:00)",
            BASE,
            "Europe/Paris",
            utc(2026, 12, 2, 10, 30),
            id="at-paris-is-utc+1",
        ),
        pytest.param("cron(15 * * * ? *)", BASE, None, utc(2026, 12, 2, 10, 15), id="cron-hourly"),
        pytest.param(
            "cron(0 10 * * ? *)", BASE, None, utc(2026, 12, 3, 10, 0), id="strictly-after"
        ),
        pytest.param("cron(0/20 * * * ? *)", BASE, None, utc(2026, 12, 2, 10, 20), id="step"),
        pytest.param("cron(0 9 ? * MON-FRI *)", BASE, None, utc(2026, 12, 3, 9, 0), id="weekday"),
        pytest.param("cron(0 9 ? * SAT,SUN *)", BASE, None, utc(2026, 12, 5, 9, 0), id="weekend"),
        pytest.param("cron(0 9 ? * 1 *)", BASE, None, utc(2026, 12, 6, 9, 0), id="1-is-sunday"),
        pytest.param("cron(0 0 L * ? *)", BASE, None, utc(2026, 12, 31, 0, 0), id="last-day"),
        pytest.param("cron(0 0 L 2 ? *)", BASE, None, utc(2027, 2, 28, 0, 0), id="last-of-feb"),
        # 2027-01-01 is a Friday; the 2nd a Saturday -> Friday the 1st; 3rd Sunday -> Monday 4th.
        pytest.param("cron(0 0 2W 1 ? 2027)", BASE, None, utc(2027, 1, 1, 0, 0), id="w-sat"),
        pytest.param("cron(0 0 3W 1 ? 2027)", BASE, None, utc(2027, 1, 4, 0, 0), id="w-sun"),
        # August 2026 has passed; 2027-08-01 is a Sunday -> Monday the 2nd.
        pytest.param("cron(0 0 1W 8 ? *)", BASE, None, utc(2027, 8, 2, 0, 0), id="w-first-sun"),
        pytest.param("cron(0 0 LW * ? *)", BASE, None, utc(2026, 12, 31, 0, 0), id="last-weekday"),
        pytest.param("cron(0 0 ? * 6L *)", BASE, None, utc(2026, 12, 25, 0, 0), id="last-friday"),
        pytest.param("cron(0 0 ? * 2#1 *)", BASE, None, utc(2026, 12, 7, 0, 0), id="first-monday"),
        pytest.param("cron(0 0 ? * 4#1 *)", BASE, None, utc(2027, 1, 6, 0, 0), id="first-wed"),
        pytest.param("cron(0 0 1 JAN ? 2028)", BASE, None, utc(2028, 1, 1, 0, 0), id="year"),
        pytest.param("cron(0 0 1 JAN ? 2020)", BASE, None, None, id="year-past"),
        pytest.param(
            "cron(0 8 * * ? *)",
            BASE,
            "America/New_York",
            utc(2026, 12, 2, 13, 0),
            id="new-york-winter",
        ),
        pytest.param(
            "cron(0 8 * * ? *)",
            utc(2026, 7, 1, 0, 0),
            "America/New_York",
            utc(2026, 7, 1, 12, 0),
            id="new-york-summer",
        ),
    ],
)
def test_next_run(
    expression: str, after: float, timezone: str | None, expected: float | None
) -> None:
    assert next_run(parse(expression), after, timezone=timezone) == expected


def test_rate_counts_from_start_or_creation() -> None:
    rate = parse("rate(5 minutes)")
    assert next_run(rate, BASE, created=BASE) == BASE + 300
    assert next_run(rate, BASE + 301, created=BASE) == BASE + 600
    assert next_run(rate, BASE, start=BASE + 1000, created=BASE) == BASE + 1000
    assert next_run(rate, BASE + 1000, start=BASE + 1000, created=BASE) == BASE + 1300


def test_start_and_end_bound_runs() -> None:
    cron = parse("cron(0 * * * ? *)")
    assert next_run(cron, BASE, start=BASE + 3 * 3600 + 1) == BASE + 4 * 3600
    assert next_run(cron, BASE, end=BASE + 1800) is None
    assert next_run(cron, BASE, end=BASE + 3600) == BASE + 3600


def test_unknown_timezone() -> None:
    with pytest.raises(ScheduleError):
        next_run(parse("rate(1 minute)"), BASE, timezone="Mars/Olympus")


@given(st.integers(1, 600), st.floats(0, 10**6), st.floats(0, 10**6))
def test_rate_next_is_after_and_on_the_grid(minutes: int, created: float, offset: float) -> None:
    seconds = minutes * 60
    after = created + offset
    run = next_run(Rate(seconds), after, created=created)
    assert run is not None and after < run <= after + seconds
    assert abs(((run - created) / seconds) - round((run - created) / seconds)) < 1e-6


@given(
    st.integers(0, 59),
    st.integers(0, 23),
    st.floats(utc(2026, 1, 1), utc(2030, 1, 1)),
)
def test_daily_cron_is_within_a_day_and_on_the_minute(minute: int, hour: int, after: float) -> None:
    run = next_run(parse(f"cron({minute} {hour} * * ? *)"), after)
    assert run is not None and after < run <= after + 86400
    moment = datetime.fromtimestamp(run, UTC)
    assert (moment.hour, moment.minute, moment.second) == (hour, minute, 0)


def test_a_run_at_midnight_is_not_skipped_just_before_it() -> None:
    """fromtimestamp rounds 23:59:59.9999998 up to midnight (found by Hypothesis)."""
    after = 1893455999.9999998  # 2029-12-31 23:59:59.9999998 UTC
    assert next_run(parse("cron(0 0 * * ? *)"), after) == 1893456000.0
