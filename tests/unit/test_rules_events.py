"""Event rules: how the default pack judges event-log entries, and how bad ones are refused."""

from __future__ import annotations

import tomllib

import pytest

from rules.evaluator import Evaluator
from rules.loader import default_pack_path, load_rules, parse_rules
from rules.model import Event, EventLevel, RulePack, TransitionKind

PACK = load_rules(default_pack_path())


def event(source: str, event_id: int, level: EventLevel, message: str = "it broke",
          at: float = 1000.0, log: str = "System") -> Event:
    return Event(at, log, source, event_id, level, message)


def judge(*events: Event) -> list[tuple[str, int, float, str]]:
    ev = Evaluator(PACK, host_labels={"host": "web-01"})
    return sorted((t.rule, t.severity, t.value, t.summary) for t in ev.observe_events(events))


def test_an_error_entry_opens_a_severity_2_case_naming_host_source_and_id() -> None:
    got = judge(event("Service Control Manager", 7031, EventLevel.ERROR,
                      "The Print Spooler service terminated unexpectedly."))
    assert got == [("eventlog_critical", 2, 1.0,
                    "error event on web-01: Service Control Manager 7031 in System: "
                    "The Print Spooler service terminated unexpectedly.")]


def test_a_warning_is_severity_3_and_information_is_ignored() -> None:
    got = judge(event("disk", 51, EventLevel.WARNING), event("EventLog", 6005, EventLevel.INFO))
    assert [(r, s) for r, s, *_ in got] == [("eventlog_warning", 3)]


def test_entries_on_the_ignore_list_do_not_fire() -> None:
    assert judge(event("Microsoft-Windows-DistributedCOM", 10016, EventLevel.ERROR)) == []
    # ...but the same source with another ID still does.
    assert len(judge(event("Microsoft-Windows-DistributedCOM", 10010, EventLevel.ERROR))) == 1


def test_repeats_of_one_source_and_id_become_one_transition_quoting_the_latest() -> None:
    got = judge(*(event("nginx", 0, EventLevel.ERROR, f"upstream timed out #{i}", at=1000 + i,
                        log="journal") for i in range(50)))
    assert len(got) == 1
    assert got[0][2] == 50.0
    assert got[0][3].endswith("upstream timed out #49")


def test_a_defender_detection_fires_the_antivirus_rule_not_the_warning_rule() -> None:
    got = judge(event("Microsoft-Windows-Windows Defender", 1116, EventLevel.WARNING,
                      "Threat Name: Trojan:Win32/Wacatac", log="Microsoft-Windows-Windows"
                      " Defender/Operational"))
    assert [(r, s) for r, s, *_ in got] == [("av_detection", 2)]


def test_clamav_found_lines_fire_but_its_other_lines_do_not() -> None:
    found = event("clamd", 0, EventLevel.INFO, "/home/x/eicar.com: Eicar-Signature FOUND",
                  log="journal")
    ok = event("clamd", 0, EventLevel.INFO, "SelfCheck: Database status OK.", log="journal")
    assert [r for r, *_ in judge(found, ok)] == ["av_detection_clamav"]


def test_event_transitions_carry_stable_labels_for_case_dedup() -> None:
    ev = Evaluator(PACK, host_labels={"host": "web-01"})
    [t] = ev.observe_events([event("disk", 7, EventLevel.ERROR)])
    assert t.kind is TransitionKind.FIRING
    assert t.labels == {"host": "web-01", "log": "System", "source": "disk", "id": "7"}


def test_event_rules_survive_the_wire_and_change_the_pack_version() -> None:
    again = RulePack.from_wire(PACK.to_wire())
    assert again == PACK and again.version == PACK.version
    assert RulePack(PACK.rules).version != PACK.version


@pytest.mark.parametrize(("toml", "key", "reason"), [
    ('[[event_rule]]\nname="x"\nseverity=2\nsummary="s"\n[event_rule.match]\nlevels=["fatal"]',
     "match.levels", "'fatal' is not a level"),
    ('[[event_rule]]\nname="x"\nseverity=2\nsummary="s"\n[event_rule.match]\nids=["7"]',
     "match.ids", "expected a list of event IDs"),
    ('[[event_rule]]\nname="x"\nseverity=2\nsummary="s"\nmatch={}', "match",
     "matches every event"),
    ('[[event_rule]]\nname="x"\nseverity=2\nsummary="{value} {mount}"\nmatch={ids=[1]}',
     "summary", "unknown field {mount}"),
    ('[[event_rule]]\nname="x"\nseverity=2\nsummary="s"\nmatch={ids=[1]}\n'
     '[[event_rule.ignore]]\nsource="typo"', "ignore[0].source", "unknown key"),
    ('[[event_rule]]\nname="x"\nseverity=2\nsummary="s"', "match", "missing"),
])
def test_bad_event_rules_name_the_rule_and_key(toml: str, key: str, reason: str) -> None:
    rules, problems = parse_rules(tomllib.loads(toml), "ev.toml")
    assert rules == []
    assert any(p.key == key and reason in p.reason and p.rule == "x" for p in problems), problems
