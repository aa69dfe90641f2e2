"""The eventlog sampler: its settings, the ignore list, and positions kept only on success."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.samplers import SAMPLERS, Checkpoint, SamplerContext, build, run
from agent.samplers.eventlog import (
    EventLogSampler,
    EventLogSettings,
    Ignore,
    checkpoint_key,
    keep,
)
from agent.state import AgentState
from rules.model import Event, EventLevel
from watchkeeper.tomlconf import Table

NOW = 1_795_400_000.0


def configure(data: dict[str, Any]) -> tuple[EventLogSettings, list[str]]:
    t = Table(data, "agent.toml", "sampler.eventlog")
    settings = EventLogSampler.configure(t)
    return settings, [str(p) for p in t.problems]


def event(source: str = "app", level: EventLevel = EventLevel.ERROR, event_id: int = 0,
          message: str = "m") -> Event:
    return Event(NOW, "System", source, event_id, level, message)


# --- settings ---------------------------------------------------------------------------

def test_registered_with_its_schedule() -> None:
    assert SAMPLERS["eventlog"] is EventLogSampler
    assert EventLogSampler.interval == 30.0


def test_defaults() -> None:
    settings, problems = configure({})
    assert problems == []
    assert settings == EventLogSettings()
    assert (settings.min_level, settings.first_read, settings.journal, settings.files,
            settings.channels) == (EventLevel.WARNING, 3600.0, True, (),
                                   ("System", "Application"))


def test_every_setting(tmp_path: Path) -> None:
    settings, problems = configure({
        "min_level": "error", "first_read": "15m", "journal": True,
        "journal_directory": str(tmp_path), "files": ["/var/log/syslog"],
        "channels": ["System", "Microsoft-Windows-Backup"],
        "ignore": [{"source": "Microsoft-Windows-DistributedCOM", "ids": [10016]},
                   {"source": "nginx"}],
    })
    assert problems == []
    assert settings == EventLogSettings(
        min_level=EventLevel.ERROR, first_read=900.0, journal=True,
        journal_directory=tmp_path, files=("/var/log/syslog",),
        channels=("System", "Microsoft-Windows-Backup"),
        ignore=(Ignore("Microsoft-Windows-DistributedCOM", frozenset({10016})),
                Ignore("nginx")))


@pytest.mark.parametrize(
    ("data", "problem"),
    [({"min_level": "notice"},
      "agent.toml: sampler.eventlog.min_level: 'notice' is not allowed; one of: critical,"),
     ({"journal": "yes"}, "sampler.eventlog.journal: must be true or false"),
     ({"first_read": "an hour"}, "sampler.eventlog.first_read: 'an hour' is not a duration"),
     ({"files": "/var/log/syslog"}, "sampler.eventlog.files: must be a list of strings"),
     ({"files": ["syslog"]}, "sampler.eventlog.files: 'syslog' is not an absolute path"),
     ({"files": ["/var/log/a b", "/var/log/a_b"]},
      "sampler.eventlog.files: '/var/log/a b' and '/var/log/a_b' are too alike"),
     ({"channels": ["System", " "]}, "sampler.eventlog.channels: a channel name must not be"),
     ({"journal_directory": "/nonexistent/journal"},
      "sampler.eventlog.journal_directory: '/nonexistent/journal' is not a directory"),
     ({"journal_directory": "/", "journal": False},
      "sampler.eventlog.journal_directory: is set, but journal = false"),
     ({"ignore": {"source": "x"}}, "sampler.eventlog.ignore: must be an array of tables"),
     ({"ignore": [{"ids": [1]}]}, "sampler.eventlog.ignore[0].source: is required"),
     ({"ignore": [{"source": ""}]}, "sampler.eventlog.ignore[0].source: must not be empty"),
     ({"ignore": [{"source": "x", "ids": []}]},
      "sampler.eventlog.ignore[0].ids: must be a non-empty list of whole numbers from 0 to"),
     ({"ignore": [{"source": "x", "ids": ["10016"]}]}, "sampler.eventlog.ignore[0].ids: must"),
     ({"ignore": [{"source": "x", "id": [1]}]}, "sampler.eventlog.ignore[0].id: unknown key"),
     ({"channel": ["System"]}, "sampler.eventlog.channel: unknown key")],
)
def test_bad_settings_name_the_key_and_reason(data: dict[str, Any], problem: str) -> None:
    _, problems = configure(data)
    assert any(problem in p for p in problems), problems


# --- what is kept -----------------------------------------------------------------------

def test_keeps_min_level_and_worse() -> None:
    levels = list(EventLevel)
    kept = keep([event(level=lv) for lv in levels], EventLevel.ERROR, ())
    assert [e.level for e in kept] == [EventLevel.CRITICAL, EventLevel.ERROR]


def test_ignore_by_source_and_ids() -> None:
    rules = (Ignore("Microsoft-Windows-DistributedCOM", frozenset({10016})), Ignore("nginx"))
    events = [event("Microsoft-Windows-DistributedCOM", event_id=10016),
              event("microsoft-windows-distributedcom", event_id=10016),  # any case
              event("Microsoft-Windows-DistributedCOM", event_id=10010),  # another ID
              event("nginx", event_id=0), event("sshd")]
    assert [(e.source, e.event_id) for e in keep(events, EventLevel.WARNING, rules)] == [
        ("Microsoft-Windows-DistributedCOM", 10010), ("sshd", 0)]


@pytest.mark.parametrize(
    ("prefix", "name", "key"),
    [("eventlog.file", "/var/log/syslog", "eventlog.file.var_log_syslog"),
     ("eventlog.file", "/var/log/nginx/error.log", "eventlog.file.var_log_nginx_error.log"),
     ("eventlog.win", "Microsoft-Windows-Backup", "eventlog.win.Microsoft-Windows-Backup"),
     ("eventlog.win", "Microsoft-Windows-Windows Defender/Operational",
      "eventlog.win.Microsoft-Windows-Windows_Defender_Operational")],
)
def test_checkpoint_keys_are_file_names(prefix: str, name: str, key: str) -> None:
    assert checkpoint_key(prefix, name) == key


# --- collect ----------------------------------------------------------------------------

@dataclass
class FakeSource:
    key: str
    batches: list[Any] = field(default_factory=list)
    seen: list[Mapping[str, Any] | None] = field(default_factory=list)

    def read(self, state: Mapping[str, Any] | None,
             now: float) -> tuple[list[Event], dict[str, Any] | None]:
        self.seen.append(state)
        batch = self.batches.pop(0)
        if isinstance(batch, BaseException):
            raise batch
        return batch


def test_collect_yields_events_and_positions() -> None:
    a = FakeSource("eventlog.journal", [([event("kernel", EventLevel.WARNING),
                                          event("sshd", EventLevel.INFO)], {"cursor": "c1"})])
    sampler = EventLogSampler(EventLogSettings(), [a])
    out = sampler.collect(NOW)
    assert out == [event("kernel", EventLevel.WARNING),
                   Checkpoint("eventlog.journal", {"cursor": "c1"})]


def test_next_run_starts_from_the_position_of_the_last() -> None:
    a = FakeSource("k", [([event()], {"cursor": "c1"}), ([], {"cursor": "c1"})])
    sampler = EventLogSampler(EventLogSettings(), [a], {"k": {"cursor": "c0"}})
    sampler.collect(NOW)
    sampler.collect(NOW + 30)
    assert a.seen == [{"cursor": "c0"}, {"cursor": "c1"}]


def test_a_failing_source_fails_the_run_and_moves_no_position() -> None:
    good = FakeSource("good", [([event()], {"n": 1}), ([event()], {"n": 1})])
    bad = FakeSource("bad", [PermissionError("/var/log/messages: permission denied"),
                             ([], {"n": 9})])
    sampler = EventLogSampler(EventLogSettings(), [good, bad], {"good": {"n": 0}})
    result = run([sampler], NOW)
    assert result.runs[0].ok is False
    assert result.runs[0].error == "RuntimeError: bad: /var/log/messages: permission denied"
    assert result.events == [] and result.checkpoints == []
    # The next run reads again from where the last successful one left off.
    sampler.collect(NOW + 30)
    assert good.seen == [{"n": 0}, {"n": 0}]


def test_nothing_found_and_no_position_yields_nothing() -> None:
    sampler = EventLogSampler(EventLogSettings(), [FakeSource("k", [([], None)])])
    assert sampler.collect(NOW) == []


def test_create_resumes_from_saved_checkpoints(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    settings = EventLogSettings(journal=False, files=(str(log),))
    ctx = SamplerContext(tmp_path, "srv1")
    [first] = build(["eventlog"], {"eventlog": settings}, ctx)
    [cp] = first.collect(NOW)
    assert isinstance(cp, Checkpoint)
    assert cp.key == checkpoint_key("eventlog.file", str(log))
    # The agent saves the checkpoint once the report is spooled; a restarted agent picks
    # it up.
    AgentState(tmp_path).save_checkpoints([cp])
    log.write_text("Nov 21 23:00:00 srv1 app: backup failed\n")
    [again] = build(["eventlog"], {"eventlog": settings}, ctx)
    events = [o for o in again.collect(NOW) if isinstance(o, Event)]
    assert [e.message for e in events] == ["backup failed"]
