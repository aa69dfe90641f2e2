"""Migration 2 (events, inventory, spool drops) on a database made by the previous release."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from collector.store.db import Database
from collector.store.migrations import MIGRATIONS


def test_a_version_1_database_is_upgraded_and_keeps_its_devices(tmp_path: Path) -> None:
    path = tmp_path / "wk.db"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0])
    old.execute("INSERT INTO devices (id, customer, hostname, credential_hash, enrolled_at,"
                " interval, grace, missed_before_case, last_seen) VALUES"
                " ('d1', 'acme', 'srv1', 'h', 1, 60, 30, 5, 1)")
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()

    db = Database(path)
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] >= 2  # later migrations build on it
    assert db.conn.execute("SELECT hostname FROM devices").fetchone()[0] == "srv1"
    tables = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"events", "inventory", "spool_drops"} <= tables
    indexes = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"events_device_at", "inventory_device", "devices_hostname"} <= indexes
