"""Scheduled-action expressions: `at(...)`, `rate(...)`, `cron(...)`, pure.

Neighbours: `api/autoscaling/scheduled.py` calls `parse` to refuse bad expressions
(ValidationException) and `controllers/scaling.py` calls `next_run` each tick to see
whether an action is due.

Application Auto Scaling's grammar:

    at(yyyy-mm-ddThh:mm:ss)           once, in Timezone (default UTC)
    rate(value unit)                  every value minutes|hours|days (singular for 1),
                                      counted from StartTime, else from creation
    cron(min hour dom month dow year) six fields; dom or dow must be '?';
                                      , - * / everywhere; L and W in dom (L, 15W, LW);
                                      L and # in dow (6L = last Friday, 2#1 = first
                                      Monday); dow 1-7 = SUN-SAT; names JAN-DEC, SUN-SAT

Times are epoch seconds; local wall-clock times are converted with zoneinfo (a time
that does not exist in a DST gap resolves as zoneinfo's fold=0 does).
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
UNITS = {"minute": 60, "hour": 3600, "day": 86400}
AT = re.compile(r"^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$")
RATE = re.compile(r"^rate\((\d+) (minutes?|hours?|days?)\)$")
CRON = re.compile(r"^cron\((.*)\)$")
SEARCH_DAYS = 366 * 5  # how far ahead cron looks for a next run


class ScheduleError(ValueError):
    """The expression is not valid (the API answers ValidationException)."""


@dataclass(frozen=True, slots=True)
class At:
    when: datetime  # naive, local to the action's time zone


@dataclass(frozen=True, slots=True)
class Rate:
    seconds: int


@dataclass(frozen=True, slots=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: str  # kept as text: L and W depend on the month
    months: frozenset[int]
    dow: str  # kept as text: L and # depend on the month
    years: frozenset[int]


Schedule = At | Rate | Cron


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"Invalid timezone: {name}") from None


def parse(expression: str) -> Schedule:
    text = expression.strip()
    if match := AT.match(text):
        try:
            year, month, day, hour, minute, second = (int(g) for g in match.groups())
            return At(datetime(year, month, day, hour, minute, second))
        except ValueError:
            raise ScheduleError(f"Invalid at expression: {expression}") from None
    if match := RATE.match(text):
        value, unit = int(match.group(1)), match.group(2)
        if value <= 0 or (value == 1) != (not unit.endswith("s")):
            raise ScheduleError(f"Invalid rate expression: {expression}")
        return Rate(value * UNITS[unit.rstrip("s")])
    if match := CRON.match(text):
        return _parse_cron(match.group(1), expression)
    raise ScheduleError(
        f"Invalid schedule expression: {expression}. Use at(...), rate(...) or cron(...)."
    )


def _parse_cron(body: str, expression: str) -> Cron:
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleError(f"Invalid cron expression: {expression}: six fields are required.")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(
            f"Invalid cron expression: {expression}: exactly one of day-of-month and "
            "day-of-week must be '?'."
        )
    try:
        cron = Cron(
            _values(minute, 0, 59),
            _values(hour, 0, 23),
            dom,
            _values(month, 1, 12, MONTHS),
            dow,
            _values(year, 1970, 2199),
        )
        if dom != "?":
            _dom_matches(dom, 2024, 1, 1)  # syntax check
        if dow != "?":
            _dow_matches(dow, 2024, 1, 1)
    except (ValueError, KeyError):
        raise ScheduleError(f"Invalid cron expression: {expression}") from None
    return cron


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The set of values a plain field (, - * / and names) allows."""
    out: set[int] = set()
    for part in field.split(","):
        step = 1
        span, slash, step_text = part.partition("/")
        if slash:
            step = int(step_text)
            if step <= 0:
                raise ValueError(field)
        if span in {"*", "?"}:
            start, end = low, high
        elif "-" in span:
            a, b = span.split("-", 1)
            start, end = _number(a, names), _number(b, names)
        else:
            start = _number(span, names)
            end = high if step != 1 else start
        if not low <= start <= high or not low <= end <= high or start > end:
            raise ValueError(field)
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _dom_matches(field: str, year: int, month: int, day: int) -> bool:
    last = calendar.monthrange(year, month)[1]
    for part in field.split(","):
        if part == "L":
            if day == last:
                return True
        elif part == "LW":
            if day == _weekday_nearest(year, month, last):
                return True
        elif part.endswith("W"):
            target = int(part[:-1])
            if not 1 <= target <= 31:
                raise ValueError(field)
            if target <= last and day == _weekday_nearest(year, month, target):
                return True
        elif day in _values(part, 1, 31):
            return True
    return False


