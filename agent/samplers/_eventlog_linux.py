"""Linux event sources: the systemd journal and the syslog-style files named in settings."""

from __future__ import annotations

from agent.samplers._journal import JournalSource
from agent.samplers._logfiles import FileSource
from agent.samplers.eventlog import EventLogSettings, LogSource, checkpoint_key


def sources(settings: EventLogSettings) -> list[LogSource]:
    found: list[LogSource] = []
    if settings.journal:
        found.append(JournalSource(settings.min_level, settings.first_read,
                                   directory=settings.journal_directory))
    found.extend(FileSource(path, checkpoint_key("eventlog.file", path), settings.min_level)
                 for path in settings.files)
    return found
