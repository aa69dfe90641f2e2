"""Reading a Windows Event Log channel with pywin32's Evt* API (Windows only).

Not run here: no Windows host exists in this project's CI. The calls follow pywin32's
`win32evtlog.i` signatures and Microsoft's "Bookmarking Events" recipe (see
../shared/notes/platform.md, 2a); what they return is parsed by `_winevent.parse_event_xml`,
which is tested on recorded XML.
"""

from __future__ import annotations

import logging
import re

import win32evtlog  # type: ignore[import-not-found]

log = logging.getLogger(__name__)
BATCH = 100
_PROVIDER = re.compile(r"<Provider Name=['\"]([^'\"]+)")
TIMEOUT_MS = 1000


def _message(event: object, provider: str, cache: dict[str, object]) -> str | None:
    try:
        if provider not in cache:
            cache[provider] = win32evtlog.EvtOpenPublisherMetadata(provider)
        return str(win32evtlog.EvtFormatMessage(cache[provider], event,
                                                win32evtlog.EvtFormatMessageEvent))
    except Exception:  # provider DLL missing (error 15027) and similar: use EventData
        return None


def read_channel(channel: str, xpath: str = "*", bookmark: str | None = None,
                 limit: int = 1000) -> tuple[list[tuple[str, str | None]], str | None]:
    """Records of `channel` after `bookmark` (oldest first), as (event XML, message text)
    pairs, and the bookmark after the last one returned. With no bookmark, reads from the
    start of what `xpath` selects (callers limit it to a recent time window)."""
    query = win32evtlog.EvtQuery(channel, win32evtlog.EvtQueryChannelPath
                                 | win32evtlog.EvtQueryForwardDirection, xpath)
    mark = win32evtlog.EvtCreateBookmark(bookmark)
    if bookmark:
        try:
            win32evtlog.EvtSeek(query, 1, win32evtlog.EvtSeekRelativeToBookmark, mark)
        except Exception:
            # The bookmarked record is gone (log cleared or wrapped): start over from
            # what the query selects, rather than stop reading this channel for good.
            log.warning("event log %s: bookmark no longer valid; reading from the start of"
                        " the query", channel)
            query = win32evtlog.EvtQuery(channel, win32evtlog.EvtQueryChannelPath
                                         | win32evtlog.EvtQueryForwardDirection, xpath)
    out: list[tuple[str, str | None]] = []
    providers: dict[str, object] = {}
    while len(out) < limit:
        handles = win32evtlog.EvtNext(query, BATCH, TIMEOUT_MS)
        if not handles:
            break
        for h in handles:
            xml = win32evtlog.EvtRender(h, win32evtlog.EvtRenderEventXml)
            found = _PROVIDER.search(xml)
            provider = found.group(1) if found else ""
            out.append((xml, _message(h, provider, providers)))
            win32evtlog.EvtUpdateBookmark(mark, h)
    new_mark = win32evtlog.EvtRender(mark, win32evtlog.EvtRenderBookmark) if out else bookmark
    return out, new_mark