def _weekday_nearest(year: int, month: int, day: int) -> int:
    """The weekday (Mon-Fri) nearest `day` without leaving the month."""
    last = calendar.monthrange(year, month)[1]
    weekday = calendar.weekday(year, month, day)  # Monday = 0
    if weekday == 5:  # Saturday: Friday before, or Monday after on the 1st
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: Monday after, or Friday before on the last day
        return day + 1 if day < last else day - 2
    return day


def _dow_matches(field: str, year: int, month: int, day: int) -> bool:
    aws_dow = (calendar.weekday(year, month, day) + 1) % 7 + 1  # SUN=1 .. SAT=7
    last = calendar.monthrange(year, month)[1]
    for part in field.split(","):
        if "#" in part:
            name, nth = part.split("#", 1)
            if not 1 <= int(nth) <= 5:
                raise ValueError(field)
            if aws_dow == _number(name, DAYS) and (day - 1) // 7 + 1 == int(nth):
                return True
        elif part.endswith("L") and part != "L":
            if aws_dow == _number(part[:-1], DAYS) and day + 7 > last:
                return True
        elif part == "L":
            if aws_dow == 7:
                return True
        elif aws_dow in _values(part, 1, 7, DAYS):
            return True
    return False


def _cron_next(cron: Cron, after: datetime) -> datetime | None:
    """The first local wall-clock time strictly after `after` that the cron allows."""
    start = (after + timedelta(minutes=1)).replace(second=0, microsecond=0)
    day = start.date()
    for _ in range(SEARCH_DAYS):
        if (
            day.year in cron.years
            and day.month in cron.months
            and (cron.dom == "?" or _dom_matches(cron.dom, day.year, day.month, day.day))
            and (cron.dow == "?" or _dow_matches(cron.dow, day.year, day.month, day.day))
        ):
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    candidate = datetime(day.year, day.month, day.day, hour, minute)
                    if candidate >= start:
                        return candidate
        day += timedelta(days=1)
    return None


def _epoch(local: datetime, tz: ZoneInfo) -> float:
    return local.replace(tzinfo=tz).timestamp()


def next_run(
    schedule: Schedule,
    after: float,
    *,
    timezone: str | None = None,
    start: float | None = None,
    end: float | None = None,
    created: float = 0.0,
) -> float | None:
    """The first run strictly after `after` (epoch seconds) within [start, end], or None."""
    tz = zone(timezone)
    lower = max(after, (start - 1e-6) if start is not None else after)
    result: float | None
    if isinstance(schedule, At):
        when = _epoch(schedule.when, tz)
        result = when if when > after else None
    elif isinstance(schedule, Rate):
        origin = start if start is not None else created
        if lower < origin:
            result = origin
        else:
            periods = int((lower - origin) // schedule.seconds) + 1
            result = origin + periods * schedule.seconds
    else:
        # Whole seconds: fromtimestamp rounds to the microsecond, so 23:59:59.9999998 would
        # read as midnight and skip a run at midnight; cron runs fall on whole seconds.
        local = datetime.fromtimestamp(math.floor(lower), UTC).astimezone(tz).replace(tzinfo=None)
        found = _cron_next(schedule, local)
        result = _epoch(found, tz) if found is not None else None
    if result is None or (end is not None and result > end):
        return None
    return result
