"""What a sampler is, and what the agent reports about each time it ran one.

A sampler turns one source (psutil, the event log, a backup tool) into `Sample`s. It
reports "nothing to measure here" by returning an empty list, and a failure by raising;
`agent.samplers.run` turns either into a `SamplerRun`, so the collector can tell a host
without swap or backup software from a sampler that is broken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rules.model import Sample


class Sampler(Protocol):
    name: str
    """The registry name, also used in configuration and in `SamplerRun.name`."""

    interval: float
    """Default schedule in seconds; configuration may override it."""

    def collect(self, now: float) -> list[Sample]:
        """Measure once. `now` is the timestamp every sample of this run carries, passed in
        so that a run's samples share one time and tests need no clock."""
        ...


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
