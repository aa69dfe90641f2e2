"""Physical memory in use and available, and swap (page file) use."""

from __future__ import annotations

from typing import TypedDict

import psutil

from agent.samplers import Configurable, register
from rules.model import Sample


class VirtualMemory(TypedDict):
    """`psutil.virtual_memory()._asdict()`: the fields every platform has (Linux adds more)."""

    total: int
    available: int
    percent: float
    used: int
    free: int


class SwapMemory(TypedDict):
    """`psutil.swap_memory()._asdict()`; on Windows it describes the page files."""

    total: int
    used: int
    free: int
    percent: float
    sin: int
    sout: int


def parse(virtual: VirtualMemory, swap: SwapMemory, now: float) -> list[Sample]:
    # psutil's `percent` is (total - available) / total on every platform: memory that new
    # processes cannot get, which is what the default "memory high" rule judges.
    samples = [
        Sample("memory.percent", float(virtual["percent"]), now),
        Sample("memory.available_bytes", float(virtual["available"]), now),
        Sample("memory.total_bytes", float(virtual["total"]), now),
    ]
    # A host without swap (common on cloud VMs) or without a page file has nothing to
    # report, which is not "0 % used": a swap rule should see no series, not a calm one.
    if swap["total"] > 0:
        samples.append(Sample("swap.percent", float(swap["percent"]), now))
    return samples


@register("memory")
class MemorySampler(Configurable):
    name = "memory"
    interval = 10.0

    def collect(self, now: float) -> list[Sample]:
        return parse(psutil.virtual_memory()._asdict(), psutil.swap_memory()._asdict(), now)
