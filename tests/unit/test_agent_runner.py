"""The agent's report cycle without sockets: what is spooled, sent, kept and resumed.

The collector is a stand-in object with the client's two methods; the real collector is
exercised by the end-to-end tests (tests/e2e/test_agent_spool.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.pusher import PushError
from agent.runner import Agent
from agent.samplers import Checkpoint, Inventory, Observation, SamplerContext
from rules.loader import default_pack_path, load_rules
from rules.model import Event, EventLevel, Sample
from watchkeeper.clock import FakeClock


class Collector:
    """Answers like the real one: {"rules_version": ...}, or raises PushError on cue."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail: PushError | None = None

    def report(self, credential: str, report: dict[str, Any]) -> dict[str, Any]:
        if self.fail:
            raise self.fail
        self.received.append(report)
        return {"rules_version": None}

    def rules(self, credential: str) -> dict[str, Any]:
        raise AssertionError("not asked for")


class Source:
    name = "journalish"
    interval = 10.0

    def __init__(self) -> None:
        self.cursor = 0

    def collect(self, now: float) -> list[Observation]:
        self.cursor += 1
        return [Sample("cpu.percent", 50.0, now),
                Event(now, "journal", "nginx", 0, EventLevel.ERROR, f"boom {self.cursor}"),
                Inventory(now, {"os": "Debian 12"}),
                Checkpoint("journalish", {"cursor": self.cursor})]


def make(tmp_path: Path, collector: Collector) -> tuple[Agent, Source]:
    (tmp_path / "cred").write_text("wkd.x.y")
    config = AgentConfig(
        source=tmp_path / "agent.toml", collector_url="http://127.0.0.1:1", device_id="d1",
        hostname="web-01", credential_file=tmp_path / "cred", state_dir=tmp_path / "state",
        interval=60.0, allow_plain_http=True, ca_file=None, samplers=("journalish",))
    source = Source()
    agent = Agent(config, collector, FakeClock(), [source])  # type: ignore[arg-type]
    agent.state.save_rules(load_rules(default_pack_path()))
    agent.evaluator.replace_pack(load_rules(default_pack_path()), 0)
    return agent, source


def test_one_report_carries_samples_events_their_rule_transitions_and_inventory(
        tmp_path: Path) -> None:
    collector = Collector()
    agent, source = make(tmp_path, collector)
    agent.sample([source])
    agent.push()
    [report] = collector.received
    assert [e["message"] for e in report["events"]] == ["boom 1"]
    assert [t["rule"] for t in report["transitions"]] == ["eventlog_critical"]
    assert report["inventory"]["doc"] == {"os": "Debian 12"}
    assert len(agent.spool) == 0  # confirmed, so gone from disk


def test_checkpoints_are_saved_once_their_report_is_spooled_even_if_not_yet_sent(
        tmp_path: Path) -> None:
    collector = Collector()
    collector.fail = PushError("connection refused")
    agent, source = make(tmp_path, collector)
    ctx = SamplerContext(agent.config.state_dir, "web-01")
    agent.sample([source])
    assert ctx.saved("journalish") is None  # read, but not yet safe on disk
    agent.push()
    assert ctx.saved("journalish") == {"cursor": 1}
    assert len(agent.spool) == 1


def test_spooled_reports_go_out_in_order_when_the_collector_returns(tmp_path: Path) -> None:
    collector = Collector()
    collector.fail = PushError("connection refused")
    agent, source = make(tmp_path, collector)
    for _ in range(3):
        agent.sample([source])
        agent.push()
    collector.fail = None
    agent.push()
    assert [r["seq"] for r in collector.received] == [0, 1, 2, 3]
    assert len(agent.spool) == 0


def test_a_report_refused_for_good_is_dropped_and_does_not_block_the_rest(
        tmp_path: Path) -> None:
    collector = Collector()
    agent, _ = make(tmp_path, collector)
    collector.fail = PushError("400: samples[0].value: must be a finite number", status=400)
    agent.push()
    assert len(agent.spool) == 0
    collector.fail = None
    agent.push()
    assert [r["seq"] for r in collector.received] == [1]


def test_a_restarted_agent_resends_what_its_predecessor_spooled(tmp_path: Path) -> None:
    collector = Collector()
    collector.fail = PushError("connection refused")
    first, source = make(tmp_path, collector)
    first.sample([source])
    first.push()
    collector.fail = None
    second, _ = make(tmp_path, collector)
    second.push()
    assert [r["seq"] for r in collector.received] == [0, 1]
    assert collector.received[0]["events"][0]["message"] == "boom 1"


def test_a_burst_of_events_goes_out_over_several_reports_the_collector_accepts(
        tmp_path: Path) -> None:
    collector = Collector()
    agent, _ = make(tmp_path, collector)
    agent.events = [Event(float(i), "journal", "x" * 300, 0, EventLevel.WARNING, "m")
                    for i in range(6001)]
    agent.push()
    agent.push()
    assert [len(r["events"]) for r in collector.received] == [5000, 1001]
    assert len(collector.received[0]["events"][0]["source"]) == 256
