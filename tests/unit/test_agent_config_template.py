"""The configuration `agent enroll` writes documents every sampler's settings truthfully:
uncommented, the examples load (except paths that do not exist on this machine)."""

from __future__ import annotations

import re
from pathlib import Path

from agent.cli import _SAMPLER_SETTINGS
from agent.config import DEFAULT_SAMPLERS, load_agent_config
from agent.samplers import SAMPLERS
from watchkeeper.tomlconf import ConfigError


def test_every_default_sampler_is_registered() -> None:
    assert set(DEFAULT_SAMPLERS) <= set(SAMPLERS)


def test_the_commented_examples_are_real_settings(tmp_path: Path) -> None:
    (tmp_path / "cred").write_text("wkd.x.y")
    lines = [line[2:] if re.match(r"# (\[|[a-z_]+ = )", line) else line
             for line in _SAMPLER_SETTINGS.splitlines()]
    # The Windows-only keys are refused on Linux, by design; keep the rest.
    body = "\n".join(ln for ln in lines
                     if not ln.startswith(("windows_server_backup", "veeam", "channels")))
    (tmp_path / "agent.toml").write_text(
        '[agent]\ncollector_url = "https://noc.example"\ndevice_id = "d"\n'
        f'credential_file = "cred"\nsamplers = {list(DEFAULT_SAMPLERS)!r}\n'.replace("'", '"')
        + body)
    try:
        load_agent_config(tmp_path / "agent.toml")
    except ConfigError as exc:
        # Only "this path does not exist here" may be wrong with the examples.
        others = [p for p in exc.problems if "exist" not in p.reason
                  and "not a directory" not in p.reason
                  and "not found" not in p.reason and "not on PATH" not in p.reason]
        assert others == [], "\n".join(map(str, others))
