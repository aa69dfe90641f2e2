"""Journal entries from journalctl's JSON: levels, sources, odd encodings, the cursor."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agent.samplers._command import CommandError
from agent.samplers._journal import (
    JournalSource,
    journalctl_argv,
    level_of,
    parse_entry,
    parse_lines,
    read_lines,
    text_of,
)
from rules.model import MAX_MESSAGE, EventLevel

FIXTURES = Path(__file__).parent.parent / "fixtures" / "eventlog"
NOW = 1_795_400_000.0
LINES = (FIXTURES / "journal.jsonl").read_text().splitlines()


def entries() -> list[dict]:
    return [json.loads(line) for line in LINES]


# --- one entry --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("priority", "level"),
    [("0", EventLevel.CRITICAL), ("1", EventLevel.CRITICAL), ("2", EventLevel.CRITICAL),
     ("3", EventLevel.ERROR), ("4", EventLevel.WARNING), ("5", EventLevel.INFO),
     ("6", EventLevel.INFO), ("7", EventLevel.DEBUG),
     # Not a syslog priority: treated as syslog's default, info.
     ("8", EventLevel.INFO), ("x", EventLevel.INFO), (None, EventLevel.INFO)],
)
def test_priority_maps_to_level(priority: str | None, level: EventLevel) -> None:
    assert level_of(priority) is level


def test_recorded_entries_become_events() -> None:
    events, _ = parse_lines(LINES, None, NOW)
    assert [(e.level, e.source) for e in events] == [
        (EventLevel.INFO, "systemd"),
        (EventLevel.WARNING, "kernel"),
        (EventLevel.ERROR, "restic-backup.sh"),     # SYSLOG_IDENTIFIER before the unit
        (EventLevel.CRITICAL, "smartd.service"),    # no identifier: the unit
        (EventLevel.ERROR, "backupd"),              # neither: the command name
        (EventLevel.CRITICAL, "postgres"),
        (EventLevel.WARNING, "java"),
        (EventLevel.DEBUG, "dhclient"),
        (EventLevel.INFO, "sudo"),
        (EventLevel.WARNING, "nginx\nnginx-worker"),  # a repeated field: both values
    ]
    assert {e.log for e in events} == {"journal"}
    assert {e.event_id for e in events} == {0}


def test_time_is_the_realtime_timestamp() -> None:
    events, _ = parse_lines(LINES, None, NOW)
    assert events[0].at == 1_795_300_000.0
    assert events[1].at == 1_795_300_001.5


def test_message_given_as_bytes_is_decoded_with_replacement() -> None:
    events, _ = parse_lines(LINES, None, NOW)
    assert isinstance(entries()[4]["MESSAGE"], list)  # the fixture really has the byte form
    assert events[4].message == "backup of /srv/d\ufffdp\ufffdt failed: permission denied"


def test_message_left_out_by_journalctl_is_not_an_error() -> None:
    events, _ = parse_lines(LINES, None, NOW)
    assert entries()[6]["MESSAGE"] is None
    assert events[6].message == "(no message)"


def test_multiline_message_is_kept_and_long_ones_are_cut() -> None:
    events, _ = parse_lines(LINES, None, NOW)
    assert events[5].message.splitlines()[1] == "server process (PID 812) was terminated"
    long = parse_entry({"MESSAGE": "x" * 10_000, "PRIORITY": "3"}, NOW)
    assert len(long.message) == MAX_MESSAGE


def test_entry_without_timestamp_or_source_still_counts() -> None:
    e = parse_entry({"PRIORITY": "3", "MESSAGE": "disk gone"}, NOW)
    assert (e.at, e.source, e.message) == (NOW, "unknown", "disk gone")


@pytest.mark.parametrize(
    ("value", "text"),
    [("plain", "plain"), (None, None), ([104, 105], "hi"), (["a", [98]], "a\nb"), (5, "5")],
)
def test_field_values_in_every_json_shape(value: object, text: str | None) -> None:
    assert text_of(value) == text


# --- the cursor -------------------------------------------------------------------------

def test_last_cursor_is_the_last_entry_read() -> None:
    _, cursor = parse_lines(LINES, None, NOW)
    assert cursor == entries()[-1]["__CURSOR"]


def test_the_entry_at_the_saved_cursor_is_not_sent_again() -> None:
    # journalctl --cursor=C starts at C itself: that entry went out last run.
    saved = entries()[2]["__CURSOR"]
    events, cursor = parse_lines(LINES[2:5], saved, NOW)
    assert [e.source for e in events] == ["smartd.service", "backupd"]
    assert cursor == entries()[4]["__CURSOR"]


def test_no_new_entries_keeps_the_cursor() -> None:
    saved = entries()[-1]["__CURSOR"]
    assert parse_lines(LINES[-1:], saved, NOW) == ([], saved)
    assert parse_lines([], saved, NOW) == ([], saved)


def test_lines_that_are_not_entries_are_skipped() -> None:
    events, cursor = parse_lines(["", "not json", "[1, 2]", LINES[1]], None, NOW)
    assert [e.source for e in events] == ["kernel"]
    assert cursor == entries()[1]["__CURSOR"]


# --- the query --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("level", "name"),
    [(EventLevel.CRITICAL, "crit"), (EventLevel.ERROR, "err"), (EventLevel.WARNING, "warning"),
     (EventLevel.INFO, "info"), (EventLevel.DEBUG, "debug")],
)
def test_query_filters_by_priority(level: EventLevel, name: str) -> None:
    argv = journalctl_argv(level)
    assert argv[argv.index("-p") + 1] == name


def test_query_resumes_at_the_cursor_else_from_since() -> None:
    first = journalctl_argv(EventLevel.WARNING, since=NOW - 3600)
    later = journalctl_argv(EventLevel.WARNING, cursor="s=1;i=2", since=NOW - 3600)
    assert f"--since=@{int(NOW) - 3600}" in first
    assert "--cursor=s=1;i=2" in later
    assert not any(a.startswith("--since") for a in later)
    assert not any(a.startswith("--after-cursor") for a in later)


def test_query_reads_a_directory_when_given() -> None:
    argv = journalctl_argv(EventLevel.WARNING, directory=Path("/srv/journal"))
    assert "--directory=/srv/journal" in argv
    assert not any(a.startswith("--directory") for a in journalctl_argv(EventLevel.WARNING))


# --- the thin read (with real programs) -------------------------------------------------

def test_read_stops_after_the_limit() -> None:
    lines = read_lines([sys.executable, "-c", "import itertools\nfor i in itertools.count():"
                        " print(i, flush=True)"], limit=5)
    assert [line.strip() for line in lines] == ["0", "1", "2", "3", "4"]


def test_read_failure_says_why() -> None:
    with pytest.raises(CommandError, match="Failed to open /nonexistent"):
        read_lines([sys.executable, "-c", "import sys; sys.exit"
                    "('Failed to open /nonexistent: No such file or directory')"], limit=10)


def test_read_missing_program() -> None:
    with pytest.raises(CommandError, match="program not found"):
        read_lines(["/nonexistent/journalctl"], limit=10)


def test_read_timeout() -> None:
    with pytest.raises(CommandError, match=r"no answer within 0\.2 s"):
        read_lines([sys.executable, "-c", "import time; time.sleep(5)"], limit=10, timeout=0.2)


def test_host_without_journalctl_has_no_journal_to_read() -> None:
    source = JournalSource(EventLevel.WARNING, 3600.0, program="no-such-journalctl")
    assert source.read(None, NOW) == ([], None)


def test_journal_directory_without_journalctl_is_a_failure(tmp_path: Path) -> None:
    source = JournalSource(EventLevel.WARNING, 3600.0, directory=tmp_path,
                           program="no-such-journalctl")
    with pytest.raises(CommandError, match="program not found"):
        source.read(None, NOW)
