"""The sampler registry: names from the agent's configuration to sampler factories.

Each sampler module registers itself with `@register("name")`; adding a sampler means
adding its file and one import line at the bottom of this module, never editing a switch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agent.samplers.base import (
    Checkpoint,
    Configurable,
    Inventory,
    Observation,
    Sampler,
    SamplerContext,
    SamplerRun,
)
from rules.model import Event, Sample

__all__ = ["SAMPLERS", "Checkpoint", "Collected", "Configurable", "Inventory", "Observation",
           "Sampler", "SamplerContext", "SamplerRun", "build", "register", "run"]

log = logging.getLogger(__name__)

SAMPLERS: dict[str, Any] = {}
"""Registered sampler classes (each a `Configurable`), by name."""

_S = TypeVar("_S", bound=type)


def register(name: str) -> Callable[[_S], _S]:
    """Class decorator: make the sampler class available to `build` under `name`."""

    def decorate(cls: _S) -> _S:
        # Both checks run before SAMPLERS is touched, so a bad registration changes nothing.
        if name in SAMPLERS:
            raise ValueError(f"sampler {name!r} is registered twice")
        declared = getattr(cls, "name", None)
        if declared != name:
            # The class's own `name` ends up in SamplerRun reports; it must match the
            # name the configuration uses, or runs would be reported under another name.
            raise TypeError(f"{cls.__name__}.name is {declared!r}, registered as {name!r}")
        SAMPLERS[name] = cls
        return cls

    return decorate


def build(names: Iterable[str], settings: Mapping[str, object] | None = None,
          ctx: SamplerContext | None = None) -> list[Sampler]:
    """Instantiate the named samplers, in the order given, from their validated settings
    (what each class's `configure` returned; missing means defaults)."""
    wanted = list(names)
    unknown = [n for n in wanted if n not in SAMPLERS]
    if unknown:
        raise ValueError(
            f"unknown sampler {', '.join(map(repr, unknown))}; "
            f"known samplers: {', '.join(sorted(SAMPLERS))}"
        )
    repeated = sorted({n for n in wanted if wanted.count(n) > 1})
    if repeated:
        # Two instances would report every series twice: surely a configuration mistake.
        raise ValueError(f"sampler listed more than once: {', '.join(map(repr, repeated))}")
    settings = settings or {}
    ctx = ctx or SamplerContext(Path("."), "localhost")
    return [SAMPLERS[n].create(settings.get(n), ctx) for n in wanted]


@dataclass
class Collected:
    """Everything one round of sampling produced, sorted by kind."""

    samples: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    inventory: list[Inventory] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    runs: list[SamplerRun] = field(default_factory=list)

    def add(self, observations: Iterable[Observation]) -> int:
        """File each observation under its kind; how many were samples, events or inventory."""
        found = 0
        for o in observations:
            if isinstance(o, Sample):
                self.samples.append(o)
            elif isinstance(o, Event):
                self.events.append(o)
            elif isinstance(o, Inventory):
                self.inventory.append(o)
            elif isinstance(o, Checkpoint):
                self.checkpoints.append(o)
                continue
            else:
                raise TypeError(f"a sampler yielded {type(o).__name__}, not an observation")
            found += 1
        return found


def run(
    samplers: Iterable[Sampler],
    now: float,
    timer: Callable[[], float] = time.perf_counter,
) -> Collected:
    """Run every sampler once; a sampler that raises is reported and the others still run."""
    out = Collected()
    for sampler in samplers:
        started = timer()
        try:
            got = list(sampler.collect(now))
            mine = Collected()
            count = mine.add(got)
        # Exception, not BaseException: Ctrl-C and SystemExit must still stop the agent.
        except Exception as exc:
            duration_ms = (timer() - started) * 1000.0
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            # No traceback at WARNING: a broken sampler fails on every tick and would flood
            # the log; the traceback is there at DEBUG for whoever investigates.
            log.warning("sampler %s failed: %s", sampler.name, error)
            log.debug("sampler %s traceback", sampler.name, exc_info=True)
            out.runs.append(SamplerRun(sampler.name, False, duration_ms, 0, error))
            continue
        duration_ms = (timer() - started) * 1000.0
        out.add(got)
        out.runs.append(SamplerRun(sampler.name, True, duration_ms, count, None))
    return out


# The built-in samplers register themselves on import. They are imported here, after
# `register` exists, and by name rather than by scanning the package, so that freezing the
# agent (e.g. for the Windows service) sees every sampler. One line per sampler.
from agent.samplers import antivirus as antivirus  # noqa: E402
from agent.samplers import backup as backup  # noqa: E402
from agent.samplers import cpu as cpu  # noqa: E402
from agent.samplers import disk as disk  # noqa: E402
from agent.samplers import eventlog as eventlog  # noqa: E402
from agent.samplers import inventory as inventory  # noqa: E402
from agent.samplers import memory as memory  # noqa: E402
from agent.samplers import updates as updates  # noqa: E402
