"""Time zones, times of day and moments as written in configuration files and on the
command line: one parser each, with one wording for what is wrong."""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d\d)(?::(\d\d))?")


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or ValueError saying why not."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{name!r} is not a time zone; use an IANA name such as"
                         " 'Europe/London' or 'America/New_York'") from None


def time_of_day(text: str) -> time:
    match = _TIME_OF_DAY.fullmatch(text)
    if match:
        hour, minute, second = (int(g or 0) for g in match.groups())
        if hour < 24 and minute < 60 and second < 60:
            return time(hour, minute, second)
    raise ValueError(f"{text!r} is not a time of day; write HH:MM, from 00:00 to 23:59")


def moment(text: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 date and time; one without an offset is wall-clock time in `zone`."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time; write 'YYYY-MM-DD HH:MM' (in the"
                         " schedule's time zone) or ISO 8601 with an offset") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)
