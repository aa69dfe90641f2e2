"""Windows Event Log records, from their XML rendering to an `Event` plus its EventData.

Pure: the XML a reader got from `EvtRender(..., EvtRenderEventXml)` in, typed values out,
so every Windows-only sampler (event logs, Windows Server Backup, Veeam, Defender) is
tested on recorded XML on any platform. Reading lives in `_winevent_windows.py`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from rules.model import MAX_MESSAGE, Event, EventLevel

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
