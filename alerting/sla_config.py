"""sla.toml: customer calendars ([[calendar]]) and SLA targets ([[sla]]), read strictly.

Every problem names the file, the key and the reason; all problems are reported at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from alerting.calendar import DAY_MINUTES, WEEKDAYS, BusinessCalendar, Span
from alerting.sla import SlaClock, SlaTarget
from alerting.timeparse import time_zone
from watchkeeper.tomlconf import ConfigError, Table, read_toml

_SPAN = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")
SEVERITIES = range(1, 4)


@dataclass(frozen=True, slots=True)
class SlaConfig:
    targets: tuple[SlaTarget, ...]
    calendars: tuple[BusinessCalendar, ...]
    default_calendar: str | None

    def target_for(self, severity: int, tier: str) -> SlaTarget | None:
        """The target for the tier if it has one, else the severity's target for every tier."""
        same = [t for t in self.targets if t.severity == severity]
        return next((t for t in same if t.tier == tier), None) or next(
            (t for t in same if t.tier is None), None)

    def calendar(self, name: str | None) -> BusinessCalendar | None:
        """The calendar a customer names, or the default for customers that name none."""
        wanted = name or self.default_calendar
        return next((c for c in self.calendars if c.name == wanted), None)


def parse_hours(text: str) -> tuple[Span, ...]:
    """"09:00-17:30", or several spans with a break: "08:00-12:00, 13:00-17:00"."""
    spans: list[Span] = []
    for part in text.replace(" ", "").split(","):
        m = _SPAN.fullmatch(part)
        if not m:
            raise ValueError(f"{text!r} is not working hours; write \"09:00-17:30\" (24-hour"
                             " clock), or several spans separated by commas")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if h1 > 23 or m1 > 59 or m2 > 59 or end > DAY_MINUTES:
            raise ValueError(f"{part!r} is not a time of day (00:00 to 24:00)")
        if end <= start:
            raise ValueError(f"{part!r} ends before it starts; hours cannot run past midnight"
                             " (split them: \"22:00-24:00\" and the next day \"00:00-06:00\")")
        if spans and start < spans[-1].end:
            raise ValueError(f"{part!r} starts before the previous span ends; list spans in"
                             " order, without overlap")
        spans.append(Span(start, end))
    return tuple(spans)


def _holidays(t: Table, raw: object) -> frozenset[date]:
    if not isinstance(raw, list):
        t.problem("holidays", f"must be a list of dates such as [2026-12-25], got {raw!r}")
        return frozenset()
    days: set[date] = set()
    for value in raw:
        if isinstance(value, datetime):  # a TOML date-time is a datetime, itself a date
            t.problem("holidays", f"{value} has a time of day; a holiday is a whole date"
                      " such as 2026-12-25")
        elif isinstance(value, date):
            days.add(value)
        elif isinstance(value, str):
            try:
                days.add(date.fromisoformat(value))
            except ValueError:
                t.problem("holidays", f"{value!r} is not a date such as 2026-12-25")
        else:
            t.problem("holidays", f"{value!r} is not a date such as 2026-12-25")
    return frozenset(days)


def _calendar(entry: Table) -> BusinessCalendar | None:
    # tomlconf has no reader for TOML dates, so the holidays are taken out and checked here,
    # and the rest goes through a Table that still rejects unknown keys.
    t = Table({k: v for k, v in entry.data.items() if k != "holidays"}, entry.file, entry.path,
              entry.problems)
    holidays = _holidays(t, entry.data.get("holidays", []))
    name = t.str("name")
    zone_name = t.str("time_zone")
    tz = None
    if zone_name is not None:
        try:
            tz = time_zone(zone_name)
        except ValueError as exc:
            t.problem("time_zone", str(exc))
    week: list[tuple[Span, ...]] = []
    bad_day = False
    for day in WEEKDAYS:
        text = t.str(day, "")
        try:
            week.append(parse_hours(text) if text else ())
        except ValueError as exc:
            t.problem(day, str(exc))
            week.append(())
            bad_day = True
    if not any(week) and not bad_day:
        t.problem("monday", "no weekday has working hours; give at least one, such as"
                  " monday = \"09:00-17:30\"")
    t.done()
    if name is None or tz is None or not any(week):
        return None
    return BusinessCalendar(name, tz, tuple(week), holidays)


def _target(t: Table, calendars_declared: bool) -> SlaTarget | None:
    severity = t.int("severity", minimum=1)
    if severity is not None and severity not in SEVERITIES:
        t.problem("severity", f"must be 1, 2 or 3, got {severity}")
    tier = t.str("tier", None)
    response = t.duration("response", positive=True)
    resolution = t.duration("resolution", None, positive=True)
    clock = t.choice("clock", SlaClock, "wall")
    percent = t.int("admin_escalation_percent", None, minimum=1)
    if percent is not None and percent > 99:
        t.problem("admin_escalation_percent", f"must be below 100 (it warns before the"
                  f" limit), got {percent}")
    if response is not None and resolution is not None and resolution < response:
        t.problem("resolution", "is shorter than the response target")
    if clock is SlaClock.BUSINESS and not calendars_declared:
        t.problem("clock", "counts business hours, but no [[calendar]] says what they are")
    t.done()
    if severity is None or response is None or clock is None:
        return None
    return SlaTarget(severity, tier, timedelta(seconds=response),
                     None if resolution is None else timedelta(seconds=resolution), clock,
                     percent)


def parse_sla(data: dict, file: str) -> tuple[SlaConfig, Table]:
    root = Table(data, file)
    calendars: list[BusinessCalendar] = []
    # Names as written, so a calendar refused for another reason is not also reported missing.
    declared = {c.get("name") for c in data.get("calendar", []) if isinstance(c, dict)}
    for ct in root.tables("calendar"):
        cal = _calendar(ct)
        if cal is not None and any(c.name == cal.name for c in calendars):
            ct.problem("name", f"a calendar named {cal.name!r} is already defined")
        elif cal is not None:
            calendars.append(cal)
    targets: list[SlaTarget] = []
    for st in root.tables("sla"):
        target = _target(st, bool(declared))
        if target is None:
            continue
        if any((t.severity, t.tier) == (target.severity, target.tier) for t in targets):
            who = f"tier {target.tier!r}" if target.tier else "every tier"
            st.problem("severity", f"severity {target.severity} for {who} already has a target")
        targets.append(target)
    default = root.str("default_calendar", None)
    if default is not None and default not in declared:
        names = ", ".join(sorted(n for n in declared if isinstance(n, str))) or "none"
        root.problem("default_calendar", f"no [[calendar]] is named {default!r} (defined:"
                     f" {names})")
    if default is None and any(t.clock is SlaClock.BUSINESS for t in targets):
        root.problem("default_calendar", "business-hours targets need a default calendar, for"
                     " customers that name none")
    return SlaConfig(tuple(targets), tuple(calendars), default), root


def load_sla(path: Path) -> SlaConfig:
    config, root = parse_sla(read_toml(path), str(path))
    root.done()
    if root.problems:
        raise ConfigError(root.problems)
    return config
