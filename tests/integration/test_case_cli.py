"""`watchkeeper case show|assign|note|hold|resume|resolve|close|reopen` and `ack`: the real
CLI against a real database, and the timeline a NOC engineer reads afterwards."""

from __future__ import annotations

import pytest

from collector.api.payload import parse_report
from collector.config import CollectorConfig
from collector.enrolment import Device, create_token, enroll
from collector.ingest import store_report
from collector.store.db import Database
from watchkeeper.cli import main

T0 = 1_800_000_000.0
FIRE = {"rule": "cpu_high", "state": "firing", "at": T0, "value": 97.0, "severity": 2,
        "summary": "CPU at 97%"}


@pytest.fixture
def db(config: CollectorConfig) -> Database:
    return Database(config.database)


@pytest.fixture
def device(db: Database, config: CollectorConfig) -> Device:
    token = create_token(db, "acme", 1, 3600, T0)
    return enroll(db, token, "srv1", config.heartbeat_for, T0)[0]


def report(db: Database, config: CollectorConfig, device: Device, seq: int, **t: object) -> None:
    store_report(db, config, device, parse_report(
        {"seq": seq, "sent_at": T0 + seq, "samples": [], "transitions": [{**FIRE, **t}]}),
        T0 + seq)


@pytest.fixture
def case(db: Database, config: CollectorConfig, device: Device) -> int:
    """Case 1: cpu_high fired on srv1, severity 2, nobody has touched it yet."""
    report(db, config, device, 0)
    return 1


