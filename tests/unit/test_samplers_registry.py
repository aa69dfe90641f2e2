"""The sampler registry: building samplers by name and running them in isolation."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.samplers import SAMPLERS, Collected, SamplerRun, build, register, run
from agent.samplers.cpu import CpuSampler
from agent.samplers.disk import DiskSampler
from agent.samplers.memory import MemorySampler
from rules.model import Sample

NOW = 1_700_000_000.0


@dataclass
class FakeSampler:
    name: str
    found: list[Sample] = field(default_factory=list)
    error: BaseException | None = None
    interval: float = 10.0

    def collect(self, now: float) -> list[Sample]:
        if self.error is not None:
            raise self.error
        return self.found


def _split(c: Collected) -> tuple[list[Sample], list[SamplerRun]]:
    return c.samples, c.runs


def ticking(*readings: float) -> Callable[[], float]:
    """A timer that returns the given readings, in seconds, one per call."""
    it: Iterator[float] = iter(readings)
    return lambda: next(it)


# --- the registry --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "cls", "interval"),
    [("cpu", CpuSampler, 10.0), ("memory", MemorySampler, 10.0), ("disks", DiskSampler, 60.0)],
)
def test_builtin_samplers_are_registered_with_their_schedule(
    name: str, cls: Any, interval: float
) -> None:
    assert cls.interval == interval
    assert SAMPLERS[name] is cls


def test_build_returns_samplers_in_the_order_asked() -> None:
    assert [s.name for s in build(["disks", "memory"])] == ["disks", "memory"]


def test_build_of_nothing_is_nothing() -> None:
    assert build([]) == []


def test_unknown_sampler_name_is_rejected_naming_it_and_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'bakcup'.*known samplers: .*cpu, disks,"):
        build(["cpu", "bakcup"])


def test_sampler_listed_twice_is_rejected() -> None:
    with pytest.raises(ValueError, match="more than once: 'memory'"):
        build(["memory", "cpu", "memory"])


def test_registering_a_taken_name_fails_and_keeps_the_first() -> None:
    class Impostor:
        name = "cpu"

    with pytest.raises(ValueError, match="registered twice"):
        register("cpu")(Impostor)
    assert SAMPLERS["cpu"] is CpuSampler


def test_registering_under_a_name_other_than_the_class_name_fails() -> None:
    class Mislabelled:
        name = "other"

    with pytest.raises(TypeError, match="registered as 'mislabelled'"):
        register("mislabelled")(Mislabelled)
    assert "mislabelled" not in SAMPLERS


# --- running ---------------------------------------------------------------------------

def test_failing_sampler_does_not_stop_the_others() -> None:
    before = FakeSampler("before", [Sample("a", 1.0, NOW)])
    broken = FakeSampler("broken", error=RuntimeError("psutil exploded"))
    after = FakeSampler("after", [Sample("b", 2.0, NOW), Sample("c", 3.0, NOW)])
    samples, runs = _split(run([before, broken, after], NOW, timer=ticking(0, 0, 0, 0, 0, 0)))
    assert [s.metric for s in samples] == ["a", "b", "c"]
    assert [(r.name, r.ok, r.samples) for r in runs] == [
        ("before", True, 1), ("broken", False, 0), ("after", True, 2)]


@pytest.mark.parametrize(
    ("error", "reported"),
    [
        (RuntimeError("psutil exploded"), "RuntimeError: psutil exploded"),
        (PermissionError(13, "Access is denied"), "PermissionError: [Errno 13] Access is denied"),
        (KeyError("percent"), "KeyError: 'percent'"),
        (ValueError(), "ValueError"),
    ],
)
def test_failure_is_reported_with_its_type_and_message(error: Exception, reported: str) -> None:
    _, [result] = _split(run([FakeSampler("broken", error=error)], NOW, timer=ticking(0, 0)))
    assert (result.ok, result.error) == (False, reported)


def test_failure_is_logged_at_warning_with_the_sampler_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="agent.samplers"):
        run([FakeSampler("eventlog", error=OSError("channel not found"))], NOW,
            timer=ticking(0, 0))
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "eventlog" in record.getMessage()
    assert "channel not found" in record.getMessage()


def test_ctrl_c_is_not_swallowed() -> None:
    with pytest.raises(KeyboardInterrupt):
        run([FakeSampler("cpu", error=KeyboardInterrupt())], NOW, timer=ticking(0, 0))


def test_each_run_is_timed_in_milliseconds() -> None:
    fast = FakeSampler("fast", [Sample("a", 1.0, NOW)])
    broken = FakeSampler("broken", error=RuntimeError("x"))
    _, runs = _split(run([fast, broken], NOW, timer=ticking(10.0, 10.002, 11.0, 11.5)))
    assert [r.duration_ms for r in runs] == pytest.approx([2.0, 500.0])


def test_sampler_with_nothing_to_report_is_ok_not_failed() -> None:
    samples, [result] = _split(run([FakeSampler("backup")], NOW, timer=ticking(0, 0)))
    assert samples == []
    assert result == SamplerRun("backup", ok=True, duration_ms=0.0, samples=0, error=None)


def test_sampler_run_on_the_wire() -> None:
    failed = SamplerRun("disks", ok=False, duration_ms=1.5, samples=0, error="OSError: x")
    assert failed.to_wire() == {"name": "disks", "ok": False, "duration_ms": 1.5,
                                "samples": 0, "error": "OSError: x"}


# --- smoke test on this machine: shape only, never values that depend on load ---------

def test_builtin_samplers_collect_on_this_host() -> None:
    samples, runs = _split(run(build(["cpu", "memory", "disks"]), time.time()))
    assert [(r.name, r.ok, r.error) for r in runs] == [
        ("cpu", True, None), ("memory", True, None), ("disks", True, None)]
    metrics = {s.metric for s in samples}
    assert {"cpu.percent", "cpu.core_percent", "cpu.load1", "cpu.load5", "cpu.load15",
            "memory.percent", "memory.available_bytes", "memory.total_bytes",
            "disk.free_bytes", "disk.free_percent", "disk.total_bytes"} <= metrics
    for s in samples:
        if s.metric.endswith("percent"):
            assert 0.0 <= s.value <= 100.0, s
        else:
            assert s.value >= 0.0, s
    roles = {s.labels["role"] for s in samples if s.metric == "disk.total_bytes"}
    assert "system" in roles
