"""Who is on call at time T: hand-offs at the wall-clock hour, wrap-around, overrides that
split shifts, daylight-saving weeks, and escalation targets naming a schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from alerting.oncall import (
    Layer,
    Override,
    Rotation,
    RotationKind,
    Schedule,
    ShiftSource,
    UnknownTarget,
    Weekday,
    on_call,
    resolve_target,
    shifts,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)


def local(text: str, zone: ZoneInfo = LONDON) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def weekly(members: tuple[str, ...] = ("alice", "bob", "carol"), start: str = "2025-01-06",
           day: Weekday | None = Weekday.MONDAY, handoff: str = "09:00") -> Rotation:
    return Rotation(members, RotationKind.WEEKLY, time.fromisoformat(handoff),
                    date.fromisoformat(start), day)


def daily(members: tuple[str, ...] = ("dan", "erin", "femi"), start: str = "2025-01-01",
          handoff: str = "08:00") -> Rotation:
    return Rotation(members, RotationKind.DAILY, time.fromisoformat(handoff),
                    date.fromisoformat(start))


def schedule(*rotations: Rotation, zone: ZoneInfo = LONDON,
             overrides: tuple[Override, ...] = ()) -> Schedule:
    names = ("primary", "secondary")
    return Schedule("ops", zone, tuple(Layer(n, r) for n, r in zip(names, rotations,
                                                                  strict=False)), overrides)


OPS = schedule(weekly(), weekly(("carol", "alice", "bob")))


def test_the_weekly_hand_off_is_at_nine_on_monday_not_a_minute_before() -> None:
    before = on_call(OPS, "primary", local("2025-01-13 08:59"))
    after = on_call(OPS, "primary", local("2025-01-13 09:00"))
    assert (before.person, before.start, before.end) == (
        "alice", local("2025-01-06 09:00"), local("2025-01-13 09:00"))
    assert (after.person, after.start, after.end) == (
        "bob", local("2025-01-13 09:00"), local("2025-01-20 09:00"))
    assert after.source is ShiftSource.ROTATION


def test_the_weekly_rotation_wraps_around_to_the_first_member() -> None:
    mondays = [local("2025-01-06 09:00") + timedelta(weeks=n) for n in range(7)]
    assert [on_call(OPS, "primary", m).person for m in mondays] == [
        "alice", "bob", "carol", "alice", "bob", "carol", "alice"]
    assert [on_call(OPS, "secondary", m).person for m in mondays] == [
        "carol", "alice", "bob", "carol", "alice", "bob", "carol"]


def test_the_rotation_also_runs_before_its_start_date() -> None:
    # `start` only fixes whose turn it is: the week before belongs to the last member.
    assert on_call(OPS, "primary", local("2025-01-06 08:59")).person == "carol"
    assert on_call(OPS, "primary", local("2024-12-30 08:59")).person == "bob"


def test_a_start_on_another_weekday_gives_the_first_member_the_next_hand_off_day() -> None:
    ops = schedule(weekly(start="2025-01-08"))  # a Wednesday; hand-offs on Monday
    assert on_call(ops, "primary", local("2025-01-13 09:00")).person == "alice"
    assert on_call(ops, "primary", local("2025-01-10 12:00")).person == "carol"


def test_a_weekly_rotation_without_a_hand_off_day_hands_off_on_its_start_weekday() -> None:
    ops = schedule(weekly(start="2025-01-08", day=None))
    shift = on_call(ops, "primary", local("2025-01-13 09:00"))
    assert (shift.person, shift.start, shift.end) == (
        "alice", local("2025-01-08 09:00"), local("2025-01-15 09:00"))


@pytest.mark.parametrize(("at", "person"), [
    ("2025-01-01 07:59", "femi"), ("2025-01-01 08:00", "dan"), ("2025-01-02 07:59", "dan"),
    ("2025-01-02 08:00", "erin"), ("2025-01-03 08:00", "femi"), ("2025-01-04 08:00", "dan"),
])
def test_the_daily_noc_rotation_hands_off_at_eight(at: str, person: str) -> None:
    assert on_call(schedule(daily()), "primary", local(at)).person == person


def test_a_custom_rotation_hands_off_every_n_days() -> None:
    rotation = Rotation(("a", "b"), RotationKind.CUSTOM, time(9), date(2025, 1, 1),
                        shift_days=3)
    ops = schedule(rotation)
    shift = on_call(ops, "primary", local("2025-01-04 08:59"))
    assert (shift.person, shift.start, shift.end) == (
        "a", local("2025-01-01 09:00"), local("2025-01-04 09:00"))
    assert on_call(ops, "primary", local("2025-01-04 09:00")).person == "b"
    assert on_call(ops, "primary", local("2025-01-07 09:00")).person == "a"


@pytest.mark.parametrize(("zone", "rotation", "during", "hours"), [
    (LONDON, daily(), "2025-03-29 20:00", 23),  # clocks go forward on Sunday 30 March
    (LONDON, daily(), "2025-10-25 20:00", 25),  # and back on Sunday 26 October
    (NEW_YORK, daily(), "2025-03-08 20:00", 23),  # Sunday 9 March
    (NEW_YORK, daily(), "2025-11-01 20:00", 25),  # Sunday 2 November
    (LONDON, weekly(), "2025-03-27 12:00", 7 * 24 - 1),
    (LONDON, weekly(), "2025-10-23 12:00", 7 * 24 + 1),
    (NEW_YORK, weekly(), "2025-03-06 12:00", 7 * 24 - 1),
])
def test_a_shift_across_a_clock_change_is_an_hour_shorter_or_longer(
        zone: ZoneInfo, rotation: Rotation, during: str, hours: int) -> None:
    shift = on_call(schedule(rotation, zone=zone), "primary", local(during, zone))
    assert shift.end - shift.start == hours * HOUR
    for edge in (shift.start, shift.end):
        assert edge.astimezone(zone).time() == rotation.handoff


def test_a_year_of_daily_shifts_is_gapless_with_one_short_and_one_long_day() -> None:
    year = shifts(schedule(daily()), "primary", local("2025-01-01 08:00"),
                  local("2026-01-01 08:00"))
    assert len(year) == 365
    assert all(a.end == b.start for a, b in pairwise(year))
    lengths = [(s.end - s.start) / HOUR for s in year]
    assert sorted(set(lengths)) == [23, 24, 25]
    assert (lengths.count(23), lengths.count(25)) == (1, 1)
    assert [s.person for s in year[:4]] == ["dan", "erin", "femi", "dan"]


@pytest.mark.parametrize(("before", "after"), [
    ("2025-03-09 12:59", "2025-03-09 13:00"),  # 09:00 EDT, the day summer time starts
    ("2025-11-02 13:59", "2025-11-02 14:00"),  # 09:00 EST, the day it ends
])
def test_new_york_hands_off_at_nine_by_the_clock_on_a_change_day(before: str,
                                                                   after: str) -> None:
    ops = schedule(weekly(start="2025-01-05", day=Weekday.SUNDAY), zone=NEW_YORK)
    first, second = on_call(ops, "primary", utc(before)), on_call(ops, "primary", utc(after))
    assert first.person != second.person
    assert second.start == utc(after)
    assert second.start.astimezone(NEW_YORK).strftime("%H:%M") == "09:00"


def test_a_hand_off_time_the_clock_skips_or_repeats_has_one_moment() -> None:
    ops = schedule(daily(handoff="01:30"))
    # 01:30 does not exist on 30 March 2025 in London: read with the winter offset, it is
    # 01:30 UTC (02:30 summer time). On 26 October it happens twice: the first one counts.
    assert on_call(ops, "primary", utc("2025-03-30 01:29")).person == on_call(
        ops, "primary", utc("2025-03-29 01:30")).person
    assert on_call(ops, "primary", utc("2025-03-30 01:30")).start == utc("2025-03-30 01:30")
    assert on_call(ops, "primary", utc("2025-10-26 00:30")).start == utc("2025-10-26 00:30")
    assert on_call(ops, "primary", utc("2025-10-26 01:30")).start == utc("2025-10-26 00:30")


HOLIDAY = Override("dave", local("2025-01-08 12:00"), local("2025-01-09 12:00"), "primary",
                   "alice at the dentist")


def test_an_override_in_the_middle_of_a_shift_splits_it() -> None:
    ops = schedule(weekly(), weekly(("carol", "alice", "bob")), overrides=(HOLIDAY,))
    spans = [(s.person, s.start, s.end, s.source) for s in (
        on_call(ops, "primary", local(t)) for t in (
            "2025-01-08 11:59", "2025-01-08 12:00", "2025-01-09 11:59", "2025-01-09 12:00"))]
    assert spans == [
        ("alice", local("2025-01-06 09:00"), local("2025-01-08 12:00"), ShiftSource.ROTATION),
        ("dave", local("2025-01-08 12:00"), local("2025-01-09 12:00"), ShiftSource.OVERRIDE),
        ("dave", local("2025-01-08 12:00"), local("2025-01-09 12:00"), ShiftSource.OVERRIDE),
        ("alice", local("2025-01-09 12:00"), local("2025-01-13 09:00"), ShiftSource.ROTATION),
    ]
    assert on_call(ops, "primary", local("2025-01-08 12:00")).note == "alice at the dentist"
    assert on_call(ops, "secondary", local("2025-01-08 12:00")).person == "carol"


def test_an_override_across_a_hand_off_shortens_both_shifts() -> None:
    early = Override("dave", local("2025-01-13 06:00"), local("2025-01-13 12:00"), "primary")
    ops = schedule(weekly(), overrides=(early,))
    week = shifts(ops, "primary", local("2025-01-10 00:00"), local("2025-01-14 00:00"))
    assert [(s.person, s.start, s.end) for s in week] == [
        ("alice", local("2025-01-06 09:00"), local("2025-01-13 06:00")),
        ("dave", local("2025-01-13 06:00"), local("2025-01-13 12:00")),
        ("bob", local("2025-01-13 12:00"), local("2025-01-20 09:00")),
    ]


def test_an_override_without_a_layer_covers_every_layer() -> None:
    everyone = Override("dave", local("2025-01-08 12:00"), local("2025-01-09 12:00"))
    ops = schedule(weekly(), weekly(("carol", "alice", "bob")), overrides=(everyone,))
    assert [on_call(ops, layer, local("2025-01-08 13:00")).person
            for layer in ("primary", "secondary")] == ["dave", "dave"]


def test_the_period_list_tells_who_is_next() -> None:
    ops = schedule(weekly(), overrides=(HOLIDAY,))
    week = shifts(ops, "primary", local("2025-01-07 00:00"), local("2025-01-14 00:00"))
    assert [s.person for s in week] == ["alice", "dave", "alice", "bob"]
    assert week[0].start < local("2025-01-07 00:00") and week[-1].end > local("2025-01-14")


def test_the_moment_may_be_given_in_any_zone() -> None:
    in_tokyo = local("2025-01-13 18:00", ZoneInfo("Asia/Tokyo"))  # 09:00 in London
    assert on_call(OPS, "primary", in_tokyo).person == "bob"


def test_an_unknown_layer_is_refused_even_when_an_override_covers_every_layer() -> None:
    everyone = Override("dave", local("2025-01-08 12:00"), local("2025-01-09 12:00"))
    with pytest.raises(UnknownTarget, match="has no layer 'tertiary'"):
        on_call(schedule(weekly(), overrides=(everyone,)), "tertiary", local("2025-01-08 13:00"))


def test_a_moment_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        on_call(OPS, "primary", datetime(2025, 1, 13, 9))


def test_an_override_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="end after"):
        Override("dave", local("2025-01-09 12:00"), local("2025-01-09 12:00"))


SCHEDULES = (OPS, Schedule("noc", LONDON, (Layer("primary", daily()),)))


@pytest.mark.parametrize(("target", "person"), [
    ("schedule:ops", "bob"), ("schedule:ops/primary", "bob"),
    ("schedule:ops/secondary", "alice"), ("schedule:noc", "dan"),
])
def test_an_escalation_target_names_a_schedule_and_layer(target: str, person: str) -> None:
    assert resolve_target(SCHEDULES, target, local("2025-01-13 09:00")) == person


@pytest.mark.parametrize(("target", "message"), [
    ("schedule:nope", "'schedule:nope': there is no schedule 'nope' (schedules: ops, noc)"),
    ("schedule:ops/tertiary",
     "schedule 'ops' has no layer 'tertiary' (layers: primary, secondary)"),
    ("person:alice", "'person:alice' is not a schedule target"),
    ("schedule:", "names no schedule or layer"),
    ("schedule:ops/", "names no schedule or layer"),
])
def test_an_unknown_target_says_what_exists(target: str, message: str) -> None:
    with pytest.raises(UnknownTarget) as raised:
        resolve_target(SCHEDULES, target, local("2025-01-13 09:00"))
    assert message in str(raised.value)