def run(capsys: pytest.CaptureFixture[str], config: CollectorConfig,
        *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", str(config.source)])
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def show(capsys: pytest.CaptureFixture[str], config: CollectorConfig,
         number: int) -> tuple[list[str], list[tuple[str, str]]]:
    """The lines above the timeline, and the timeline as (kind, text) without the times."""
    code, out, _ = run(capsys, config, "case", "show", str(number))
    assert code == 0
    lines = out.splitlines()
    cut = lines.index("Timeline:")
    entries = []
    for line in lines[cut + 1:]:
        kind, text = line[len("  2027-01-15 08:00:00 UTC  "):].split(None, 1)
        entries.append((kind, text))
    return lines[:cut], entries


def state(db: Database, number: int) -> str:
    return db.conn.execute("SELECT state FROM cases WHERE id = ?", (number,)).fetchone()[0]


def test_a_case_from_assignment_to_closure_and_back(
        case: int, db: Database, config: CollectorConfig,
        capsys: pytest.CaptureFixture[str]) -> None:
    by = ("--by", "ops-manager")
    steps = [
        (("case", "assign", "1", "ops-manager", "--by", "vp-operations"),
         "Case 1 is assigned to ops-manager. It is not acknowledged yet, so its escalation goes"
         " on until someone runs: watchkeeper ack 1"),
        (("ack", "1", *by), "Case 1 acknowledged by ops-manager; its escalation has stopped."),
        (("case", "note", "1", "fan at 9000 rpm; checked the BMC log", "--minutes", "15", *by),
         "Note added to case 1; 15 min spent on it in all."),
        (("case", "hold", "1", "--reason", "awaiting-customer", "--note",
          "asked Acme for a maintenance slot", "--minutes", "5", *by),
         "Case 1 is on hold: awaiting customer. When work goes on: watchkeeper case resume 1"),
        (("case", "hold", "1", "--reason", "pending-fix", *by),
         "Case 1 is on hold: pending fix. When work goes on: watchkeeper case resume 1"),
        (("case", "resume", "1", "--note", "the vendor sent the fan", *by),
         "Case 1 is open again."),
        (("case", "resolve", "1", "--actions", "replaced the CPU fan", "--covered-by-sla", "yes",
          "--minutes", "40", *by),
         "Case 1 is resolved; close it with: watchkeeper case close 1"),
        (("case", "close", "1", *by), "Case 1 is closed."),
    ]
    for args, told in steps:
        assert run(capsys, config, *args) == (0, told, "")

    header, timeline = show(capsys, config, 1)
    assert header[0] == "Case #1  severity 2  closed  acme: srv1: CPU at 97%"
    assert header[1] == "  Assignee:       ops-manager"
    assert header[2].startswith("  Acknowledged:   by ops-manager via cli at ")
    assert header[3] == "  Time spent:     1 h"  # 15 + 5 + 40 minutes
    assert header[4].startswith("  Resolved:       by ops-manager at ")
    assert header[5:7] == ["  Actions taken:  replaced the CPU fan", "  Covered by SLA: yes"]
    assert header[7].startswith("  Closed:         by ops-manager at ")
    assert timeline == [
        ("opened", "Severity 2 case opened (rule): rule cpu_high fired on the agent, value 97"),
        ("escalation", "Escalation policy 'severity-2-3' with 1 step(s)"),
        ("assigned", "Assigned to ops-manager by vp-operations"),
        ("acknowledged", "Acknowledged by ops-manager via cli; escalation stopped (1 pending"
                         " step(s) and message(s) cancelled)"),
        ("note", "Note by ops-manager: fan at 9000 rpm; checked the BMC log (15 min)"),
        ("hold", "On hold (awaiting customer) by ops-manager: asked Acme for a maintenance slot"
                 " (5 min)"),
        ("hold", "Hold reason changed from awaiting customer to pending fix by ops-manager"),
        ("resumed", "Resumed by ops-manager (was on hold: pending fix): the vendor sent the fan"),
        ("resolved", "Resolved by ops-manager: replaced the CPU fan; covered by the SLA: yes"
                     " (40 min)"),
        ("closed", "Closed by ops-manager"),
    ]
    # Every change names who made it, for reports as well as for the eye.
    actors = [r[0] for r in db.conn.execute("SELECT actor FROM case_events ORDER BY id")]
    assert actors == [None, None, "vp-operations", *["ops-manager"] * 7]

    assert run(capsys, config, "case", "reopen", "1", "--reason", "the fan failed again",
               *by) == (0, "Case 1 is open again.", "")
    header, timeline = show(capsys, config, 1)
    assert header[0].startswith("Case #1  severity 2  open  ")
    assert not any(line.startswith(("  Resolved:", "  Closed:")) for line in header)
    assert header[3] == "  Time spent:     1 h"  # the work done stays counted
    assert timeline[-1] == ("reopened", "Reopened by ops-manager: the fan failed again")


def test_assigning_does_not_stop_the_escalation(case: int, db: Database,
                                                config: CollectorConfig,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, config, "case", "assign", "1", "vp-operations", "--by", "ops-manager")
    assert state(db, 1) == "new"
    pending = db.conn.execute("SELECT COUNT(*) FROM escalation_timers WHERE state = 'pending'")
    assert pending.fetchone()[0] == 1  # the page to ops-manager still goes out
    run(capsys, config, "case", "assign", "1", "ops-manager", "--by", "ops-manager")
    assert show(capsys, config, 1)[1][-1] == (
        "assigned", "Assigned to ops-manager by ops-manager (was vp-operations)")


@pytest.mark.parametrize(("args", "refusal"), [
    (("case", "hold", "1", "--reason", "research"),
     "watchkeeper: case 1: a case that is new cannot be put on hold (allowed: acknowledge,"
     " assign, note, resolve, close)"),
    (("case", "resume", "1"),
     "watchkeeper: case 1: a case that is new cannot be resumed (allowed: acknowledge, assign,"
     " note, resolve, close)"),
    (("case", "reopen", "1", "--reason", "why not"),
     "watchkeeper: case 1: a case that is new cannot be reopened (allowed: acknowledge,"
     " assign, note, resolve, close)"),
    (("case", "assign", "1", "bob"),
     "watchkeeper: 'bob' is not a [[person]] in the configuration (people: ops-manager,"
     " vp-operations)"),
    (("case", "note", "7", "hello"), "watchkeeper: there is no case 7"),
])
def test_a_refused_change_says_why_and_what_is_allowed(
        case: int, db: Database, config: CollectorConfig, capsys: pytest.CaptureFixture[str],
        args: tuple[str, ...], refusal: str) -> None:
    code, out, err = run(capsys, config, *args, "--by", "ops-manager")
    assert (code, out, err) == (1, "", refusal)
    assert state(db, 1) == "new"
    assert len(show(capsys, config, 1)[1]) == 2  # nothing went on the timeline


def test_a_closed_case_takes_no_more_notes_until_it_is_reopened(
        case: int, config: CollectorConfig, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, config, "case", "close", "1", "--by", "ops-manager")
    code, _, err = run(capsys, config, "case", "note", "1", "late remark", "--by", "ops-manager")
    assert (code, err) == (1, "watchkeeper: case 1: a case that is closed cannot be given a note"
                              " (allowed: reopen)")


def test_reopening_a_closed_case_is_refused_while_a_newer_one_covers_the_problem(
        case: int, db: Database, config: CollectorConfig, device: Device,
        capsys: pytest.CaptureFixture[str]) -> None:
    by = ("--by", "ops-manager")
    run(capsys, config, "case", "resolve", "1", "--actions", "killed a runaway job", *by)
    run(capsys, config, "case", "close", "1", *by)
    report(db, config, device, 1)  # cpu_high fires again: a new case, since 1 is closed
    assert state(db, 2) == "new"

    code, out, err = run(capsys, config, "case", "reopen", "1", "--reason", "same job", *by)
    assert (code, out) == (1, "")
    assert err == ("watchkeeper: case 1 cannot be reopened: case 2 (new) is already open for"
                   " the same device and problem; work on case 2, or close it first")
    assert (state(db, 1), state(db, 2)) == ("closed", "new")

    run(capsys, config, "case", "close", "2", *by)
    assert run(capsys, config, "case", "reopen", "1", "--reason", "same job", *by)[0] == 0
    assert (state(db, 1), state(db, 2)) == ("open", "closed")
    code, out, _ = run(capsys, config, "cases")
    assert code == 0 and [line.split()[:3] for line in out.splitlines()[1:]] == [
        ["1", "2", "open"]]


def test_a_resolved_case_is_reopened_without_paging_anyone(
        case: int, db: Database, config: CollectorConfig,
        capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, config, "case", "resolve", "1", "--actions", "restarted the service",
        "--covered-by-sla", "no", "--by", "ops-manager")
    header, _ = show(capsys, config, 1)
    assert "  Covered by SLA: no" in header
    assert run(capsys, config, "case", "reopen", "1", "--reason", "still slow", "--by",
               "ops-manager")[0] == 0
    assert state(db, 1) == "open"
    pending = db.conn.execute("SELECT COUNT(*) FROM escalation_timers WHERE state = 'pending'")
    assert pending.fetchone()[0] == 0


def test_by_defaults_to_the_login_name_and_a_stranger_is_recorded_with_a_warning(
        case: int, config: CollectorConfig, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "nightshift")
    code, out, err = run(capsys, config, "case", "note", "1", "customer called back")
    assert (code, out) == (0, "Note added to case 1; 0 min spent on it in all.")
    assert err == (f"watchkeeper: note: 'nightshift' is not a [[person]] in {config.source};"
                   " recorded as given")
    assert show(capsys, config, 1)[1][-1] == ("note", "Note by nightshift: customer called back")


def test_a_note_cannot_smuggle_control_characters_onto_the_timeline(
        case: int, config: CollectorConfig, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, config, "case", "note", "1", "line one\nline two\x1b[2J", "--by", "ops-manager")
    assert show(capsys, config, 1)[1][-1] == ("note", "Note by ops-manager: line one line two [2J")


def test_ack_twice_says_who_acknowledged_first(case: int, config: CollectorConfig,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, config, "ack", "1", "--by", "ops-manager")[0] == 0
    code, out, _ = run(capsys, config, "ack", "1", "--by", "vp-operations")
    assert code == 0 and out.startswith("Case 1 was already acknowledged by ops-manager via cli")


@pytest.mark.parametrize("minutes", ["0", "-5", "ten"])
def test_minutes_must_be_a_whole_positive_number(case: int, config: CollectorConfig,
                                                 capsys: pytest.CaptureFixture[str],
                                                 minutes: str) -> None:
    with pytest.raises(SystemExit) as done:
        main(["case", "note", "1", "x", "--minutes", minutes, "--config", str(config.source)])
    assert done.value.code == 2
    assert "must be a whole number from 1" in capsys.readouterr().err
