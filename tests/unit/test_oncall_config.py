"""oncall.toml: the shipped example loads and means what its comments say; every mistake is
refused with the file, the key and the reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerting.oncall import RotationKind, ShiftSource, Weekday, on_call
from alerting.oncall_config import load_schedules, time_of_day
from watchkeeper.tomlconf import ConfigError

TEMPLATE = Path(__file__).parents[2] / "collector" / "templates" / "oncall.toml"
PEOPLE = {"alice", "bob", "carol", "dan", "erin", "femi"}
LONDON = ZoneInfo("Europe/London")

GOOD = """
[[schedule]]
name = "ops"
time_zone = "Europe/London"

[[schedule.layer]]
name = "primary"
members = ["alice", "bob"]
rotation = "weekly"
handoff = "09:00"
handoff_day = "monday"
start = "2025-01-06"

[[schedule.layer]]
name = "secondary"
members = ["bob", "alice"]
rotation = "daily"
start = "2025-01-06"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "oncall.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_schedules(path, PEOPLE)
    return [str(p) for p in raised.value.problems]


def test_the_shipped_example_is_what_its_comments_say() -> None:
    ops, noc = load_schedules(TEMPLATE, PEOPLE)
    assert (ops.name, ops.time_zone.key, [layer.name for layer in ops.layers]) == (
        "ops-managers", "Europe/London", ["primary", "secondary"])
    primary = ops.layers[0].rotation
    assert (primary.kind, primary.handoff, primary.handoff_day) == (
        RotationKind.WEEKLY, time(9), Weekday.MONDAY)
    daily = noc.layers[0].rotation
    assert (noc.name, daily.kind, daily.handoff) == ("noc", RotationKind.DAILY, time(8))
    # "Carol is on holiday from Christmas Eve: Alice covers the rest of her week."
    eve = datetime(2026, 12, 24, 9, tzinfo=LONDON)
    assert on_call(ops, "primary", eve.replace(hour=8, minute=59)).person == "carol"
    cover = on_call(ops, "primary", eve)
    assert (cover.person, cover.source, cover.end) == (
        "alice", ShiftSource.OVERRIDE, datetime(2026, 12, 28, 9, tzinfo=LONDON))
    assert on_call(ops, "secondary", eve).person == "bob"


def test_toml_dates_and_times_may_be_written_unquoted(tmp_path: Path) -> None:
    unquoted = GOOD.replace('handoff = "09:00"', "handoff = 09:00:00").replace(
        'start = "2025-01-06"', "start = 2025-01-06") + """
[[schedule.override]]
person = "erin"
start = 2025-01-08T12:00:00
end = 2025-01-09T12:00:00Z
"""
    (ops,) = load_schedules(write(tmp_path, unquoted), PEOPLE)
    rotation = ops.layers[0].rotation
    assert (rotation.handoff, rotation.start) == (time(9), date(2025, 1, 6))
    override = ops.overrides[0]
    assert (override.start, override.end, override.layer) == (
        datetime(2025, 1, 8, 12, tzinfo=UTC), datetime(2025, 1, 9, 12, tzinfo=UTC), None)


def test_override_times_without_an_offset_are_on_the_schedules_clock(tmp_path: Path) -> None:
    text = GOOD.replace("Europe/London", "America/New_York") + """
[[schedule.override]]
layer = "primary"
person = "erin"
start = "2025-07-04 09:00"
end = "2025-07-04T17:00+00:00"
note = "Independence Day"
"""
    (ops,) = load_schedules(write(tmp_path, text), PEOPLE)
    override = ops.overrides[0]
    assert override.start == datetime(2025, 7, 4, 13, tzinfo=UTC)  # 09:00 EDT
    assert override.end == datetime(2025, 7, 4, 17, tzinfo=UTC)
    assert override.note == "Independence Day"


def test_overrides_that_touch_end_to_end_are_fine(tmp_path: Path) -> None:
    text = GOOD + "".join(f"""
[[schedule.override]]
layer = "primary"
person = "{who}"
start = "{start}"
end = "{end}"
""" for who, start, end in [("erin", "2025-01-08 12:00", "2025-01-09 12:00"),
                            ("dan", "2025-01-09 12:00", "2025-01-10 12:00")])
    (ops,) = load_schedules(write(tmp_path, text), PEOPLE)
    assert len(ops.overrides) == 2


OVERRIDE = """
[[schedule.override]]
layer = "primary"
person = "erin"
start = "2025-01-08 12:00"
end = "2025-01-09 12:00"
"""

