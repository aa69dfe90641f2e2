"""The eventlog sampler tailing a real file through logrotate's two rotation styles and an
agent restart: every warning line arrives once, in order."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from agent.samplers import Checkpoint, SamplerContext, build
from agent.samplers.eventlog import EventLogSampler
from agent.state import AgentState
from rules.model import Event
from watchkeeper.tomlconf import Table

NOW = 1_795_400_000.0


class Host:
    """A log file, a writer that numbers its lines, and an agent reading it."""

    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "syslog"
        self.state = AgentState(tmp_path / "state")
        self.ctx = SamplerContext(tmp_path / "state", "srv1")
        self.n = 0
        self.written: list[str] = []
        self.sampler = self.start()

    def start(self) -> EventLogSampler:
        t = Table({"journal": False, "files": [str(self.log)]}, "agent.toml", "sampler.eventlog")
        settings = EventLogSampler.configure(t)
        assert t.problems == []
        [sampler] = build(["eventlog"], {"eventlog": settings}, self.ctx)
        assert isinstance(sampler, EventLogSampler)
        return sampler

    def write(self, count: int) -> None:
        with self.log.open("a") as f:
            for _ in range(count):
                self.n += 1
                # Every other line is an error; the info lines must not be sent.
                what = f"job {self.n} failed" if self.n % 2 else f"job {self.n} done"
                f.write(f"2026-11-22T08:00:{self.n % 60:02d}+00:00 srv1 runner[7]: {what}\n")
                if self.n % 2:
                    self.written.append(what)

    def collect(self) -> list[str]:
        out = self.sampler.collect(NOW)
        # As the agent does once the report is spooled.
        self.state.save_checkpoints([o for o in out if isinstance(o, Checkpoint)])
        return [o.message for o in out if isinstance(o, Event)]


def test_nothing_lost_nothing_repeated_through_rotations_and_a_restart(tmp_path: Path) -> None:
    host = Host(tmp_path)
    host.write(4)
    host.written.clear()  # history from before the agent started is not sent
    got = host.collect()
    assert got == []

    host.write(6)
    got += host.collect()

    # logrotate, create mode: rename, new empty file, the daemon writes to the new one.
    host.write(3)
    os.rename(host.log, tmp_path / "syslog.1")
    host.log.touch()
    host.write(5)
    got += host.collect()

    # logrotate, copytruncate: copy away, truncate in place, writing goes on.
    host.write(4)
    shutil.copy(host.log, tmp_path / "syslog.1")
    with host.log.open("r+") as f:
        f.truncate(0)
    host.write(3)
    got += host.collect()

    # The agent restarts; meanwhile the file is rotated (create mode) again.
    host.write(2)
    host.sampler = host.start()
    os.replace(host.log, tmp_path / "syslog.1")
    host.write(7)
    got += host.collect()
    got += host.collect()

    assert got == host.written
    assert len(got) == len(set(got)) == 15
