"""A background loop that sleeps until its next deadline, or until it is woken."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# Even with nothing due, look again this often: a deadline written by another process
# (the CLI) cannot wake us.
MAX_SLEEP = 1.0
MIN_SLEEP = 0.01


async def run_until_cancelled(name: str, step: Callable[[], Awaitable[float | None]],
                              wake: asyncio.Event) -> None:
    """`step` does what is due and returns the seconds until its next deadline (or None)."""
    while True:
        try:
            delay = await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A failing pass must not end the loop: log it and try again shortly.
            log.exception("%s failed; retrying", name)
            delay = MAX_SLEEP
        # Always wait a little: a step that keeps finding work due (a batch at a time) must
        # still let the event loop serve requests in between.
        timeout = MAX_SLEEP if delay is None else min(max(delay, MIN_SLEEP), MAX_SLEEP)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)
        wake.clear()
