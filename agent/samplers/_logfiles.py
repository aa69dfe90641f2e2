"""Syslog-style text files (/var/log/syslog, /var/log/messages), tailed across rotation.

Read thin: `Tail` yields the complete lines appended since a saved position, following
the file through logrotate. Parse pure: `parse_line` turns one line into an `Event`.

Rotation (what logtail2 does, see ../shared/notes/platform.md, 2c). The position is the
file's identity (st_dev, st_ino), an offset, and a fingerprint of its first bytes:
- same identity, file at least as long as the offset, same first bytes: read on;
- same identity but shorter, or different first bytes: `copytruncate` emptied it (and it
  may have grown again since). The lines written between the last poll and the copy are
  in the copy: the rotated file that starts with the same bytes and reaches the offset.
  The rest of the copy is read first, then the file from its start;
- different identity: `create` rotation. The old file is found by its identity; the rest
  of it is read first, then the new file from the start.
Rotated files are looked for as `path.1`, `path.*` and `path-*` (dateext), skipping
compressed ones. A line without its newline yet stays for the next poll. Not seen: lines
written to the old file after it was drained (between logrotate's rename and the daemon
reopening its log, a few milliseconds), lines rotated straight into a compressed file
(logrotate without `delaycompress`), and, with copytruncate, lines written to a file that
was empty at the last poll (an empty file has no first bytes to recognise its copy by).
The very first run starts at the end: history is not sent.

Levels: a line carrying its syslog priority (`<PRI>`, as RFC 5424 files and some rsyslog
templates have) gets the level that priority means. Most files do not carry it, so the
level then comes from words in the message, a heuristic, not the sender's own level:
"crit*", "emerg*", "alert", "panic*" -> critical; "err", "error*", "fail*" -> error;
"warn*" -> warning; anything else -> info. With the default min_level (warning) only lines
with such words are sent; the journal, where there is one, has the real priorities.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, BinaryIO

from agent.samplers._journal import PRIORITY_LEVELS
from agent.samplers._localtime import MONTHS, local_timestamp
from rules.model import MAX_MESSAGE, Event, EventLevel

log = logging.getLogger(__name__)

HEAD = 256
"""Bytes at the start of the file whose fingerprint tells a truncated file from a grown one."""
MAX_LINE = 64 * 1024
"""A longer line is cut here (the rest of it is skipped)."""
MAX_BYTES = 4 * 1024 * 1024
"""Bytes read per file per run at most (about a quarter of a second's work); a backlog is
worked through over later runs."""
MAX_ENTRIES = 5000
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z")


# --- position and tailing ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FilePosition:
    dev: int
    ino: int
    offset: int
    head_len: int = 0
    head: str = ""

    def to_state(self) -> dict[str, Any]:
        return {"dev": self.dev, "ino": self.ino, "offset": self.offset,
                "head_len": self.head_len, "head": self.head}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> FilePosition | None:
        if not state:
            return None
        try:
            pos = cls(int(state["dev"]), int(state["ino"]), int(state["offset"]),
                      int(state.get("head_len", 0)), str(state.get("head", "")))
        except (KeyError, TypeError, ValueError):
            return None  # unreadable: start again as on a first run
        return pos if pos.offset >= 0 and 0 <= pos.head_len <= HEAD else None


NOWHERE = FilePosition(0, 0, 0)
"""The file did not exist on the first run: whatever file appears later is read whole."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _position(head: bytes, dev: int, ino: int, offset: int) -> FilePosition:
    """The position `offset` in a file starting with `head`: only bytes before the offset
    are fingerprinted, as only those have been read and cannot change (logs only grow)."""
    n = min(len(head), offset)
    return FilePosition(dev, ino, offset, n, _digest(head[:n]) if n else "")


class Tail:
    """The lines appended to `path` since `position`. After each line `lines()` yields,
    `position` is the position after that line, so a reader may stop at any line."""

    def __init__(self, path: str, position: FilePosition | None,
                 max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.position = position
        self.budget = max_bytes

    def lines(self) -> Iterator[str]:
        pos = self.position
        try:
            current: BinaryIO | None = open(self.path, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            current = None  # not created yet, or mid-rotation
        try:
            st = os.fstat(current.fileno()) if current is not None else None
            if pos is None:
                # First run: start at the end; what was logged before is history.
                self.position = NOWHERE if current is None or st is None \
                    else self._at(current, st.st_dev, st.st_ino, st.st_size)
                return
            same_file = st is not None and (st.st_dev, st.st_ino) == (pos.dev, pos.ino)
            if (current is not None and st is not None and same_file
                    and st.st_size >= pos.offset
                    and self._fingerprint(current, pos.head_len) == pos.head):
                yield from self._read(current, st.st_dev, st.st_ino, pos.offset, final=False)
                return
            # Rotated: first the rest of what we were reading, now in the renamed file
            # (create) or in the copy (copytruncate), if it is still there.
            earlier = self._earlier(pos, copy=same_file)
            if earlier is not None:
                with open(earlier, "rb") as f:
                    # Rotated away, so nothing more is coming: its last line counts even
                    # without a newline.
                    est = os.fstat(f.fileno())
                    yield from self._read(f, est.st_dev, est.st_ino, pos.offset, final=True)
                if self.budget <= 0:
                    return
            if current is not None and st is not None:
                yield from self._read(current, st.st_dev, st.st_ino, 0, final=False)
        finally:
            if current is not None:
                current.close()

    def _earlier(self, pos: FilePosition, copy: bool) -> str | None:
        """The rotated file holding the rest of what `pos` was reading: the same file under
        its new name, or (`copy`, after copytruncate) a copy that starts with the same bytes
        and reaches the offset."""
        if pos.ino == 0:
            return None  # nothing was being read
        base = glob.escape(self.path)
        candidates = [self.path + ".1", *sorted(glob.glob(base + ".*")),
                      *sorted(glob.glob(base + "-*"))]
        for name in candidates:
            if name.endswith(COMPRESSED):
                continue
            try:
                st = os.stat(name)
                if not copy:
                    if (st.st_dev, st.st_ino) == (pos.dev, pos.ino):
                        return name
                    continue
                if pos.head_len and st.st_size >= pos.offset:
                    with open(name, "rb") as f:
                        if self._fingerprint(f, pos.head_len) == pos.head:
                            return name
            except OSError:
                continue
        return None

    @staticmethod
    def _fingerprint(f: BinaryIO, length: int) -> str:
        f.seek(0)
        return _digest(f.read(length)) if length else ""

    @staticmethod
    def _at(f: BinaryIO, dev: int, ino: int, offset: int) -> FilePosition:
        f.seek(0)
        return _position(f.read(HEAD), dev, ino, offset)

    def _read(self, f: BinaryIO, dev: int, ino: int, start: int,
              final: bool) -> Iterator[str]:
        f.seek(0)
        head = f.read(HEAD)
        # Past the first HEAD bytes the fingerprint no longer changes: computed once.
        whole = _position(head, dev, ino, len(head))
        self.position = _position(head, dev, ino, start)
        f.seek(start)
        offset = start
        while self.budget > 0:
            raw = f.readline(MAX_LINE)
            used = len(raw)
            if raw and not raw.endswith(b"\n") and used == MAX_LINE:
                # An over-long line: keep its start, skip to its end.
                while chunk := f.readline(MAX_LINE):
                    used += len(chunk)
                    if chunk.endswith(b"\n"):
                        raw += b"\n"
                        break
            if not raw or (not raw.endswith(b"\n") and not final):
                return  # end of the file, or a line still being written
            offset += used
            self.budget -= used
            self.position = _position(head, dev, ino, offset) if offset < len(head) else \
                FilePosition(dev, ino, offset, whole.head_len, whole.head)
            yield raw.decode("utf-8", "replace").rstrip("\r\n")


# --- parsing ----------------------------------------------------------------------------

_PRI = r"(?:<(?P<pri>\d{1,3})>)?"
_RFC5424 = re.compile(r"<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) "
                      r"(?P<procid>\S+) (?P<msgid>\S+) ?(?P<rest>.*)", re.S)
_ISO = re.compile(_PRI + r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?"
                  r"(?:Z|[+-]\d\d:?\d\d)?) (?P<host>\S+) (?P<rest>.*)", re.S)
_BSD = re.compile(_PRI + r"(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) "
                  r"(?P<time>\d\d:\d\d:\d\d) (?P<host>\S+) (?P<rest>.*)", re.S)
_TAG = re.compile(r"(?P<ident>[^\s\[\]:]+)(?:\[[^\]]*\])?: ?(?P<msg>.*)", re.S)
_KEYWORDS = (
    (EventLevel.CRITICAL, re.compile(r"\b(?:crit\w*|emerg\w*|alert|panic\w*)\b", re.I)),
    (EventLevel.ERROR, re.compile(r"\b(?:err|error\w*|fail\w*)\b", re.I)),
    (EventLevel.WARNING, re.compile(r"\bwarn\w*\b", re.I)),
)
# What each level's words start with: a plain substring test rules most lines out far
# faster than the word patterns above.
_STEMS = {EventLevel.CRITICAL: ("crit", "emerg", "alert", "panic"),
          EventLevel.ERROR: ("err", "fail"), EventLevel.WARNING: ("warn",)}


def level_from_words(message: str) -> EventLevel:
    """The heuristic described in the module docstring."""
    return next((level for level, words in _KEYWORDS if words.search(message)), EventLevel.INFO)


def _level(pri: str | None, message: str) -> EventLevel:
    if pri is not None and int(pri) <= 191:  # facility * 8 + severity, facility 0..23
        return PRIORITY_LEVELS[int(pri) % 8]
    return level_from_words(message)


def _iso_time(text: str, tz: tzinfo | None) -> float | None:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return local_timestamp(stamp, tz)  # naive: the host's local time, as syslog daemons write it


def _bsd_time(mon: str, day: str, clock: str, now: float, tz: tzinfo | None) -> float | None:
    """RFC 3164 stamps have no year and no zone: the host's local time (or `tz`), in the
    year that puts the stamp no more than a day ahead of `now` (a December line read in
    January is from last year)."""
    month = MONTHS.get(mon)
    if month is None:
        return None
    h, m, s = (int(x) for x in clock.split(":"))
    year = datetime.fromtimestamp(now, tz).year
    for y in (year, year - 1):
        try:
            at = datetime(y, month, int(day), h, m, s, tzinfo=tz).timestamp()
        except ValueError:  # 29 February outside a leap year, 24:00:00...
            continue
        if at <= now + 86400:
            return at
    return None


def _without_structured_data(rest: str) -> str:
    """RFC 5424: the message after STRUCTURED-DATA ("-" or [id k="v"] elements)."""
    if rest.startswith("-"):
        return rest[1:].lstrip(" ")
    i = 0
    while i < len(rest) and rest[i] == "[":
        i += 1
        while i < len(rest) and rest[i] != "]":
            i += 2 if rest[i] == "\\" else 1  # \] inside a value does not close it
        i += 1
    return rest[i:].lstrip(" ")


def parse_line(line: str, now: float, log_name: str, tz: tzinfo | None = None) -> Event | None:
    """One line of a syslog-style file; None for a blank one. `log_name` (the file's path)
    becomes the event's `log`; `tz` is the zone for stamps without one (None: the host's).
    A line in no known format becomes an event from the file itself, stamped `now`."""
    if not line.strip():
        return None
    fallback_source = os.path.basename(log_name)
    if m := _RFC5424.match(line):
        at = _iso_time(m["ts"], tz) if m["ts"] != "-" else None
        app = m["app"] if m["app"] != "-" else fallback_source
        message = _without_structured_data(m["rest"]).removeprefix("\ufeff")
        return _event(at if at is not None else now, log_name, app, m["pri"], message)
    at: float | None = None
    rest = line
    pri = None
    if m := _ISO.match(line):
        at, rest, pri = _iso_time(m["ts"], tz), m["rest"], m["pri"]
    elif m := _BSD.match(line):
        at, rest, pri = _bsd_time(m["mon"], m["day"], m["time"], now, tz), m["rest"], m["pri"]
    if rest is line:
        return _event(now, log_name, fallback_source, None, line)
    tag = _TAG.match(rest)
    source, message = (tag["ident"], tag["msg"]) if tag else (fallback_source, rest)
    return _event(at if at is not None else now, log_name, source, pri, message)


def _event(at: float, log_name: str, source: str, pri: str | None, message: str) -> Event:
    message = message.strip()
    return Event(at=at, log=log_name, source=source, event_id=0, level=_level(pri, message),
                 message=message[:MAX_MESSAGE])


# --- the source -------------------------------------------------------------------------

class FileSource:
    """Entries at `min_level` or worse appended to one file since its saved position.

    Position: {"dev", "ino", "offset", "head_len", "head"} (see FilePosition)."""

    def __init__(self, path: str, key: str, min_level: EventLevel, *,
                 max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES,
                 tz: tzinfo | None = None) -> None:
        self.path = path
        self.key = key
        self.min_level = min_level
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.tz = tz
        # The stems of the words that can reach `min_level`; None when any line can (a
        # level milder than warning needs no word).
        self._stems: tuple[str, ...] | None = None if min_level.rank > EventLevel.WARNING.rank \
            else tuple(stem for level, stems in _STEMS.items()
                       if level.rank <= min_level.rank for stem in stems)

    def _may_qualify(self, line: str) -> bool:
        """False for a line that cannot reach `min_level`, without parsing it: one with no
        priority prefix whose words (the message's among them) are all too mild. Most
        lines of a busy file are, and parsing them all would cost seconds per run."""
        if line.startswith("<") or self._stems is None:
            return True
        low = line.lower()
        if not any(stem in low for stem in self._stems):
            return False
        return level_from_words(line).rank <= self.min_level.rank

    def read(self, state: Mapping[str, Any] | None,
             now: float) -> tuple[list[Event], dict[str, Any] | None]:
        tail = Tail(self.path, FilePosition.from_state(state), self.max_bytes)
        events: list[Event] = []
        try:
            with closing(tail.lines()) as lines:
                for line in lines:
                    if not self._may_qualify(line):
                        continue
                    event = parse_line(line, now, self.path, self.tz)
                    if event is not None and event.level.rank <= self.min_level.rank:
                        events.append(event)
                        if len(events) >= self.max_entries:
                            break  # the rest next run, from tail.position
        except PermissionError:
            raise PermissionError(
                f"{self.path}: permission denied; the agent's user needs read access "
                "(group adm on Debian/Ubuntu, an ACL on RHEL's root-only files)") from None
        return events, tail.position.to_state() if tail.position is not None else None
