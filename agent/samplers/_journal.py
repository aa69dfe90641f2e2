"""The systemd journal, read with `journalctl -o json` and resumed from a cursor.

Read thin: `read_lines` runs journalctl and keeps at most a run's worth of its JSON lines.
Parse pure: `parse_lines` turns those lines into `Event`s and the cursor to resume after.

Resuming: journalctl's `--after-cursor=C` with a priority filter skips one entry too many
when C's own entry does not match the filter (see ../shared/notes/platform.md, 2b), which
happens whenever `min_level` is raised between runs or C's entry was vacuumed. So the
query starts *at* the cursor (`--cursor=C`, inclusive) and `parse_lines` drops the entry
that is C itself: whatever the filter, nothing is skipped and nothing is read twice.

Access: the agent user needs the `systemd-journal` group (`adm` on some distributions);
without it journalctl silently shows only the user's own journal, which is empty.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.samplers._command import CommandError, CommandResult, no_answer, not_started
from rules.model import MAX_MESSAGE, Event, EventLevel

log = logging.getLogger(__name__)

LOG = "journal"
KEY = "eventlog.journal"
MAX_ENTRIES = 5000
"""Entries read per run at most; a backlog (a chatty service, an agent that was down)
is worked through over the following runs instead of in one large batch."""
TIMEOUT = 60.0

# journalctl -p NAME selects NAME and everything more severe (syslog(3) priorities).
PRIORITY_FILTER = {EventLevel.CRITICAL: "crit", EventLevel.ERROR: "err",
                   EventLevel.WARNING: "warning", EventLevel.INFO: "info",
                   EventLevel.DEBUG: "debug"}
# 0 emerg, 1 alert, 2 crit -> critical; 3 err; 4 warning; 5 notice, 6 info -> info; 7 debug.
PRIORITY_LEVELS = (EventLevel.CRITICAL,) * 3 + (EventLevel.ERROR, EventLevel.WARNING) + (
    EventLevel.INFO,) * 2 + (EventLevel.DEBUG,)
# sd_journal_get_cursor(3): "s=<seqnum id>;i=<seqnum>;b=<boot id>;m=<monotonic>;t=<realtime>;
# x=<xor hash>", all hexadecimal.
CURSOR = re.compile(r"s=[0-9a-f]+;i=[0-9a-f]+;b=[0-9a-f]+;m=[0-9a-f]+;t=[0-9a-f]+;x=[0-9a-f]+")
# Besides these journalctl always prints __CURSOR, the timestamps and _BOOT_ID.
FIELDS = "MESSAGE,PRIORITY,SYSLOG_IDENTIFIER,_SYSTEMD_UNIT,_COMM"


def journalctl_argv(min_level: EventLevel, *, cursor: str | None = None,
                    since: float | None = None, directory: Path | None = None,
                    program: str = "journalctl") -> list[str]:
    """The query for entries at `min_level` or worse, from `cursor` (inclusive) or, with
    no cursor yet, from `since` (epoch seconds)."""
    # --all: long fields (over 4096 bytes) would otherwise come as null; the message is
    # cut to MAX_MESSAGE on parsing anyway.
    argv = [program, "-o", "json", "--no-pager", "-q", "--all",
            "-p", PRIORITY_FILTER[min_level], f"--output-fields={FIELDS}"]
    if directory is not None:
        argv.append(f"--directory={directory}")
    if cursor is not None:
        argv.append(f"--cursor={cursor}")
    elif since is not None:
        argv.append(f"--since=@{int(since)}")
    return argv


def text_of(value: object) -> str | None:
    """A field's value as text. journalctl(1) JSON: a string; an array of byte values for
    non-UTF-8 or unprintable data; an array of such values for a repeated field; null for
    a field too long to show."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return bytes(value).decode("utf-8", "replace")
        parts = (text_of(v) for v in value)
        return "\n".join(p for p in parts if p)
    return str(value)


def level_of(priority: object) -> EventLevel:
    text = text_of(priority)
    if text is not None and text.strip().isdigit() and int(text) < len(PRIORITY_LEVELS):
        return PRIORITY_LEVELS[int(text)]
    return EventLevel.INFO  # syslog(3)'s default priority for a message that names none


