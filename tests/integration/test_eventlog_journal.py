"""The eventlog sampler on a real journal, read by the real journalctl.

The journal files are built from journal export format (systemd.io/JOURNAL_EXPORT_FORMATS)
by `systemd-journal-remote --output=DIR/NAME.journal EXPORT`, then read through the
sampler's `journal_directory` setting exactly as it reads a host's journal.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from agent.samplers import Checkpoint, SamplerContext, build
from agent.samplers._command import CommandError
from agent.samplers._journal import KEY, JournalSource
from agent.samplers.eventlog import EventLogSampler
from agent.state import AgentState
from rules.model import Event, EventLevel
from watchkeeper.tomlconf import Table

NOW = 1_795_300_000.0
BOOT = "6f1d5a3c2b8e4f0a9c7d1e2f3a4b5c6d"
JOURNAL_REMOTE = next((p for p in (shutil.which("systemd-journal-remote"),
                                   "/lib/systemd/systemd-journal-remote",
                                   "/usr/lib/systemd/systemd-journal-remote")
                       if p and Path(p).is_file()), None)

pytestmark = [
    pytest.mark.skipif(JOURNAL_REMOTE is None, reason="systemd-journal-remote is not installed"
                       " (apt package systemd-journal-remote)"),
    pytest.mark.skipif(shutil.which("journalctl") is None,
                       reason="journalctl is not installed (apt package systemd)"),
]


def export_field(name: str, value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    try:
        printable = data.decode().isprintable()
    except UnicodeDecodeError:
        printable = False
    if printable:
        return name.encode() + b"=" + data + b"\n"
    # Binary form: the name, a newline, the length as 64-bit little endian, the data.
    return name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"


def export_entry(at: float, priority: int, ident: str, message: str | bytes) -> bytes:
    usec = round(at * 1_000_000)
    return b"".join([
        export_field("__REALTIME_TIMESTAMP", str(usec)),
        export_field("__MONOTONIC_TIMESTAMP", str(usec - 1_795_000_000_000_000)),
        export_field("_BOOT_ID", BOOT),
        export_field("_HOSTNAME", "srv1"),
        export_field("PRIORITY", str(priority)),
        export_field("SYSLOG_IDENTIFIER", ident),
        export_field("MESSAGE", message),
    ]) + b"\n"  # a blank line ends the entry


def write_journal(directory: Path, name: str,
                  entries: list[tuple[float, int, str, str | bytes]]) -> None:
    export = directory.parent / f"{name}.export"
    export.write_bytes(b"".join(export_entry(*e) for e in entries))
    assert JOURNAL_REMOTE is not None
    subprocess.run([JOURNAL_REMOTE, f"--output={directory / name}.journal", str(export)],
                   check=True, capture_output=True, timeout=30)


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "journal"
    directory.mkdir()
    return directory


def sampler_for(journal_dir: Path, state_dir: Path, **extra: object) -> EventLogSampler:
    t = Table({"journal_directory": str(journal_dir), **extra}, "agent.toml", "sampler.eventlog")
    settings = EventLogSampler.configure(t)
    assert t.problems == []
    [sampler] = build(["eventlog"], {"eventlog": settings}, SamplerContext(state_dir, "srv1"))
    assert isinstance(sampler, EventLogSampler)
    return sampler


def split(observations: list) -> tuple[list[Event], list[Checkpoint]]:
    return ([o for o in observations if isinstance(o, Event)],
            [o for o in observations if isinstance(o, Checkpoint)])


def test_first_run_then_restart_then_new_entries(journal_dir: Path, tmp_path: Path) -> None:
    write_journal(journal_dir, "first", [
        (NOW - 7200, 3, "old-job", "an error from before first_read"),
        (NOW - 600, 6, "cron", "session opened"),
        (NOW - 500, 4, "kernel", "EXT4-fs warning (device sdb1): ext4_dx_add_entry: full"),
        (NOW - 400, 3, "backup", b"backup of /srv/d\xe9p\xf4t failed"),
        (NOW - 300, 4, "dcom-noise", "chatty warning nobody wants"),
        (NOW - 200, 2, "smartd", "Device: /dev/sda, 8 Currently unreadable sectors"),
        (NOW - 100, 5, "sudo", "admin : COMMAND=/usr/bin/apt-get upgrade"),
    ])
    state = tmp_path / "state"
    ignore = {"ignore": [{"source": "dcom-noise"}]}

    first = sampler_for(journal_dir, state, **ignore)
    events, checkpoints = split(first.collect(NOW))
    assert [(e.source, e.level, e.message) for e in events] == [
        ("kernel", EventLevel.WARNING, "EXT4-fs warning (device sdb1): ext4_dx_add_entry: full"),
        ("backup", EventLevel.ERROR, "backup of /srv/d\ufffdp\ufffdt failed"),
        ("smartd", EventLevel.CRITICAL, "Device: /dev/sda, 8 Currently unreadable sectors"),
    ]
    assert [e.at for e in events] == [NOW - 500, NOW - 400, NOW - 200]
    assert {e.log for e in events} == {"journal"}
    [checkpoint] = checkpoints
    assert checkpoint.key == KEY and checkpoint.state["cursor"].startswith("s=")

    # The agent saves the checkpoint after spooling; a restarted agent sends nothing twice.
    AgentState(state).save_checkpoints(checkpoints)
    restarted = sampler_for(journal_dir, state, **ignore)
    events, checkpoints = split(restarted.collect(NOW + 30))
    assert events == []
    assert checkpoints == [checkpoint]

    # New entries land in another journal file of the directory (as after a rotation).
    write_journal(journal_dir, "second", [
        (NOW + 40, 6, "cron", "session closed"),
        (NOW + 50, 3, "nginx", "bind() to 0.0.0.0:443 failed (98: Address already in use)"),
        (NOW + 55, 4, "dcom-noise", "chatty again"),
    ])
    events, checkpoints = split(restarted.collect(NOW + 60))
    assert [(e.source, e.message) for e in events] == [
        ("nginx", "bind() to 0.0.0.0:443 failed (98: Address already in use)")]
    assert checkpoints[0].state != checkpoint.state
    assert split(restarted.collect(NOW + 90))[0] == []


def test_backlog_is_read_over_several_runs_without_gaps(journal_dir: Path) -> None:
    write_journal(journal_dir, "busy", [(NOW - 300 + i, 3, "app", f"error {i}")
                                        for i in range(23)])
    source = JournalSource(EventLevel.WARNING, 3600.0, directory=journal_dir, max_entries=5)
    got, state, runs = [], None, 0
    while True:
        events, state = source.read(state, NOW)
        runs += 1
        if not events:
            break
        assert len(events) <= 5
        got += [e.message for e in events]
    assert got == [f"error {i}" for i in range(23)]
    assert runs == 6  # 5 + 5 + 5 + 5 + 3, then one that finds nothing


def test_raising_min_level_between_runs_skips_nothing(journal_dir: Path) -> None:
    # The journalctl gotcha (notes 2b): --after-cursor with a cursor whose entry does not
    # match the new filter drops the first entry that does.
    write_journal(journal_dir, "mixed", [(NOW - 30, 4, "a", "a warning"),
                                         (NOW - 20, 3, "b", "the error after it")])
    warnings = JournalSource(EventLevel.WARNING, 3600.0, directory=journal_dir, max_entries=1)
    [seen], state = warnings.read(None, NOW)
    assert seen.message == "a warning"
    errors = JournalSource(EventLevel.ERROR, 3600.0, directory=journal_dir)
    events, _ = errors.read(state, NOW)
    assert [e.message for e in events] == ["the error after it"]


def test_unreadable_journal_directory_fails_with_the_reason(tmp_path: Path) -> None:
    source = JournalSource(EventLevel.WARNING, 3600.0, directory=tmp_path / "gone")
    with pytest.raises(CommandError, match=r"journalctl failed: .*gone"):
        source.read(None, NOW)


def test_damaged_cursor_falls_back_to_the_first_read_window(journal_dir: Path) -> None:
    write_journal(journal_dir, "j", [(NOW - 7200, 3, "a", "too old"),
                                     (NOW - 60, 3, "b", "recent")])
    source = JournalSource(EventLevel.WARNING, 3600.0, directory=journal_dir)
    events, state = source.read({"cursor": "garbage"}, NOW)
    assert [e.message for e in events] == ["recent"]
    assert state is not None and state["cursor"].startswith("s=")
