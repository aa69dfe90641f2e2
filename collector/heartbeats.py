"""Device liveness from timestamps: pure, `now` passed in.

The k-th deadline after the reference time is `ref + k * interval + grace`. The reference
is the last heartbeat, moved forward to `intake_since` when the collector itself was down:
a device cannot be blamed for deadlines that fell while nobody was listening (the Nagios
freshness rule, see shared/notes/reliability_security.md A4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class DeviceStatus(StrEnum):
    UP = "up"
    LATE = "late"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class HeartbeatPolicy:
    interval: float
    grace: float
    missed_before_case: int

    @property
    def window(self) -> float:
        """Seconds of silence after which a device is down."""
        return self.missed_before_case * self.interval + self.grace


@dataclass(frozen=True, slots=True)
class Liveness:
    status: DeviceStatus
    missed: int
    next_deadline: float | None  # None once down: nothing more can happen until it speaks


def liveness(last_seen: float, intake_since: float, policy: HeartbeatPolicy,
             now: float) -> Liveness:
    ref = max(last_seen, intake_since)
    elapsed = now - ref - policy.grace
    missed = max(0, math.floor(elapsed / policy.interval)) if elapsed >= policy.interval else 0
    if missed >= policy.missed_before_case:
        return Liveness(DeviceStatus.DOWN, missed, None)
    status = DeviceStatus.LATE if missed else DeviceStatus.UP
    return Liveness(status, missed, ref + (missed + 1) * policy.interval + policy.grace)


def intake_since(started_at: float, last_alive_at: float | None, grace: float) -> float:
    """From when heartbeats count, given when the collector started and when it was last
    known alive. A restart quicker than the grace keeps counting, so a collector that
    restarts often cannot keep a dead device from ever going down."""
    if last_alive_at is None or started_at - last_alive_at <= grace:
        return 0.0
    return started_at
