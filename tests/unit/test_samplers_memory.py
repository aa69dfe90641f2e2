"""The memory sampler: parse on recorded psutil values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.samplers.memory import MemorySampler, parse

FIXTURES = Path(__file__).parent.parent / "fixtures" / "psutil"
NOW = 1_700_000_000.0


def fixture(name: str) -> tuple[Any, Any]:
    data = json.loads((FIXTURES / name).read_text())
    return data["virtual_memory"], data["swap_memory"]


def values(name: str) -> dict[str, float]:
    virtual, swap = fixture(name)
    return {s.metric: s.value for s in parse(virtual, swap, NOW)}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("linux_memory.json", {
            "memory.percent": 2.3,
            "memory.available_bytes": 24700309504,
            "memory.total_bytes": 25276502016,
        }),
        ("windows_memory.json", {
            "memory.percent": 60.0,
            "memory.available_bytes": 6871947264,
            "memory.total_bytes": 17179332608,
            "swap.percent": 7.6,
        }),
    ],
)
def test_memory_metrics_from_recorded_hosts(name: str, expected: dict[str, float]) -> None:
    assert values(name) == expected


def test_no_swap_sample_without_swap() -> None:
    # linux_memory.json was recorded on a VM without swap: total 0.
    assert "swap.percent" not in values("linux_memory.json")


def test_page_file_is_reported_as_swap_on_windows() -> None:
    assert values("windows_memory.json")["swap.percent"] == 7.6


def test_unused_swap_is_reported_as_zero_not_dropped() -> None:
    virtual, swap = fixture("windows_memory.json")
    swap.update(used=0, free=swap["total"], percent=0.0)
    assert [s.value for s in parse(virtual, swap, NOW) if s.metric == "swap.percent"] == [0.0]


def test_samples_carry_the_given_time_and_no_labels() -> None:
    virtual, swap = fixture("windows_memory.json")
    samples = parse(virtual, swap, NOW)
    assert {s.at for s in samples} == {NOW}
    assert all(not s.labels for s in samples)


def test_sampler_declares_its_name_and_schedule() -> None:
    assert (MemorySampler.name, MemorySampler.interval) == ("memory", 10.0)
