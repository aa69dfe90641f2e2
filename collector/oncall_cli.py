"""`watchkeeper oncall`: who is on call on each schedule and layer, until when, and who is next.

Schedules are read from the file the collector's configuration names (`oncall` in
[collector], by default `oncall.toml` beside it); their members must be [[person]] entries of
that configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from alerting.oncall import Schedule, Shift, ShiftSource, next_shift, on_call
from collector.cli import _config_arg, _moment_arg, _zone_arg

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

ONCALL_FILE = "oncall.toml"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `oncall` on the main CLI's subparsers."""
    p = sub.add_parser(
        "oncall", help="who is on call, until when, and who is next",
        description="Print, for each on-call schedule and layer, who is on call now (or at"
                    " --at), until when, and who takes over then. Schedules are read from"
                    f" the collector's `oncall` file ({ONCALL_FILE} beside its configuration"
                    " unless it names another).")
    p.add_argument("--at", type=_moment_arg, metavar="TIME",
                   help="the moment to ask about (default: now): 'YYYY-MM-DD HH:MM' on the"
                        " clock of --tz, or ISO 8601 with an offset (2026-03-30T09:00+01:00)")
    p.add_argument("--tz", type=_zone_arg, metavar="ZONE",
                   help="the time zone of a --at without an offset, e.g. America/New_York"
                        " (default: each schedule's own zone)")
    p.add_argument("--schedule", metavar="NAME", help="only this schedule")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    _config_arg(p)
    p.set_defaults(func=cmd_oncall)


def moment(at: datetime | None, tz: ZoneInfo | None, schedule: Schedule,
           now: datetime) -> datetime:
    """The moment asked about, for one schedule: a time without an offset is read on the
    clock of --tz, or else of the schedule's own zone."""
    if at is None:
        return now
    return at if at.tzinfo is not None else at.replace(tzinfo=tz or schedule.time_zone)


def layers_at(schedule: Schedule, at: datetime) -> list[tuple[Shift, Shift]]:
    """For each layer: the shift at `at` and the one after it."""
    now_and_next = []
    for layer in schedule.layers:
        shift = on_call(schedule, layer.name, at)
        now_and_next.append((shift, next_shift(schedule, shift)))
    return now_and_next


def _local(schedule: Schedule, at: datetime) -> str:
    return at.astimezone(schedule.time_zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _iso(schedule: Schedule, at: datetime) -> str:
    return at.astimezone(schedule.time_zone).isoformat()


def format_text(schedule: Schedule, at: datetime, rows: list[tuple[Shift, Shift]]) -> str:
    lines = [f"{schedule.name} ({schedule.time_zone.key}) at {_local(schedule, at)}"]
    width = max(len(shift.layer) for shift, _ in rows)
    who = max(len(shift.person) for shift, _ in rows)
    for shift, following in rows:
        note = ""
        if shift.source is ShiftSource.OVERRIDE:
            note = f" (override: {shift.note})" if shift.note else " (override)"
        lines.append(f"  {shift.layer:<{width}}  {shift.person:<{who}}  until"
                     f" {_local(schedule, shift.end)}{note}, then {following.person}")
    return "\n".join(lines)


def _shift_json(schedule: Schedule, shift: Shift) -> dict[str, str]:
    return {"person": shift.person, "since": _iso(schedule, shift.start),
            "until": _iso(schedule, shift.end), "source": shift.source.value, "note": shift.note}


def as_json(schedule: Schedule, at: datetime, rows: list[tuple[Shift, Shift]]) -> dict:
    return {"schedule": schedule.name, "time_zone": schedule.time_zone.key,
            "at": _iso(schedule, at),
            "layers": [{"layer": shift.layer, **_shift_json(schedule, shift),
                        "next": _shift_json(schedule, following)}
                       for shift, following in rows]}


def cmd_oncall(args: argparse.Namespace) -> int:
    from collector.config import load_config
    from watchkeeper.clock import SystemClock
    from watchkeeper.tomlconf import ConfigError, print_problems

    try:  # the schedules are part of the collector's configuration, checked with it
        config = load_config(args.config)
    except ConfigError as exc:
        return print_problems(exc)
    path = config.oncall
    if not path.is_file():
        print(f"watchkeeper: no on-call schedules: {path} does not exist (collector/templates/"
              f"{ONCALL_FILE} is a commented example)", file=sys.stderr)
        return 1
    schedules = config.schedules
    if args.schedule is not None:
        known = ", ".join(s.name for s in schedules) or "none"
        schedules = tuple(s for s in schedules if s.name == args.schedule)
        if not schedules:
            print(f"watchkeeper: no schedule {args.schedule!r} in {path} (schedules: {known})",
                  file=sys.stderr)
            return 1
    now = datetime.fromtimestamp(SystemClock().now(), UTC)
    reports = []
    for schedule in schedules:
        at = moment(args.at, args.tz, schedule, now)
        reports.append((schedule, at, layers_at(schedule, at)))
    if args.json:
        print(json.dumps([as_json(*r) for r in reports], indent=2))
    else:
        print("\n".join(format_text(*r) for r in reports) or f"No schedules in {path}.")
    return 0
