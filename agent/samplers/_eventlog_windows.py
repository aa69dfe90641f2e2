"""Windows event sources: one per Event Log channel, resumed from a bookmark.

The reading itself is `_winevent.read_channel` (pywin32, imported only when a channel is
read, so this module loads, and its pure parts are tested, on any platform).
What is pure here: the XPath query that keeps only `min_level` and worse (and, on the
first run, only the last `first_read` seconds), and turning rendered records into events.
Not run in this project's CI, which has no Windows host; the record parsing is tested on
XML in the shape EvtRender produces.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from agent.samplers._winevent import (
    is_missing_channel,
    parse_event_xml,
    parse_records,
    read_channel,
    system_query,
)
from agent.samplers.eventlog import EventLogSettings, LogSource, checkpoint_key
from rules.model import Event, EventLevel

log = logging.getLogger(__name__)

MAX_ENTRIES = 1000
"""Records read per channel per run at most: `read_channel` holds them all in memory."""

# System/Level: 1 Critical, 2 Error, 3 Warning, 4 Information, 5 Verbose; 0 (LogAlways) is
# shown as Information, so "info" takes it too. Debug means every level: no condition.
LEVEL_CONDITION = {
    EventLevel.CRITICAL: "Level=1",
    EventLevel.ERROR: "(Level=1 or Level=2)",
    EventLevel.WARNING: "(Level>=1 and Level<=3)",
    EventLevel.INFO: "Level<=4",
    EventLevel.DEBUG: "",
}


def channel_xpath(min_level: EventLevel, window: float | None = None) -> str:
    """The query for records at `min_level` or worse, created in the last `window` seconds
    when given (the first run, before there is a bookmark)."""
    return system_query(LEVEL_CONDITION[min_level],
                        within_ms=None if window is None else round(window * 1000))


def events_from_records(records: Iterable[tuple[str, str | None]], channel: str) -> list[Event]:
    """Events from `read_channel`'s (XML, message) pairs; a record that cannot be parsed is
    logged and skipped, so one odd record does not hold the channel up for good."""
    return [w.event for w in parse_records(records, f"event log {channel}", parse_event_xml)]


class ChannelSource:
    """Records of one channel after the bookmark. Position: {"bookmark": "<BookmarkList..."}."""

    def __init__(self, channel: str, min_level: EventLevel, first_read: float,
                 max_entries: int = MAX_ENTRIES) -> None:
        self.channel = channel
        self.key = checkpoint_key("eventlog.win", channel)
        self.min_level = min_level
        self.first_read = first_read
        self.max_entries = max_entries
        self._told_missing = False

    def read(self, state: Mapping[str, Any] | None,
             now: float) -> tuple[list[Event], dict[str, Any] | None]:
        bookmark = state.get("bookmark") if state else None
        if not isinstance(bookmark, str):
            bookmark = None
        xpath = channel_xpath(self.min_level, None if bookmark else self.first_read)
        try:
            records, new_mark = read_channel(self.channel, xpath, bookmark, self.max_entries)
        except Exception as exc:
            if not is_missing_channel(exc):
                raise
            if not self._told_missing:
                log.info("eventlog: no channel %r on this server; not reading it", self.channel)
                self._told_missing = True
            return [], None
        return (events_from_records(records, self.channel),
                {"bookmark": new_mark} if new_mark else None)


def sources(settings: EventLogSettings) -> list[LogSource]:
    return [ChannelSource(c, settings.min_level, settings.first_read)
            for c in settings.channels]
