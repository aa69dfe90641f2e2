"""Event-log entries of warning level and worse, read incrementally, as `Event`s.

Where they come from depends on the platform, chosen in `platform_sources` only: the
Windows Event Log channels (`_eventlog_windows`), or the systemd journal and syslog-style
files (`_eventlog_linux`). Each source reads from its saved position (journal cursor,
event-log bookmark, file offset) and hands back the position after what it read; this
module keeps those positions, yields them as `Checkpoint`s, and drops what the `ignore`
list names before anything leaves the host.

A source that fails makes the whole run fail and advances no position, not even those of
the sources that worked: the run is reported with the reason (say, the agent user may not
read /var/log/messages), and the next run re-reads everything since the last position, so
nothing is lost while the admin fixes it. "Nothing here" (no journalctl, a log file not
created yet, a channel that does not exist on this server) is not a failure.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.samplers import Checkpoint, Configurable, Observation, SamplerContext, register
from rules.model import Event, EventLevel
from watchkeeper.tomlconf import Table

WINDOWS_EVENT_IDS = range(0, 65536)  # EventID is a 16-bit value; journal and files use 0


@dataclass(frozen=True, slots=True)
class Ignore:
    """`[[sampler.eventlog.ignore]]`: entries from `source` (any case), with one of `ids`
    when given, are dropped at the agent."""

    source: str
    ids: frozenset[int] = frozenset()

    def matches(self, e: Event) -> bool:
        return e.source.casefold() == self.source.casefold() and (
            not self.ids or e.event_id in self.ids)


@dataclass(frozen=True, slots=True)
class EventLogSettings:
    """`[sampler.eventlog]` of agent.toml."""

    min_level: EventLevel = EventLevel.WARNING
    """Entries less severe are neither read nor sent."""
    first_read: float = 3600.0
    """Seconds of history read on the very first run (no checkpoint yet); files start at
    their end instead."""
    journal: bool = True
    """Linux: read the systemd journal."""
    journal_directory: Path | None = None
    """Linux: read the journal files in this directory (journalctl -D) instead of the
    host's journal: a container's mounted journal, or a test's."""
    files: tuple[str, ...] = ()
    """Linux: syslog-style files to tail, such as /var/log/messages."""
    channels: tuple[str, ...] = ("System", "Application")
    """Windows: the Event Log channels to read (the list replaces the default)."""
    ignore: tuple[Ignore, ...] = ()


class LogSource(Protocol):
    """One place entries are read from, resuming from a JSON-able position."""

    key: str
    """The checkpoint key ("eventlog.journal", "eventlog.file.var_log_syslog", ...)."""

    def read(self, state: Mapping[str, Any] | None,
             now: float) -> tuple[list[Event], dict[str, Any] | None]:
        """Entries after `state` (None: never read) and the position after them (None:
        still nothing to resume from). Must not keep the position itself: the sampler
        commits it only when every source has read."""
        ...


def checkpoint_key(prefix: str, name: str) -> str:
    """A key that is also a safe file name: "/var/log/syslog" -> "<prefix>.var_log_syslog"."""
    return f"{prefix}.{re.sub(r'[^A-Za-z0-9._-]+', '_', name).strip('_.') or '_'}"


def keep(events: Iterable[Event], min_level: EventLevel,
         ignore: Iterable[Ignore]) -> list[Event]:
    """The events at `min_level` or worse that no ignore entry matches. Sources filter by
    level already where they can; this is the one rule every source ends up under."""
    rules = tuple(ignore)
    return [e for e in events
            if e.level.rank <= min_level.rank and not any(r.matches(e) for r in rules)]


def platform_sources(settings: EventLogSettings) -> list[LogSource]:
    # Imported here, not at the top: the readers (and pywin32 on Windows) are loaded only
    # when the sampler is configured, and only for this platform.
    if sys.platform == "win32":
        from agent.samplers._eventlog_windows import sources
    else:
        from agent.samplers._eventlog_linux import sources
    return sources(settings)


def _ignore_entries(t: Table) -> tuple[Ignore, ...]:
    found = []
    for sub in t.tables("ignore"):
        source = sub.str("source")
        if source is not None and not source.strip():
            sub.problem("source", "must not be empty")
        # `ids` is optional, but when given it must be a non-empty list of event IDs.
        ids = sub.int_list("ids", WINDOWS_EVENT_IDS) if "ids" in sub.data else []
        sub.done()
        if source:
            found.append(Ignore(source.strip(), frozenset(ids)))
    return tuple(found)


def _files(t: Table) -> tuple[str, ...]:
    files = tuple(t.str_list("files", []) or ())
    keys: dict[str, str] = {}
    for f in files:
        if not Path(f).is_absolute():
            t.problem("files", f"{f!r} is not an absolute path")
        # Two paths that make the same key would share one offset and corrupt each other.
        key = checkpoint_key("eventlog.file", f)
        if key in keys and keys[key] != f:
            t.problem("files", f"{keys[key]!r} and {f!r} are too alike to keep apart; "
                      "rename one (or link it) so their names differ in more than punctuation")
        keys[key] = f
    return files


@register("eventlog")
class EventLogSampler(Configurable):
    name = "eventlog"
    interval = 30.0

    def __init__(self, settings: EventLogSettings, sources: Iterable[LogSource],
                 saved: Mapping[str, Mapping[str, Any] | None] | None = None) -> None:
        self.settings = settings
        self.sources = list(sources)
        saved = saved or {}
        self.positions: dict[str, Mapping[str, Any] | None] = {
            s.key: saved.get(s.key) for s in self.sources}

    @classmethod
    def configure(cls, t: Table) -> EventLogSettings:
        d = EventLogSettings()
        min_level = t.choice("min_level", EventLevel, d.min_level.value) or d.min_level
        journal = t.bool("journal", d.journal)
        directory = t.str("journal_directory", "")
        if directory:
            if not Path(directory).is_dir():
                t.problem("journal_directory", f"{directory!r} is not a directory")
            if journal is False:
                t.problem("journal_directory", "is set, but journal = false")
        channels = t.str_list("channels", list(d.channels))
        if channels is not None and any(not c.strip() for c in channels):
            t.problem("channels", "a channel name must not be empty")
        settings = EventLogSettings(
            min_level=min_level,
            first_read=t.duration("first_read", "1h") or 0.0,
            journal=d.journal if journal is None else journal,
            journal_directory=Path(directory) if directory else None,
            files=_files(t),
            channels=tuple(channels) if channels is not None else d.channels,
            ignore=_ignore_entries(t),
        )
        t.done()
        return settings

    @classmethod
    def create(cls, settings: EventLogSettings | None, ctx: SamplerContext) -> EventLogSampler:
        settings = settings or EventLogSettings()
        sources = platform_sources(settings)
        return cls(settings, sources, {s.key: ctx.saved(s.key) for s in sources})

    def collect(self, now: float) -> list[Observation]:
        read: list[tuple[str, list[Event], dict[str, Any] | None]] = []
        failures: list[str] = []
        for source in self.sources:
            try:
                events, position = source.read(self.positions[source.key], now)
            except Exception as exc:  # reported together below; see the module docstring
                failures.append(f"{source.key}: {exc}")
                continue
            read.append((source.key, events, position))
        if failures:
            raise RuntimeError("; ".join(failures))
        out: list[Observation] = []
        for key, events, position in read:
            out.extend(keep(events, self.settings.min_level, self.settings.ignore))
            if position is not None:
                self.positions[key] = position
                out.append(Checkpoint(key, position))
        return out
