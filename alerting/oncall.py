"""On-call schedules: who is on call at a given moment, as pure functions of that moment.

A schedule has a time zone, one or more layers (e.g. "primary", "secondary") and overrides.
Each layer runs a rotation: its members take turns, handing off every day, every week or
every N days at a wall-clock time in the schedule's zone. Because hand-offs follow the clock
on the wall, a shift that spans a daylight-saving change lasts an hour more or less than
usual (a daily shift is 23 or 25 hours that day). An override puts someone else on call for
its span; the rotation's shift it cuts into resumes when the override ends.

Every instant handed out (Shift.start, Shift.end) is in UTC: arithmetic and comparisons on
datetimes sharing one ZoneInfo follow the wall clock and ignore the offset, which would make
a 23-hour shift look 24 hours long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

SCHEDULE_TARGET = "schedule:"


class RotationKind(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    CUSTOM = "custom"  # every `shift_days` days


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"

    @property
    def number(self) -> int:
        """Monday is 0, as in date.weekday()."""
        return list(Weekday).index(self)


class ShiftSource(StrEnum):
    ROTATION = "rotation"
    OVERRIDE = "override"


@dataclass(frozen=True, slots=True)
class Rotation:
    """Members take turns; members[0] has the first hand-off on or after `start`.

    The rotation runs forever in both directions: `start` only fixes whose turn it is, so
    every moment, even one before `start`, has somebody on call.
    """

    members: tuple[str, ...]
    kind: RotationKind
    handoff: time  # wall-clock time in the schedule's zone
    start: date
    handoff_day: Weekday | None = None  # weekly only; None: the weekday of `start`
    shift_days: int = 1  # custom only: daily shifts last 1 day, weekly 7

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("a rotation needs at least one member")
        if self.shift_days < 1:
            raise ValueError("a shift lasts at least one day")

    @property
    def length_days(self) -> int:
        return {RotationKind.DAILY: 1, RotationKind.WEEKLY: 7}.get(self.kind, self.shift_days)

    @property
    def first_day(self) -> date:
        """The day of members[0]'s first hand-off."""
        if self.kind is not RotationKind.WEEKLY or self.handoff_day is None:
            return self.start
        return self.start + timedelta(days=(self.handoff_day.number - self.start.weekday()) % 7)


@dataclass(frozen=True, slots=True)
class Layer:
    name: str
    rotation: Rotation


@dataclass(frozen=True, slots=True)
class Override:
    """`person` is on call from `start` (included) to `end` (excluded), on one layer or, with
    layer None, on every layer of the schedule."""

    person: str
    start: datetime
    end: datetime
    layer: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        # Frozen, so normalising to UTC goes through object.__setattr__ (see the module doc).
        object.__setattr__(self, "start", _utc(self.start))
        object.__setattr__(self, "end", _utc(self.end))
        if self.end <= self.start:
            raise ValueError("an override must end after it starts")

    def covers(self, layer: str) -> bool:
        return self.layer is None or self.layer == layer


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    time_zone: ZoneInfo
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = ()

    def layer(self, name: str) -> Layer:
        found = next((layer for layer in self.layers if layer.name == name), None)
        if found is None:
            known = ", ".join(layer.name for layer in self.layers)
            raise UnknownTarget(f"schedule {self.name!r} has no layer {name!r}"
                                f" (layers: {known})")
        return found


@dataclass(frozen=True, slots=True)
class Shift:
    person: str
    start: datetime  # UTC
    end: datetime  # UTC, excluded
    layer: str
    source: ShiftSource
    note: str = ""  # the override's note


class UnknownTarget(LookupError):
    """A schedule, layer or target that does not exist; the message says which and lists
    what does."""

    def __str__(self) -> str:
        return str(self.args[0])  # LookupError would quote the message like a key


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone; on-call times must be aware")
    return at.astimezone(UTC)


def _handoff(rotation: Rotation, zone: ZoneInfo, k: int) -> datetime:
    """When shift number k starts (shift 0 is members[0]'s first).

    A hand-off time the clock skips in spring (01:30 on London's change day) is read with the
    offset before the change, so it happens at 02:30 summer time; a time the clock shows
    twice in autumn happens the first time (PEP 495, fold=0).
    """
    day = rotation.first_day + timedelta(days=k * rotation.length_days)
    return datetime.combine(day, rotation.handoff, tzinfo=zone).astimezone(UTC)


