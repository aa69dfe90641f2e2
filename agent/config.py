"""The agent's configuration file, written by `watchkeeper agent enroll`."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from watchkeeper.tomlconf import ConfigError, Table, read_toml

DEFAULT_SAMPLERS = ("cpu", "memory", "disks", "eventlog", "backup", "antivirus", "updates",
                    "inventory")


@dataclass(frozen=True, slots=True)
class AgentConfig:
    source: Path
    collector_url: str
    device_id: str
    hostname: str
    credential_file: Path
    state_dir: Path
    interval: float
    allow_plain_http: bool
    ca_file: Path | None
    samplers: tuple[str, ...]
    sampler_settings: Mapping[str, object] = field(default_factory=dict)
    """What each sampler's `configure` made of its `[sampler.NAME]` table."""
    sampler_intervals: Mapping[str, float] = field(default_factory=dict)
    """Schedules overridden with `[sampler.NAME] interval`."""
    spool_max_bytes: int = 64 * 1024 * 1024

    def credential(self) -> str:
        return self.credential_file.read_text().strip()


def check_url(url: str, allow_plain_http: bool) -> str | None:
    """Why `url` cannot be the collector's address, or None when it can."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    if parts.scheme == "http" and not allow_plain_http:
        return (f"{url!r} is plain HTTP: the credential would cross the network in clear;"
                " use https, or allow_plain_http for a test set-up")
    return None


def _sampler_settings(t: Table, a: Table,
                      names: list[str]) -> tuple[dict[str, object], dict[str, float]]:
    """Validate `[sampler.NAME]` tables through each sampler's own `configure`."""
    from agent.samplers import SAMPLERS

    tables = t.table("sampler")
    settings: dict[str, object] = {}
    intervals: dict[str, float] = {}
    for name in names:
        if name not in SAMPLERS:
            a.problem("samplers", f"no sampler named {name!r} (known: {', '.join(SAMPLERS)})")
            continue
        sub = tables.table(name)
        if (every := sub.duration("interval", None, positive=True)) is not None:
            intervals[name] = every
        settings[name] = SAMPLERS[name].configure(sub)
    for extra in sorted(set(tables.data) - set(names)):
        # (instead of tables.done(): "unknown key" would not say what is wrong)
        tables.problem(extra, "settings for a sampler that is not in agent.samplers")
    return settings, intervals


def load_agent_config(path: Path) -> AgentConfig:
    path = path.resolve()
    t = Table(read_toml(path), str(path))
    a = t.table("agent", required=True)
    url = a.str("collector_url")
    allow_plain = a.bool("allow_plain_http", False)
    if url is not None and (why := check_url(url, bool(allow_plain))):
        a.problem("collector_url", why)
    ca = a.str("ca_file", "")
    samplers = a.str_list("samplers", list(DEFAULT_SAMPLERS))
    spool_kib = a.int("spool_max_kib", 65536, minimum=16)
    settings, intervals = _sampler_settings(t, a, samplers or [])
    config = AgentConfig(
        source=path, collector_url=(url or "").rstrip("/"), device_id=a.str("device_id") or "",
        hostname=a.str("hostname", socket.gethostname()) or socket.gethostname(),
        credential_file=path.parent / (a.str("credential_file", "credential") or "credential"),
        state_dir=path.parent / (a.str("state_dir", "state") or "state"),
        interval=a.duration("interval", "60s", positive=True) or 60.0,
        allow_plain_http=bool(allow_plain), ca_file=(path.parent / ca) if ca else None,
        samplers=tuple(samplers or DEFAULT_SAMPLERS), sampler_settings=settings,
        sampler_intervals=intervals, spool_max_bytes=(spool_kib or 65536) * 1024,
    )
    if not config.credential_file.is_file():
        a.problem("credential_file", f"{config.credential_file} does not exist; enrol the agent"
                  " with `watchkeeper agent enroll`")
    a.done()
    t.done()
    if t.problems:
        raise ConfigError(t.problems)
    return config
