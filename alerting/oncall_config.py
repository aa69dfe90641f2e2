"""On-call schedules from TOML (oncall.toml): typed, validated, every problem named by key.

Dates and times may be quoted strings ("2026-01-05", "09:00") or TOML's own date and time
values (2026-01-05, 09:00:00): both are read as text, so one parser and one set of error
messages serve both spellings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, time
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from alerting.oncall import Layer, Override, Rotation, RotationKind, Schedule, Weekday
from alerting.timeparse import moment, time_of_day, time_zone
from watchkeeper.tomlconf import ConfigError, ConfigProblem, Table, read_toml

T = TypeVar("T")

# Escalation targets read "schedule:NAME/LAYER", so names keep clear of ":" and "/".
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    if isinstance(value, date | time):  # datetime is a date
        return value.isoformat()
    return value


def _name(t: Table, what: str) -> str:
    name = t.str("name") or ""
    if name and not _NAME.fullmatch(name):
        t.problem("name", f"{name!r}: a {what} name is letters, digits, '.', '_' and '-'")
    return name


def _parsed(t: Table, key: str, text: str | None, parse: Callable[[str], T]) -> T | None:
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as exc:
        t.problem(key, str(exc))
        return None


def _rotation(lt: Table, people: set[str]) -> Rotation | None:
    members = lt.str_list("members")
    if members == []:
        lt.problem("members", "a rotation needs at least one member")
    for who in members or []:
        if who not in people:
            lt.problem("members", f"{who!r}: no [[person]] named {who!r} in the collector's"
                       " configuration")
    kind = lt.choice("rotation", RotationKind)
    handoff = _parsed(lt, "handoff", lt.str("handoff", "09:00"), time_of_day)
    start = _parsed(lt, "start", lt.str("start"), _start_date)
    day = lt.choice("handoff_day", Weekday, None)
    shift_days = lt.int("shift_days", None, minimum=1)
    if kind is None:  # already reported; what fits with it is anybody's guess
        return None
    if day is not None and kind is not RotationKind.WEEKLY:
        lt.problem("handoff_day", "only a weekly rotation has a hand-off day")
    if kind is RotationKind.CUSTOM and "shift_days" not in lt.data:
        lt.problem("shift_days", "a custom rotation needs shift_days (how many days a shift"
                   " lasts)")
    if shift_days is not None and kind is not RotationKind.CUSTOM:
        lt.problem("shift_days", "only a custom rotation has shift_days (daily shifts last 1"
                   " day, weekly 7)")
    if not members or handoff is None or start is None or (shift_days or 1) < 1:
        return None
    return Rotation(tuple(members), kind, handoff, start, day, shift_days or 1)


def _start_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date; write YYYY-MM-DD (the hour of the hand-off"
                         " is `handoff`)") from None


def _overrides(st: Table, zone: ZoneInfo, layers: list[str],
               people: set[str]) -> list[Override]:
    found: list[tuple[str, Override]] = []
    for ot in st.tables("override"):
        layer = ot.str("layer", None)
        if layer is not None and layer not in layers:
            ot.problem("layer", f"{layer!r}: this schedule has no such layer (layers:"
                       f" {', '.join(layers) or 'none'}); leave `layer` out to cover them all")
        person = ot.str("person") or ""
        if person and person not in people:
            ot.problem("person", f"no [[person]] named {person!r} in the collector's"
                       " configuration")
        start = _parsed(ot, "start", ot.str("start"), lambda text: moment(text, zone))
        end = _parsed(ot, "end", ot.str("end"), lambda text: moment(text, zone))
        note = ot.str("note", "") or ""
        ot.done()
        if start and end and end <= start:
            ot.problem("end", f"{end.isoformat()} is not after start {start.isoformat()}")
        elif start and end and person:
            found.append((ot.path, Override(person, start, end, layer, note)))
    # Two overrides of one layer at once would leave "who is on call" to file order.
    for i, (path, o) in enumerate(found):
        for earlier_path, earlier in found[:i]:
            shared = [n for n in layers if o.covers(n) and earlier.covers(n)]
            if shared and o.start < earlier.end and earlier.start < o.end:
                st.problems.append(ConfigProblem(
                    st.file, path, f"overlaps {earlier_path} on layer {shared[0]!r};"
                    " overrides of one layer must not overlap"))
    return [o for _, o in found]


def parse_schedules(data: dict[str, Any], file: str, people: set[str]) -> tuple[Schedule, ...]:
    """The schedules in a parsed oncall.toml; members and override people must be in
    `people`. Raises ConfigError listing every problem."""
    root = Table(_as_text(data), file)
    schedules: list[Schedule] = []
    for st in root.tables("schedule"):
        name = _name(st, "schedule")
        if name and name in [s.name for s in schedules]:
            st.problem("name", f"schedule {name!r} is defined twice")
        zone = _parsed(st, "time_zone", st.str("time_zone"), time_zone)
        names: list[str] = []
        layers: list[Layer] = []
        for lt in st.tables("layer"):
            layer_name = _name(lt, "layer")
            if layer_name and layer_name in names:
                lt.problem("name", f"layer {layer_name!r} is defined twice in this schedule")
            names.append(layer_name)
            rotation = _rotation(lt, people)
            lt.done()
            if rotation is not None:
                layers.append(Layer(layer_name, rotation))
        if not names:
            st.problem("layer", "a schedule needs at least one [[schedule.layer]]")
        # With a bad zone, naive override times are read as UTC just to report their problems.
        overrides = _overrides(st, zone or ZoneInfo("UTC"), names, people)
        st.done()
        if zone is not None and layers:
            schedules.append(Schedule(name, zone, tuple(layers), tuple(overrides)))
    root.done()
    if root.problems:
        raise ConfigError(root.problems)
    return tuple(schedules)


def load_schedules(path: Path, people: set[str]) -> tuple[Schedule, ...]:
    """The schedules in `path`; members and override people must be in `people`."""
    return parse_schedules(read_toml(path), str(path), people)
