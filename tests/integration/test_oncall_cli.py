"""`watchkeeper oncall` against a real collector configuration with the shipped example
schedules beside it: what an engineer reads when asking who is on call."""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.oncall_cli import add_parser

TEMPLATE = Path(__file__).parents[2] / "collector" / "templates" / "oncall.toml"
STAFF = ["alice", "bob", "carol", "dan", "erin", "femi"]


@pytest.fixture
def oncall_dir(config_dir: Path) -> Path:
    """The starter collector.toml with the example's people, and the example oncall.toml."""
    with (config_dir / "collector.toml").open("a") as fh:
        for name in STAFF:
            fh.write(f'\n[[person]]\nname = "{name}"\nemail = "{name}@noc.example"\n')
    shutil.copyfile(TEMPLATE, config_dir / "oncall.toml")
    return config_dir


def oncall(config_dir: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="watchkeeper")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["oncall", "--config", str(config_dir / "collector.toml"), *argv])
    return args.func(args)


def test_the_monday_hand_off_happens_at_nine(oncall_dir: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert oncall(oncall_dir, "--at", "2026-03-30 08:59") == 0
    assert capsys.readouterr().out.splitlines() == [
        "ops-managers (Europe/London) at Mon 2026-03-30 08:59 BST",
        "  primary    carol  until Mon 2026-03-30 09:00 BST, then alice",
        "  secondary  bob    until Mon 2026-03-30 09:00 BST, then carol",
        "noc (Europe/London) at Mon 2026-03-30 08:59 BST",
        "  primary  erin  until Tue 2026-03-31 08:00 BST, then femi",
    ]
    assert oncall(oncall_dir, "--at", "2026-03-30 09:00", "--schedule", "ops-managers") == 0
    assert capsys.readouterr().out.splitlines() == [
        "ops-managers (Europe/London) at Mon 2026-03-30 09:00 BST",
        "  primary    alice  until Mon 2026-04-06 09:00 BST, then bob",
        "  secondary  carol  until Mon 2026-04-06 09:00 BST, then alice",
    ]


def test_json_shows_the_holiday_override_and_who_follows(oncall_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    assert oncall(oncall_dir, "--at", "2026-12-24T10:00+00:00", "--json",
                  "--schedule", "ops-managers") == 0
    (ops,) = json.loads(capsys.readouterr().out)
    primary, secondary = ops["layers"]
    assert ops["at"] == "2026-12-24T10:00:00+00:00"
    assert primary == {
        "layer": "primary", "person": "alice", "source": "override",
        "note": "covering Carol's holiday",
        "since": "2026-12-24T09:00:00+00:00", "until": "2026-12-28T09:00:00+00:00",
        "next": {"person": "alice", "source": "rotation", "note": "",
                 "since": "2026-12-28T09:00:00+00:00", "until": "2027-01-04T09:00:00+00:00"}}
    assert (secondary["person"], secondary["until"], secondary["next"]["person"]) == (
        "bob", "2026-12-28T09:00:00+00:00", "carol")


def test_the_text_marks_an_override(oncall_dir: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert oncall(oncall_dir, "--at", "2026-12-24 09:00", "--schedule", "ops-managers") == 0
    assert ("  primary    alice  until Mon 2026-12-28 09:00 GMT (override: covering Carol's"
            " holiday), then alice") in capsys.readouterr().out


def test_a_time_on_another_clock_is_read_with_tz(oncall_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # 04:00 in New York is 09:00 in London: the ops-managers hand-off has just happened.
    assert oncall(oncall_dir, "--at", "2026-03-30 04:00", "--tz", "America/New_York",
                  "--schedule", "ops-managers", "--json") == 0
    (ops,) = json.loads(capsys.readouterr().out)
    assert ops["at"] == "2026-03-30T09:00:00+01:00"
    assert ops["layers"][0]["person"] == "alice"


def test_without_at_it_answers_for_now(oncall_dir: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.now(UTC)
    assert oncall(oncall_dir, "--json") == 0
    docs = json.loads(capsys.readouterr().out)
    assert [d["schedule"] for d in docs] == ["ops-managers", "noc"]
    at = datetime.fromisoformat(docs[0]["at"])
    assert before <= at <= datetime.now(UTC)
    assert all(datetime.fromisoformat(layer["until"]) > at for d in docs for layer in d["layers"])


def test_an_unknown_schedule_lists_the_known_ones(oncall_dir: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert oncall(oncall_dir, "--schedule", "sales") == 1
    err = capsys.readouterr().err
    assert "no schedule 'sales'" in err and "(schedules: ops-managers, noc)" in err


def test_a_bad_oncall_file_is_refused_naming_file_and_key(oncall_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    path = oncall_dir / "oncall.toml"
    path.write_text(path.read_text().replace('"08:00"', '"25:00"').replace(
        '["dan", "erin", "femi"]', '["dan", "erin", "zed"]'))
    assert oncall(oncall_dir) == 2
    err = capsys.readouterr().err
    assert f"{path}: schedule[1].layer[0].members: 'zed': no [[person]] named 'zed'" in err
    assert f"{path}: schedule[1].layer[0].handoff: '25:00' is not a time of day" in err


def test_a_missing_oncall_file_says_where_it_was_looked_for(
        config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert oncall(config_dir) == 1
    assert f"{config_dir / 'oncall.toml'} does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--at", "tomorrow"], ["--tz", "Mars/Olympus"]])
def test_a_bad_time_or_zone_is_a_usage_error(oncall_dir: Path, argv: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        oncall(oncall_dir, *argv)
    assert done.value.code == 2
    assert "is not a" in capsys.readouterr().err
