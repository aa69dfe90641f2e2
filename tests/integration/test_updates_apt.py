"""The updates sampler against this host's real apt (Debian package apt).

apt-get's simulated dist-upgrade runs unprivileged and without apt's lock; its answer
depends on this host's package lists, so the test checks the sampler's figures against
the very output apt printed, not against fixed numbers, and that apt is not asked again
while the package state is unchanged.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.samplers import SamplerContext
from agent.samplers import _updates_apt as apt
from agent.samplers._command import CommandResult, run_command
from agent.samplers.updates import Manager, UpdatesSampler, UpdatesSettings

pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get")

NOW = 1_795_262_400.0


def test_sampler_reports_what_apt_itself_lists(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    printed: list[CommandResult] = []

    def recording(argv: Any, **kw: Any) -> CommandResult:
        printed.append(run_command(argv, **kw))
        return printed[-1]

    monkeypatch.setattr(apt, "run_command", recording)
    sampler = UpdatesSampler.create(UpdatesSettings(manager=Manager.APT),
                                    SamplerContext(tmp_path, "srv1"))
    got = {s.metric: s for s in sampler.collect(NOW)}

    (answer,) = printed
    assert answer.returncode == 0, answer.stderr
    inst = [ln for ln in answer.stdout.splitlines() if ln.startswith("Inst ")]
    security = [ln for ln in inst if "-security" in ln[ln.index("("):]]
    assert got["updates.pending"].value == len(inst) >= 0
    assert got["updates.security"].value == len(security) <= len(inst)
    assert got["updates.reboot_required"].value == float(apt.REBOOT_FLAG.exists())
    assert {s.labels["manager"] for s in got.values()} == {"apt"}
    assert all(float(s.value).is_integer() for s in got.values())

    # An hour later nothing has changed (no package installed, no `apt-get update`): the
    # same figures, at the new time, without running apt (~4 CPU s) again.
    hourly = sampler.collect(NOW + 3600)
    assert len(printed) == 1
    assert {s.metric: s.value for s in hourly} == {m: s.value for m, s in got.items()}
    assert {s.at for s in hourly} == {NOW + 3600}

