"""What a sampler is, what it may yield, and what the agent reports about each run.

A sampler turns one source (psutil, the event log, a backup tool) into observations:
`Sample`s (numbers the rules judge), `Event`s (event-log entries), an `Inventory` (the
device's configuration), and `Checkpoint`s (where to resume reading next time). It reports
"nothing to measure here" by yielding nothing, and a failure by raising;
`agent.samplers.run` turns either into a `SamplerRun`, so the collector can tell a host
without backup software from a sampler that is broken.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from rules.model import Event, Sample
from watchkeeper.tomlconf import Table


@dataclass(frozen=True, slots=True)
class Inventory:
    """The device's configuration (OS, hardware, software) as one JSON-able document."""

    at: float
    doc: Mapping[str, Any]

    @property
    def digest(self) -> str:
        import hashlib

        blob = json.dumps(self.doc, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def to_wire(self) -> dict[str, object]:
        return {"at": self.at, "hash": self.digest, "doc": dict(self.doc)}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a sampler will resume (a journal cursor, an event-log bookmark, a file offset).

    The agent saves it only after the report holding what was read up to it is safely in
    the spool, so a crash in between re-reads those entries instead of losing them. The
    sampler keeps its own in-memory position for its next run; `SamplerContext.saved`
    returns the last committed one at start-up.
    """

    key: str
    state: Mapping[str, Any]


Observation = Sample | Event | Inventory | Checkpoint


def checkpoint_file(state_dir: Path, key: str) -> Path:
    """Where the checkpoint `key` is kept; any key is made a safe file name (Windows
    channel names hold slashes and spaces)."""
    return state_dir / "checkpoints" / (re.sub(r"[^A-Za-z0-9._-]", "_", key) + ".json")


@dataclass(frozen=True, slots=True)
class SamplerContext:
    """What the agent gives a sampler at start-up."""

    state_dir: Path
    hostname: str

    def saved(self, key: str) -> dict[str, Any] | None:
        """The last committed checkpoint under `key`, or None (first run, or unreadable)."""
        try:
            value = json.loads(checkpoint_file(self.state_dir, key).read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None


class Sampler(Protocol):
    name: str
    """The registry name, also used in configuration and in `SamplerRun.name`."""

    interval: float
    """Default schedule in seconds; `[sampler.NAME] interval` overrides it."""

    def collect(self, now: float) -> list[Observation]:
        """Measure once. `now` is the timestamp every sample of this run carries, passed in
        so that a run's samples share one time and tests need no clock."""
        ...


class Configurable:
    """Mixin for registered sampler classes: how settings become a sampler.

    `configure` validates the `[sampler.NAME]` table once, at start-up (problems name the
    file and key); `create` builds the sampler from what `configure` returned. Samplers
    without settings inherit both.
    """

    name: ClassVar[str]
    interval: ClassVar[float]

    @classmethod
    def configure(cls, t: Table) -> object:
        t.done()
        return None

    @classmethod
    def create(cls, settings: Any, ctx: SamplerContext) -> Sampler:
        return cls()  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class SamplerRun:
    """How one run of one sampler went: success, cost, and how much it found."""

    name: str
    ok: bool
    duration_ms: float
    samples: int
    error: str | None = None

    def to_wire(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "duration_ms": self.duration_ms,
                "samples": self.samples, "error": self.error}
