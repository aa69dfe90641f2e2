"""Windows Event Log records, from their XML rendering to an `Event` plus its EventData.

Pure: the XML a reader got from `EvtRender(..., EvtRenderEventXml)` in, typed values out,
so every Windows-only sampler (event logs, Windows Server Backup, Veeam, Defender) is
tested on recorded XML on any platform. Reading lives in `_winevent_windows.py` (pywin32);
`read_channel` here loads it on first use, so this module imports on any platform. The
glue those samplers share is here too: the XPath query, a missing channel, and skipping a
record that cannot be parsed.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from rules.model import MAX_MESSAGE, Event, EventLevel

log = logging.getLogger(__name__)
T = TypeVar("T")

Records = list[tuple[str, str | None]]
"""What `read_channel` returns: per record, its event XML and, when rendered, its message."""

ERROR_EVT_CHANNEL_NOT_FOUND = 15007

_NS = {"e": "http://schemas.microsoft.com/win/2004/08/events/event"}

# System/Level: 0 LogAlways (shown as Information), 1 Critical, 2 Error, 3 Warning,
# 4 Information, 5 Verbose.
LEVELS = {0: EventLevel.INFO, 1: EventLevel.CRITICAL, 2: EventLevel.ERROR,
          3: EventLevel.WARNING, 4: EventLevel.INFO, 5: EventLevel.DEBUG}


class EventXmlError(ValueError):
    """The text is not a Windows event record."""


@dataclass(frozen=True, slots=True)
class WinEvent:
    event: Event
    record_id: int
    data: Mapping[str, str] = field(default_factory=dict)


def _time(text: str | None) -> float:
    """`SystemTime`: UTC, up to 7 fractional digits and a Z ("2026-11-20T02:00:03.1234567Z")."""
    if not text:
        raise EventXmlError("TimeCreated has no SystemTime")
    stamp = text.rstrip("Z")
    if "." in stamp:
        head, frac = stamp.split(".", 1)
        stamp = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(stamp + "+00:00").timestamp()


def parse_event_xml(xml: str, message: str | None = None) -> WinEvent:
    """One record. `message` is the rendered text (EvtFormatMessage) when the reader had
    it; without it the EventData values stand in, which is what Event Viewer shows when
    the provider's message DLL is missing."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise EventXmlError(f"not XML: {exc}") from None
    system = root.find("e:System", _NS)
    if system is None:
        raise EventXmlError("no <System> element")

    def text(tag: str) -> str | None:
        node = system.find(f"e:{tag}", _NS)
        return node.text if node is not None else None

    provider = system.find("e:Provider", _NS)
    source = (provider.get("Name") if provider is not None else None) or "unknown"
    created = system.find("e:TimeCreated", _NS)
    data: dict[str, str] = {}
    unnamed: list[str] = []
    for d in root.iterfind("e:EventData/e:Data", _NS):
        value = (d.text or "").strip()
        if d.get("Name"):
            data[d.get("Name", "")] = value
        elif value:
            unnamed.append(value)
    for i, value in enumerate(unnamed):
        data.setdefault(f"{i}", value)
    rendered = root.find("e:RenderingInfo/e:Message", _NS)
    if message is None and rendered is not None and rendered.text:
        message = rendered.text
    if not message:
        message = "; ".join(f"{k}: {v}" if not k.isdigit() else v for k, v in data.items() if v)
    try:
        level = LEVELS.get(int(text("Level") or 4), EventLevel.INFO)
        event_id = int(text("EventID") or 0)
        record_id = int(text("EventRecordID") or 0)
    except ValueError as exc:
        raise EventXmlError(f"a System field is not a number: {exc}") from None
    event = Event(at=_time(created.get("SystemTime") if created is not None else None),
                  log=text("Channel") or "unknown", source=source, event_id=event_id,
                  level=level, message=message.strip()[:MAX_MESSAGE])
    return WinEvent(event, record_id, data)


def parse_records(records: Iterable[tuple[str, str | None]], what: str,
                  parse: Callable[[str, str | None], T], level: int = logging.WARNING) -> list[T]:
    """`parse(xml, message)` of each record `read_channel` returned. One that cannot be
    parsed is logged (as `what`) and skipped, not fatal: failing would keep a bookmark from
    ever moving past it."""
    out = []
    for xml, message in records:
        try:
            out.append(parse(xml, message))
        except EventXmlError as exc:
            log.log(level, "%s: skipping a record: %s", what, exc)
    return out


def system_query(*conditions: str, within_ms: int | None = None) -> str:
    """The XPath query for records whose System element meets every (non-empty) condition
    and, with `within_ms`, was created in the last that many milliseconds."""
    parts = [c for c in conditions if c]
    if within_ms is not None:
        parts.append(f"TimeCreated[timediff(@SystemTime) <= {within_ms}]")
    return f"*[System[{' and '.join(parts)}]]" if parts else "*"


def is_missing_channel(exc: BaseException) -> bool:
    """pywintypes.error for a channel this server does not have (the Windows Server
    Backup channel without the feature installed, a product not installed)."""
    return getattr(exc, "winerror", None) == ERROR_EVT_CHANNEL_NOT_FOUND


def read_channel(channel: str, xpath: str, bookmark: str | None,
                 limit: int) -> tuple[Records, str | None]:
    """`_winevent_windows.read_channel`, imported on first use (pywin32: Windows only)."""
    from agent.samplers._winevent_windows import read_channel as read

    return read(channel, xpath, bookmark, limit)
