"""The cpu sampler: parse on recorded psutil values; collect() with injected readers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from agent.samplers.cpu import CpuSampler, parse
from rules.model import Sample

FIXTURES = Path(__file__).parent.parent / "fixtures" / "psutil"
NOW = 1_700_000_000.0


def fixture(name: str) -> tuple[list[float], tuple[float, float, float]]:
    data = json.loads((FIXTURES / name).read_text())
    load1, load5, load15 = data["getloadavg"]
    return data["cpu_percent_percpu"], (load1, load5, load15)


def by_metric(samples: list[Sample], metric: str) -> list[Sample]:
    return [s for s in samples if s.metric == metric]


@pytest.mark.parametrize(
    ("name", "mean", "cores"),
    [
        ("linux_cpu.json", 50.35, [100.0, 0.7]),
        ("windows_cpu.json", 27.0, [23.1, 7.8, 64.6, 12.5]),
    ],
)
def test_cpu_percent_is_the_mean_of_the_cores(name: str, mean: float, cores: list[float]) -> None:
    percpu, load = fixture(name)
    samples = parse(percpu, load, NOW)
    [total] = by_metric(samples, "cpu.percent")
    assert total.value == pytest.approx(mean)
    assert [s.value for s in by_metric(samples, "cpu.core_percent")] == cores


def test_each_core_is_labelled_by_its_index() -> None:
    percpu, load = fixture("windows_cpu.json")
    cores = by_metric(parse(percpu, load, NOW), "cpu.core_percent")
    assert [dict(s.labels) for s in cores] == [{"core": "0"}, {"core": "1"}, {"core": "2"},
                                               {"core": "3"}]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("linux_cpu.json", (0.43994140625, 0.2724609375, 0.12744140625)),
        ("windows_cpu.json", (1.02, 0.87, 0.71)),
    ],
)
def test_load_averages_are_reported_as_read(
    name: str, expected: tuple[float, float, float]
) -> None:
    percpu, load = fixture(name)
    samples = parse(percpu, load, NOW)
    got = tuple(by_metric(samples, m)[0].value for m in ("cpu.load1", "cpu.load5", "cpu.load15"))
    assert got == expected


def test_every_sample_carries_the_given_time_and_no_stray_labels() -> None:
    percpu, load = fixture("linux_cpu.json")
    samples = parse(percpu, load, NOW)
    assert {s.at for s in samples} == {NOW}
    assert all(not s.labels for s in samples if s.metric != "cpu.core_percent")


def test_no_percent_samples_without_core_readings() -> None:
    samples = parse([], (0.5, 0.4, 0.3), NOW)
    assert [s.metric for s in samples] == ["cpu.load1", "cpu.load5", "cpu.load15"]


def test_idle_cpu_is_reported_as_zero_not_dropped() -> None:
    # 0.0 is a real reading once primed; only "no readings at all" means nothing to say.
    samples = parse([0.0, 0.0], (0.0, 0.0, 0.0), NOW)
    assert by_metric(samples, "cpu.percent")[0].value == 0.0


class FakeReaders:
    """Stands in for psutil: counts calls, returns fixed readings."""

    def __init__(self) -> None:
        self.cpu_calls = 0
        self.load_calls = 0

    def cpu_percent(self) -> list[float]:
        self.cpu_calls += 1
        return [40.0, 60.0]

    def loadavg(self) -> tuple[float, float, float]:
        self.load_calls += 1
        return (1.0, 2.0, 3.0)


def test_sampler_primes_cpu_percent_and_load_average_when_created() -> None:
    readers = FakeReaders()
    CpuSampler(cpu_percent=readers.cpu_percent, loadavg=readers.loadavg)
    assert (readers.cpu_calls, readers.load_calls) == (1, 1)


def test_first_collect_on_the_creating_thread_reports_cpu_percent() -> None:
    readers = FakeReaders()
    sampler = CpuSampler(cpu_percent=readers.cpu_percent, loadavg=readers.loadavg)
    assert by_metric(sampler.collect(NOW), "cpu.percent")[0].value == 50.0


def test_first_reading_on_a_new_thread_yields_no_cpu_percent() -> None:
    readers = FakeReaders()
    sampler = CpuSampler(cpu_percent=readers.cpu_percent, loadavg=readers.loadavg)
    results: list[list[Sample]] = []

    def twice() -> None:
        results.append(sampler.collect(NOW))
        results.append(sampler.collect(NOW + 10))

    worker = threading.Thread(target=twice)
    worker.start()
    worker.join()
    first, second = results
    assert by_metric(first, "cpu.percent") == []
    assert len(by_metric(first, "cpu.load1")) == 1
    assert by_metric(second, "cpu.percent")[0].value == 50.0


def test_sampler_declares_its_name_and_schedule() -> None:
    readers = FakeReaders()
    sampler = CpuSampler(cpu_percent=readers.cpu_percent, loadavg=readers.loadavg)
    assert (sampler.name, sampler.interval) == ("cpu", 10.0)
