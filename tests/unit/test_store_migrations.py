from pathlib import Path

import pytest

from collector.store.db import Database, StoreError
from collector.store.migrations import MIGRATIONS


def test_a_new_database_gets_every_migration(tmp_path: Path) -> None:
    db = Database(tmp_path / "wk.db")
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    db = Database(tmp_path / "wk.db")
    with db.transaction() as conn:
        conn.execute("INSERT INTO collector_state (id, last_alive_at) VALUES (1, 5)")
    db.close()
    again = Database(tmp_path / "wk.db")
    assert again.conn.execute("SELECT last_alive_at FROM collector_state").fetchone()[0] == 5


def test_a_database_from_a_newer_version_is_refused_by_name(tmp_path: Path) -> None:
    db = Database(tmp_path / "wk.db")
    db.conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this watchkeeper"):
        Database(tmp_path / "wk.db")


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    db = Database(tmp_path / "wk.db")
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("INSERT INTO collector_state (id, last_alive_at) VALUES (1, 5)")
        raise RuntimeError("crash mid-write")
    assert db.conn.execute("SELECT COUNT(*) FROM collector_state").fetchone()[0] == 0
