"""Where `agent enroll` puts the agent's state."""

from __future__ import annotations

from pathlib import Path

from agent.cli import default_state_dir


def test_a_service_install_layout_keeps_state_where_the_sandbox_allows_writes() -> None:
    assert default_state_dir(Path("/etc/watchkeeper-agent/agent.toml")) == \
        "/var/lib/watchkeeper-agent"
    assert default_state_dir(Path("/srv/agents/agent.toml")) == "agent-state"