BAD = [
    ("unknown member", GOOD.replace('["alice", "bob"]', '["alice", "zed"]'),
     "schedule[0].layer[0].members", "'zed': no [[person]] named 'zed'"),
    ("bad time zone", GOOD.replace("Europe/London", "Mars/Olympus"),
     "schedule[0].time_zone", "'Mars/Olympus' is not a time zone"),
    ("bad time", GOOD.replace('"09:00"', '"25:00"'),
     "schedule[0].layer[0].handoff", "'25:00' is not a time of day"),
    ("bad minutes", GOOD.replace('"09:00"', '"9:60"'),
     "schedule[0].layer[0].handoff", "'9:60' is not a time of day"),
    ("overlapping overrides", GOOD + OVERRIDE + OVERRIDE.replace("erin", "dan").replace(
        "2025-01-08 12:00", "2025-01-09 11:00"),
     "schedule[0].override[1]", "overlaps schedule[0].override[0] on layer 'primary'"),
    ("all-layer override over a layer's", GOOD + OVERRIDE + OVERRIDE.replace(
        'layer = "primary"\n', ""),
     "schedule[0].override[1]", "overlaps schedule[0].override[0] on layer 'primary'"),
    ("misspelt key", GOOD.replace("handoff_day", "handof_day"),
     "schedule[0].layer[0].handof_day", "unknown key"),
    ("unknown rotation", GOOD.replace('"weekly"', '"fortnightly"'),
     "schedule[0].layer[0].rotation", "'fortnightly' is not allowed; one of: daily, weekly"),
    ("hand-off day on a daily rotation", GOOD.replace('rotation = "daily"',
                                                      'rotation = "daily"\nhandoff_day = "friday"'),
     "schedule[0].layer[1].handoff_day", "only a weekly rotation has a hand-off day"),
    ("bad weekday", GOOD.replace('"monday"', '"mon"'),
     "schedule[0].layer[0].handoff_day", "'mon' is not allowed; one of: monday"),
    ("custom without a length", GOOD.replace('"daily"', '"custom"'),
     "schedule[0].layer[1].shift_days", "a custom rotation needs shift_days"),
    ("length on a weekly rotation", GOOD.replace('"weekly"', '"weekly"\nshift_days = 14'),
     "schedule[0].layer[0].shift_days", "only a custom rotation has shift_days"),
    ("bad start date", GOOD.replace('start = "2025-01-06"', 'start = "06/01/2025"', 1),
     "schedule[0].layer[0].start", "'06/01/2025' is not a date; write YYYY-MM-DD"),
    ("missing start", GOOD.replace('start = "2025-01-06"\n', "", 1),
     "schedule[0].layer[0].start", "is required"),
    ("no members", GOOD.replace('["alice", "bob"]', "[]"),
     "schedule[0].layer[0].members", "at least one member"),
    ("override of an unknown layer", GOOD + OVERRIDE.replace('"primary"', '"tertiary"'),
     "schedule[0].override[0].layer", "'tertiary': this schedule has no such layer"),
    ("override by a stranger", GOOD + OVERRIDE.replace('"erin"', '"mallory"'),
     "schedule[0].override[0].person", "no [[person]] named 'mallory'"),
    ("override ending before it starts", GOOD + OVERRIDE.replace("01-09", "01-07"),
     "schedule[0].override[0].end", "is not after start"),
    ("override with a bad time", GOOD + OVERRIDE.replace("2025-01-08 12:00", "Christmas Eve"),
     "schedule[0].override[0].start", "'Christmas Eve' is not a date and time"),
    ("schedule twice", GOOD + GOOD,
     "schedule[1].name", "schedule 'ops' is defined twice"),
    ("layer twice", GOOD.replace('"secondary"', '"primary"'),
     "schedule[0].layer[1].name", "layer 'primary' is defined twice"),
    ("slash in a name", GOOD.replace('name = "ops"', 'name = "ops/uk"'),
     "schedule[0].name", "'ops/uk': a schedule name is letters, digits"),
    ("no layers", GOOD.split("[[schedule.layer]]")[0],
     "schedule[0].layer", "a schedule needs at least one [[schedule.layer]]"),
]


@pytest.mark.parametrize(("text", "key", "reason"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_a_mistake_is_refused_naming_file_and_key(tmp_path: Path, text: str, key: str,
                                                 reason: str) -> None:
    found = problems(tmp_path, text)
    assert any(p.startswith(f"{tmp_path / 'oncall.toml'}: {key}: ") and reason in p
               for p in found), found


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("Europe/London", "Europe/Londres").replace('"09:00"', '"25:00"') \
        .replace('["bob", "alice"]', '["bob", "zed"]').replace('"daily"', '"hourly"')
    assert [p.split(": ")[1] for p in problems(tmp_path, text)] == [
        "schedule[0].time_zone", "schedule[0].layer[0].handoff", "schedule[0].layer[1].members",
        "schedule[0].layer[1].rotation"]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"oncall\.toml: file not found"):
        load_schedules(tmp_path / "oncall.toml", PEOPLE)


@pytest.mark.parametrize(("text", "expected"), [
    ("09:00", time(9)), ("9:00", time(9)), ("23:59", time(23, 59)), ("00:00:00", time(0)),
    ("25:00", None), ("24:00", None), ("9", None), ("09:00 am", None), ("-1:00", None),
])
def test_a_hand_off_time_is_a_clock_time(text: str, expected: time | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="is not a time of day"):
            time_of_day(text)
    else:
        assert time_of_day(text) == expected
