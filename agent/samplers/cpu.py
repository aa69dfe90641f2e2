"""Processor load: average and per-core busy percentage, and the load averages."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import psutil

from agent.samplers import Configurable, register
from rules.model import Sample


def parse(percpu: Sequence[float], load: tuple[float, float, float], now: float) -> list[Sample]:
    """Samples from `psutil.cpu_percent(percpu=True)` and `psutil.getloadavg()`.

    No per-core readings (see `CpuSampler.collect`) means no percent samples at all, rather
    than a made-up 0 %.
    """
    samples: list[Sample] = []
    if percpu:
        # statistics.fmean's own formula, without the ~0.5 MiB of imports statistics brings
        # (decimal, fractions) into the agent.
        samples.append(Sample("cpu.percent", math.fsum(percpu) / len(percpu), now))
        samples.extend(
            Sample("cpu.core_percent", float(busy), now, {"core": str(core)})
            for core, busy in enumerate(percpu)
        )
    load1, load5, load15 = load
    samples.extend([
        Sample("cpu.load1", float(load1), now),
        Sample("cpu.load5", float(load5), now),
        Sample("cpu.load15", float(load15), now),
    ])
    return samples


def _cpu_percent_per_core() -> list[float]:
    return list(psutil.cpu_percent(percpu=True))


@register("cpu")
class CpuSampler(Configurable):
    name = "cpu"
    interval = 10.0

    def __init__(
        self,
        cpu_percent: Callable[[], list[float]] = _cpu_percent_per_core,
        loadavg: Callable[[], tuple[float, float, float]] = psutil.getloadavg,
    ) -> None:
        self._cpu_percent = cpu_percent
        self._loadavg = loadavg
        # psutil measures CPU use between two calls and keeps the earlier reading per
        # calling thread; a thread's first call has nothing to compare with and returns
        # 0.0 for every core. Prime it here so the first collect() reports real load...
        self._cpu_percent()
        self._threads_seen = {threading.get_ident()}
        # ...and start the load average now: on Windows psutil emulates it with a
        # background thread that answers (0.0, 0.0, 0.0) for its first ~5 seconds.
        self._loadavg()

    def collect(self, now: float) -> list[Sample]:
        percpu = self._cpu_percent()
        if self._first_call_on_this_thread():
            # A scheduler running jobs on a thread pool can call us from a thread psutil
            # has not seen: its answer is the meaningless 0.0s. Reporting them would look
            # like an idle CPU and resolve a firing "CPU high" case, so skip them once.
            percpu = []
        return parse(percpu, self._loadavg(), now)

    def _first_call_on_this_thread(self) -> bool:
        thread = threading.get_ident()
        if thread in self._threads_seen:
            return False
        self._threads_seen.add(thread)
        return True
