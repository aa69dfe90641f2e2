"""Structured logs for people: time, level, message, then the ids the line is about."""

from __future__ import annotations

import logging
import sys

# The `extra=` fields a line may carry, printed as key=value after the message.
_FIELDS = ("device", "case", "seq")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={getattr(record, k)}" for k in _FIELDS if hasattr(record, k))
        return f"{line} {extras}" if extras else line


def setup(level: str = "INFO", component: str = "watchkeeper") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter(
        f"%(asctime)s %(levelname)s {component} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would print one line per agent report; keep it for debugging.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # apscheduler logs every job run at INFO: one line per sample, useless at 3 a.m.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
