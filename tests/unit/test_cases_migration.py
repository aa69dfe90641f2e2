"""Migration 3 (the whole case record, flapping) on a database made by the previous release:
its cases and timelines survive and can be worked with the new commands."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from collector import casework
from collector.config import Person
from collector.store.db import Database
from collector.store.migrations import MIGRATIONS


def test_a_version_2_database_keeps_its_cases_and_can_work_them(tmp_path: Path) -> None:
    path = tmp_path / "wk.db"
    old = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        old.executescript(script)
    old.execute("INSERT INTO cases (severity, customer, title, source, dedup_key, state,"
                " opened_at) VALUES (1, 'acme', 'srv1 is not reporting', 'heartbeat', 'd1',"
                " 'open', 5)")
    old.execute("INSERT INTO case_events (case_id, at, kind, text) VALUES"
                " (1, 5, 'opened', 'Severity 1 case opened')")
    old.execute("PRAGMA user_version=2")
    old.commit()
    old.close()

    db = Database(path)
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] >= 3
    case = db.conn.execute("SELECT * FROM cases").fetchone()
    assert (case["title"], case["assignee"], case["flapping_since"],
            case["resolved_automatically"], case["covered_by_sla"]) == (
        "srv1 is not reporting", None, None, 0, None)
    event = db.conn.execute("SELECT text, actor, minutes FROM case_events").fetchone()
    assert tuple(event) == ("Severity 1 case opened", None, 0)

    alice = Person("alice", "alice@noc.example")
    casework.assign(db, 1, "alice", (alice,), "alice", 10)
    assert casework.add_note(db, 1, "on it", "alice", 11, minutes=20) == 20
    assert db.conn.execute("SELECT assignee FROM cases").fetchone()[0] == "alice"