def rotation_shift(rotation: Rotation, zone: ZoneInfo, layer: str, at: datetime) -> Shift:
    """The rotation's shift at `at`, ignoring overrides."""
    at = _utc(at)
    # The local date gives the shift number to within one; the hand-off time settles it.
    k = (at.astimezone(zone).date() - rotation.first_day).days // rotation.length_days
    while at < _handoff(rotation, zone, k):
        k -= 1
    while at >= _handoff(rotation, zone, k + 1):
        k += 1
    person = rotation.members[k % len(rotation.members)]
    return Shift(person, _handoff(rotation, zone, k), _handoff(rotation, zone, k + 1), layer,
                 ShiftSource.ROTATION)


def on_call(schedule: Schedule, layer: str, at: datetime) -> Shift:
    """Who is on call on `layer` at `at`, and for which span.

    An override wins for its span. Otherwise the rotation's shift applies, cut short by
    overrides that end or start inside it: an override in the middle of a shift splits it in
    two, and the span returned is the piece that contains `at`.
    """
    at = _utc(at)
    rotation = schedule.layer(layer).rotation
    overrides = [o for o in schedule.overrides if o.covers(layer)]
    override = next((o for o in overrides if o.start <= at < o.end), None)
    if override is not None:
        return Shift(override.person, override.start, override.end, layer,
                     ShiftSource.OVERRIDE, override.note)
    shift = rotation_shift(rotation, schedule.time_zone, layer, at)
    start = max([shift.start, *(o.end for o in overrides if shift.start < o.end <= at)])
    end = min([shift.end, *(o.start for o in overrides if at < o.start < shift.end)])
    return Shift(shift.person, start, end, layer, ShiftSource.ROTATION)


def next_shift(schedule: Schedule, shift: Shift) -> Shift:
    """The shift that follows `shift` on its layer: who takes over when it ends."""
    return on_call(schedule, shift.layer, shift.end)


def shifts(schedule: Schedule, layer: str, start: datetime, end: datetime) -> list[Shift]:
    """Every shift on `layer` that overlaps [start, end), in order, each one whole (the first
    may begin before `start`, the last end after `end`)."""
    if _utc(end) <= _utc(start):
        raise ValueError("the period must end after it starts")
    found = [on_call(schedule, layer, start)]
    while found[-1].end < end:
        found.append(next_shift(schedule, found[-1]))
    return found


def parse_target(target: str) -> tuple[str, str | None]:
    """("ops", "secondary") from "schedule:ops/secondary"; ("ops", None) from "schedule:ops"."""
    if not target.startswith(SCHEDULE_TARGET):
        raise UnknownTarget(f"{target!r} is not a schedule target"
                            f" ('schedule:NAME' or 'schedule:NAME/LAYER')")
    name, slash, layer = target.removeprefix(SCHEDULE_TARGET).partition("/")
    if not name or (slash and not layer):
        raise UnknownTarget(f"{target!r} names no schedule or layer"
                            f" ('schedule:NAME' or 'schedule:NAME/LAYER')")
    return name, layer or None


def target_layer(schedules: Sequence[Schedule], target: str) -> tuple[Schedule, Layer]:
    """The schedule and layer a policy target names; without a layer, the schedule's first.

    Raises UnknownTarget, so a policy loader can check its targets before any case opens.
    """
    name, layer = parse_target(target)
    schedule = next((s for s in schedules if s.name == name), None)
    if schedule is None:
        known = ", ".join(s.name for s in schedules) or "none"
        raise UnknownTarget(f"{target!r}: there is no schedule {name!r} (schedules: {known})")
    return schedule, schedule.layer(layer) if layer else schedule.layers[0]


def resolve_target(schedules: Sequence[Schedule], target: str, at: datetime) -> str:
    """The person a "schedule:NAME[/LAYER]" escalation target pages at `at`."""
    schedule, layer = target_layer(schedules, target)
    return on_call(schedule, layer.name, at).person
