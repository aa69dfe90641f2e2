"""Every typed AppKey the collector's app holds, in one place."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from collector.config import CollectorConfig
from collector.store.db import Database
from watchkeeper.clock import Clock


@dataclass
class Wakers:
    """Set one to make its background loop look again at once (new work was written)."""

    escalation: asyncio.Event = field(default_factory=asyncio.Event)
    outbox: asyncio.Event = field(default_factory=asyncio.Event)
    sweeper: asyncio.Event = field(default_factory=asyncio.Event)


CONFIG = web.AppKey("config", CollectorConfig)
CLOCK = web.AppKey("clock", Clock)
DB = web.AppKey("db", Database)
WAKERS = web.AppKey("wakers", Wakers)
INTAKE_SINCE = web.AppKey("intake_since", float)
