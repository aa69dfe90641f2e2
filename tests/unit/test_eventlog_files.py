"""Syslog-style files: parsing the line formats, and tailing one file across rotation."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.samplers import _logfiles
from agent.samplers._logfiles import (
    FilePosition,
    FileSource,
    Tail,
    level_from_words,
    parse_line,
)
from rules.model import EventLevel

FIXTURES = Path(__file__).parent.parent / "fixtures" / "eventlog"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC).timestamp()


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def parsed(name: str, now: float = NOW) -> list:
    lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
    return [parse_line(line, now, "/var/log/" + name, UTC) for line in lines]


# --- line formats -----------------------------------------------------------------------

def test_traditional_format() -> None:
    events = parsed("syslog_rfc3164.log")
    assert [(e.at, e.source, e.level) for e in events] == [
        (utc(2026, 11, 21, 23, 17, 27), "systemd", EventLevel.INFO),
        (utc(2026, 11, 21, 23, 17, 30), "kernel", EventLevel.ERROR),
        (utc(2026, 11, 21, 23, 18, 1), "CRON", EventLevel.INFO),
        (utc(2026, 11, 21, 23, 18, 5), "backup.sh", EventLevel.ERROR),
        (utc(2026, 11, 21, 23, 19, 0), "smartd", EventLevel.CRITICAL),
        (utc(2026, 11, 2, 3, 4, 5), "sshd", EventLevel.ERROR),  # "failed" beats "warning"
        (utc(2026, 11, 21, 23, 20, 12), "kernel", EventLevel.CRITICAL),
    ]
    assert events[3].message == \
        "rsync failed with exit code 23 (some files could not be transferred)"
    assert {e.log for e in events} == {"/var/log/syslog_rfc3164.log"}
    assert {e.event_id for e in events} == {0}


def test_iso_format_of_debian_rsyslog() -> None:
    events = parsed("syslog_iso.log")
    assert [(e.at, e.source, e.level) for e in events] == [
        (utc(2026, 11, 21, 23, 17, 27) + 0.123456, "systemd", EventLevel.INFO),
        (utc(2026, 11, 21, 23, 17, 30) + 0.000812, "kernel", EventLevel.ERROR),
        (utc(2026, 11, 21, 22, 18, 5) + 0.441001, "postfix/smtp", EventLevel.WARNING),
        (utc(2026, 11, 21, 23, 19, 44) + 0.9, "CRON", EventLevel.INFO),
    ]
    assert events[2].message.startswith("warning: connect to transport")


def test_rfc5424_uses_the_priority_it_carries() -> None:
    events = parsed("syslog_rfc5424.log")
    assert [(e.at, e.source, e.level, e.message) for e in events] == [
        (utc(2026, 11, 21, 23, 20, 0) + 0.003, "myapp", EventLevel.ERROR,
         "disk quota exceeded for /srv/share"),
        (utc(2026, 11, 21, 23, 20, 1), "syslog_rfc5424.log", EventLevel.WARNING,
         "queue is 80% full"),
        # The words say "error"; the priority (local7.info) says otherwise, and wins.
        (utc(2026, 11, 21, 23, 20, 2), "nginx", EventLevel.INFO,
         "an error page was served (an info-level line: its priority says so)"),
    ]


def test_traditional_line_with_a_priority_prefix() -> None:
    e = parse_line("<11>Nov 21 23:17:27 srv1 app[1]: all good", NOW, "/var/log/x", UTC)
    assert e is not None and e.level is EventLevel.ERROR  # user.err


def test_traditional_stamp_in_december_read_in_january_is_last_year() -> None:
    now = utc(2027, 1, 1, 0, 5)
    e = parse_line("Dec 31 23:59:59 srv1 ntpd[600]: time reset failed", now, "/var/log/x", UTC)
    assert e is not None and e.at == utc(2026, 12, 31, 23, 59, 59)


def test_traditional_stamp_is_read_in_the_given_zone() -> None:
    cet = timezone(timedelta(hours=1))
    e = parse_line("Nov 21 23:17:27 srv1 app: error", NOW, "/var/log/x", cet)
    assert e is not None and e.at == utc(2026, 11, 21, 22, 17, 27)


def test_line_in_no_known_format_is_kept_whole() -> None:
    e = parse_line("   continuation of a multi-line error", NOW, "/var/log/app.log", UTC)
    assert e is not None
    assert (e.at, e.source, e.level) == (NOW, "app.log", EventLevel.ERROR)
    assert e.message == "continuation of a multi-line error"


def test_blank_line_is_nothing() -> None:
    assert parse_line("  ", NOW, "/var/log/x", UTC) is None


@pytest.mark.parametrize(
    ("message", "level"),
    [("kernel panic - not syncing", EventLevel.CRITICAL),
     ("CRITICAL: temperature above threshold", EventLevel.CRITICAL),
     ("emergency shutdown", EventLevel.CRITICAL),
     ("Connection failed", EventLevel.ERROR), ("I/O error on dev sda", EventLevel.ERROR),
     ("err: no route", EventLevel.ERROR), ("Failure to resolve", EventLevel.ERROR),
     ("WARNING: low disk", EventLevel.WARNING), ("warn: slow", EventLevel.WARNING),
     ("Started nightly job", EventLevel.INFO),
     # Whole words only: these merely contain the letters.
     ("terror movies queued", EventLevel.INFO), ("forewarned users", EventLevel.INFO),
     ("alertmanager reloaded", EventLevel.INFO)],
)
def test_level_from_words(message: str, level: EventLevel) -> None:
    assert level_from_words(message) is level


# --- tailing ----------------------------------------------------------------------------

def write(path: Path, text: str | bytes, mode: str = "a") -> None:
    data = text.encode() if isinstance(text, str) else text
    with open(path, mode + "b") as f:
        f.write(data)


def drain(path: Path, position: FilePosition | None,
          max_bytes: int = 1 << 20) -> tuple[list[str], FilePosition | None]:
    tail = Tail(str(path), position, max_bytes)
    return list(tail.lines()), tail.position


def test_first_run_starts_at_the_end(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "old 1\nold 2\n")
    lines, pos = drain(log, None)
    assert lines == []
    write(log, "new 1\n")
    assert drain(log, pos)[0] == ["new 1"]


def test_file_missing_on_first_run_is_read_whole_when_it_appears(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    lines, pos = drain(log, None)
    assert lines == []
    lines, pos = drain(log, pos)
    assert lines == []
    write(log, "first\n")
    assert drain(log, pos)[0] == ["first"]


def test_partial_line_waits_for_its_end(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "")
    _, pos = drain(log, None)
    write(log, "one\ntw")
    lines, pos = drain(log, pos)
    assert lines == ["one"]
    write(log, "o\n")
    assert drain(log, pos)[0] == ["two"]


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "")
    _, pos = drain(log, None)
    write(log, b"caf\xe9 error\r\n")
    assert drain(log, pos)[0] == ["caf\ufffd error"]


def test_over_long_line_is_cut_and_the_next_line_is_whole(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "")
    _, pos = drain(log, None)
    write(log, "x" * 200_000 + "\nnext\n")
    lines, _ = drain(log, pos)
    assert [len(lines[0]), lines[1]] == [64 * 1024, "next"]


def test_byte_budget_stops_at_a_line_and_the_rest_comes_next(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "")
    _, pos = drain(log, None)
    write(log, "".join(f"line {i:03}\n" for i in range(100)))  # 9 bytes each
    got: list[str] = []
    while True:
        lines, pos = drain(log, pos, max_bytes=90)
        if not lines:
            break
        got += lines
    assert got == [f"line {i:03}" for i in range(100)]


def test_create_rotation_drains_the_old_file_first(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "a\n")
    _, pos = drain(log, None)
    write(log, "b\nc")          # "c" has no newline yet when the file is rotated
    os.rename(log, tmp_path / "syslog.1")
    write(log, "d\n", "w")
    lines, pos = drain(log, pos)
    assert lines == ["b", "c", "d"]
    write(log, "e\n")
    assert drain(log, pos)[0] == ["e"]


def test_rotation_with_dateext_and_compressed_neighbours(tmp_path: Path) -> None:
    log = tmp_path / "messages"
    write(log, "")
    _, pos = drain(log, None)
    write(log, "before\n")
    write(tmp_path / "messages-20261120.gz", b"\x1f\x8b not text")
    os.rename(log, tmp_path / "messages-20261121")
    write(log, "after\n", "w")
    assert drain(log, pos)[0] == ["before", "after"]


def test_rotated_file_gone_reads_the_new_file_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "")
    _, pos = drain(log, None)
    write(log, "compressed away\n")
    os.remove(log)  # as if logrotate compressed it without delaycompress
    write(log, "new\n", "w")
    assert drain(log, pos)[0] == ["new"]


def test_copytruncate_reads_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "one\ntwo\nthree\n")
    _, pos = drain(log, None)
    write(log, "", "w")  # truncated in place
    write(log, "four\n")
    assert drain(log, pos)[0] == ["four"]


def test_copytruncate_reads_the_rest_from_the_copy_first(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(tmp_path / "syslog.1", "an older generation\nwith other lines\n")
    write(log, "one\n")
    _, pos = drain(log, None)
    write(log, "two\nthree\n")
    write(tmp_path / "syslog.1", log.read_bytes(), "w")  # the copy...
    write(log, "", "w")                                  # ...then the truncation
    write(log, "four\n")
    assert drain(log, pos)[0] == ["two", "three", "four"]


def test_copy_is_drained_over_several_runs_when_the_budget_is_small(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "head line\n")
    _, pos = drain(log, None)
    write(log, "".join(f"line {i:03}\n" for i in range(20)))
    write(tmp_path / "syslog.2", log.read_bytes(), "w")
    write(log, "", "w")
    write(log, "after\n")
    got: list[str] = []
    while True:
        lines, pos = drain(log, pos, max_bytes=50)
        if not lines:
            break
        got += lines
    assert got == [f"line {i:03}" for i in range(20)] + ["after"]


def test_copytruncate_that_grew_past_the_old_offset_is_noticed(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "short\n")
    _, pos = drain(log, None)
    write(log, "a longer first line after truncation\nsecond\n", "w")
    assert drain(log, pos)[0] == ["a longer first line after truncation", "second"]


def test_file_that_disappears_keeps_the_position(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "x\n")
    _, pos = drain(log, None)
    os.rename(log, tmp_path / "elsewhere")
    lines, after = drain(log, pos)
    assert (lines, after) == ([], pos)


@pytest.mark.parametrize("state", [None, {}, {"dev": "x"}, {"dev": 1, "ino": 2},
                                   {"dev": 1, "ino": 2, "offset": -5}])
def test_unreadable_saved_position_means_a_first_run(state: dict | None) -> None:
    assert FilePosition.from_state(state) is None


def test_position_round_trips_through_its_state() -> None:
    pos = FilePosition(2049, 131_075, 4096, 256, "0123456789abcdef")
    assert FilePosition.from_state(pos.to_state()) == pos


# --- the source -------------------------------------------------------------------------

def test_source_keeps_warnings_and_worse(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "")
    source = FileSource(str(log), "eventlog.file.syslog", EventLevel.WARNING, tz=UTC)
    _, state = source.read(None, NOW)
    write(log, "Nov 21 23:00:00 srv1 app: started\nNov 21 23:00:01 srv1 app: disk failed\n")
    events, state = source.read(state, NOW)
    assert [e.message for e in events] == ["disk failed"]
    assert state is not None and state["offset"] == log.stat().st_size


def test_source_stops_at_its_entry_cap_and_resumes(tmp_path: Path) -> None:
    log = tmp_path / "syslog"
    write(log, "")
    source = FileSource(str(log), "k", EventLevel.WARNING, max_entries=2, tz=UTC)
    _, state = source.read(None, NOW)
    write(log, "".join(f"Nov 21 23:00:0{i} srv1 app: error {i}\n" for i in range(5)))
    got = []
    for _ in range(4):
        events, state = source.read(state, NOW)
        got += [e.message for e in events]
    assert got == [f"error {i}" for i in range(5)]


def test_unreadable_file_says_what_access_is_needed(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Raised by a stand-in `open`: tests may run as root, who can read any file.
    def refuse(path: str, mode: str = "r") -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(_logfiles, "open", refuse, raising=False)
    source = FileSource(str(tmp_path / "messages"), "k", EventLevel.WARNING)
    with pytest.raises(PermissionError, match="messages: permission denied; the agent's user"
                       " needs read access"):
        source.read(None, NOW)
