"""One outage, one case (SPEC 4): whether the devices of one site went silent together.

Pure: the caller passes each device's last report and the time it first missed a
deadline, and `now`.

Devices cut off by one event (a WAN link, a power cut) made their last reports within one
heartbeat interval before it, each at its own point of its cycle. So when a device goes
down, the site is out if more than `threshold_fraction` of its devices have gone silent
within `span` (one interval plus grace) of that device's last report. Devices silent since
long before that window were down already: they say nothing about this outage and count
neither way. A site needs `min_devices` devices that were reporting before the outage
before their silence can stand for the site's.

Silent means "has missed a deadline", not "is down": when the first device of a site is
declared down, the others cut off with it have missed all but its last deadline, so one
case opens at once instead of a page per device for the first few.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

THRESHOLD_FRACTION = 0.5
MIN_DEVICES = 3


@dataclass(frozen=True, slots=True)
class SiteDevice:
    id: str
    last_seen: float
    silent_from: float  # when it first missed a deadline (unless it has reported since)


@dataclass(frozen=True, slots=True)
class SiteVerdict:
    out: bool
    silent: tuple[str, ...]  # the devices that went silent together, in last-report order
    counted: int  # the devices that were reporting before the outage
    since: float  # the earliest last report among `silent`

    def describe(self) -> str:
        return f"{len(self.silent)} of {self.counted} devices"


def site_verdict(devices: Sequence[SiteDevice], anchor: str, now: float, span: float,
                 threshold_fraction: float = THRESHOLD_FRACTION,
                 min_devices: int = MIN_DEVICES) -> SiteVerdict:
    """Judge the site of `anchor`, the device going down now, from all of its `devices`
    (`anchor` among them)."""
    by_id = {d.id: d for d in devices}
    seen = by_id[anchor].last_seen
    silent = [d for d in devices if d.silent_from <= now]
    together = sorted((d for d in silent if abs(d.last_seen - seen) <= span),
                      key=lambda d: (d.last_seen, d.id))
    gone_before = sum(1 for d in silent if d.last_seen < seen - span)
    counted = len(devices) - gone_before
    out = counted >= min_devices and len(together) > threshold_fraction * counted
    return SiteVerdict(out, tuple(d.id for d in together), counted,
                       min((d.last_seen for d in together), default=seen))