def parse_entry(entry: Mapping[str, Any], now: float) -> Event:
    source = next((t for name in ("SYSLOG_IDENTIFIER", "_SYSTEMD_UNIT", "_COMM")
                   if (t := text_of(entry.get(name)))), "unknown")
    try:
        at = int(text_of(entry.get("__REALTIME_TIMESTAMP")) or "") / 1e6
    except ValueError:
        at = now
    message = text_of(entry.get("MESSAGE"))
    if message is None:
        message = "(no message)"
    return Event(at=at, log=LOG, source=source, event_id=0,
                 level=level_of(entry.get("PRIORITY")), message=message.strip()[:MAX_MESSAGE])


def parse_lines(lines: Iterable[str], cursor: str | None,
                now: float) -> tuple[list[Event], str | None]:
    """Events from journalctl's JSON lines, and the cursor of the last entry read (the
    given `cursor` when there was none). The entry that is `cursor` itself was sent last
    time and is skipped."""
    events: list[Event] = []
    last = cursor
    for line in lines:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            log.debug("journal: skipping a line that is not JSON: %.200s", line)
            continue
        if not isinstance(entry, dict):
            continue
        this = entry.get("__CURSOR")
        if isinstance(this, str):
            if this == cursor:
                continue
            last = this
        events.append(parse_entry(entry, now))
    return events, last


def read_lines(argv: Sequence[str], limit: int, timeout: float = TIMEOUT) -> list[str]:
    """The first `limit` lines `argv` prints. Stops the program once it has them, so a
    large backlog is never held in memory; raises CommandError when it cannot run, fails
    or takes longer than `timeout`."""
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: it cannot fill up and block
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=err)
        except (FileNotFoundError, PermissionError) as exc:
            raise not_started(argv[0], exc) from None

        def stop() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, stop)
        timer.start()
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            with proc.stdout:
                for raw in proc.stdout:
                    lines.append(raw.decode("utf-8", "replace"))
                    if len(lines) >= limit:
                        proc.kill()  # the rest is read next run, from the last cursor
                        break
            proc.wait()
        finally:
            timer.cancel()
        if timed_out.is_set():
            raise no_answer(argv[0], timeout)
        if len(lines) < limit and proc.returncode != 0:
            err.seek(0)
            failed = CommandResult(tuple(argv), proc.returncode, "",
                                   err.read().decode("utf-8", "replace"))
            raise CommandError(f"{argv[0]} failed: {failed.last_error_line()}")
    return lines


class JournalSource:
    """Warning-and-worse journal entries (or whatever `min_level` says) after the cursor.

    Position: {"cursor": "<journal cursor>"}. The first run, with none saved, reads the
    last `first_read` seconds rather than the whole journal.
    """

    key = KEY

    def __init__(self, min_level: EventLevel, first_read: float, *,
                 directory: Path | None = None, max_entries: int = MAX_ENTRIES,
                 program: str = "journalctl") -> None:
        self.min_level = min_level
        self.first_read = first_read
        self.directory = directory
        self.max_entries = max_entries
        self.program = program
        self._told_missing = False

    def read(self, state: Mapping[str, Any] | None,
             now: float) -> tuple[list[Event], dict[str, Any] | None]:
        cursor = state.get("cursor") if state else None
        if cursor is not None and not (isinstance(cursor, str) and CURSOR.fullmatch(cursor)):
            # journalctl would refuse it ("Failed to seek to cursor") on every run.
            log.warning("eventlog: saved journal cursor %.100r is not one; reading the last"
                        " %g s instead", cursor, self.first_read)
            cursor = None
        argv = journalctl_argv(self.min_level, cursor=cursor, since=now - self.first_read,
                               directory=self.directory, program=self.program)
        if self.directory is None and shutil.which(self.program) is None:
            # No systemd on this host (a container, Alpine): no journal to read.
            if not self._told_missing:
                log.info("eventlog: no %s on this host; not reading a journal", self.program)
                self._told_missing = True
            return [], None
        # One more than the cap when resuming: the first line is the cursor's own entry.
        lines = read_lines(argv, self.max_entries + (cursor is not None))
        events, last = parse_lines(lines, cursor, now)
        return events, ({"cursor": last} if last is not None else None)
