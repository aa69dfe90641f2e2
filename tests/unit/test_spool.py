"""The on-disk spool: order, confirmation, crash leftovers, and what goes first when full."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from agent.spool import Spool


def report(seq: int, samples: int = 50, events: int = 0, transitions: int = 0) -> dict[str, Any]:
    return {
        "seq": seq, "sent_at": 1000.0 + seq,
        # Distinct values so gzip cannot squeeze the samples away to nothing.
        "samples": [{"metric": "cpu.percent", "value": seq * 1000 + i + 0.123456, "at": 1.0 * i,
                     "labels": {"core": str(i)}} for i in range(samples)],
        "events": [{"at": 1.0, "log": "journal", "source": "nginx", "id": 0, "level": "error",
                    "message": f"upstream timed out {seq}-{i}"} for i in range(events)],
        "transitions": [{"rule": "cpu_high", "state": "firing", "at": 1.0, "value": 95.0,
                         "severity": 2, "summary": "s", "labels": {}}
                        for _ in range(transitions)],
        "samplers": [], "inventory": None,
    }


def test_reports_come_back_oldest_first_until_confirmed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000_000)
    for seq in (3, 4, 5):
        spool.append(report(seq))
    assert spool.seqs() == [3, 4, 5]
    assert spool.read(3) == report(3)
    spool.remove(3)
    # A restarted agent finds exactly what was not confirmed.
    again = Spool(tmp_path, 10_000_000)
    assert again.seqs() == [4, 5]
    assert again.read(5) == report(5)


def test_a_write_cut_short_by_a_kill_is_discarded_at_start(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000_000)
    spool.append(report(1))
    (tmp_path / f"{2:020d}.full.json.gz.tmp").write_bytes(b"\x1f\x8b half a rep")
    again = Spool(tmp_path, 10_000_000)
    assert again.seqs() == [1]
    assert not list(tmp_path.glob("*.tmp"))


def test_a_damaged_file_is_set_aside_not_retried_forever(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000_000)
    spool.append(report(1))
    spool.append(report(2))
    [first, _] = sorted(tmp_path.glob("*.json.gz"))
    first.write_bytes(b"not gzip")
    again = Spool(tmp_path, 10_000_000)
    assert again.read(1) is None
    assert again.seqs() == [2]
    assert (tmp_path / (first.name + ".bad")).exists()


def test_a_full_spool_drops_metrics_before_events(tmp_path: Path) -> None:
    one = len(gzip.compress(json.dumps(report(0, samples=200, events=5)).encode()))
    spool = Spool(tmp_path, one * 6)
    for seq in range(12):
        spool.append(report(seq, samples=200, events=5, transitions=1))
    assert spool.size <= one * 6
    kept = {seq: spool.read(seq) for seq in spool.seqs()}
    # Every report is still there, with every event and transition...
    assert sorted(kept) == list(range(12))
    assert all(len(r["events"]) == 5 and len(r["transitions"]) == 1 for r in kept.values())
    # ...but the oldest lost their samples, and the newest kept theirs.
    assert kept[0]["samples"] == [] and len(kept[11]["samples"]) == 200
    dropped = [r["dropped"]["samples"] for r in kept.values() if "dropped" in r]
    thinned = sum(1 for r in kept.values() if not r["samples"])
    assert sum(dropped) == 200 * thinned
    assert all(r.get("dropped", {}).get("events", 0) == 0 for r in kept.values())


def test_only_when_no_metrics_are_left_do_whole_reports_go_and_are_counted(
        tmp_path: Path) -> None:
    one = len(gzip.compress(json.dumps(report(0, samples=0, events=40)).encode()))
    spool = Spool(tmp_path, one * 3)
    for seq in range(6):
        spool.append(report(seq, samples=0, events=40, transitions=2))
    assert spool.seqs() == [3, 4, 5] or spool.seqs() == [4, 5]
    newest = spool.read(5)
    total = {k: 0 for k in ("events", "transitions", "reports")}
    for seq in spool.seqs():
        for k in total:
            total[k] += (spool.read(seq) or {}).get("dropped", {}).get(k, 0)
    lost = 6 - len(spool.seqs())
    assert total == {"events": 40 * lost, "transitions": 2 * lost, "reports": lost}
    assert newest is not None and len(newest["events"]) == 40


def test_a_kill_while_thinning_keeps_the_thin_copy(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10_000_000)
    spool.append(report(7, events=1))
    full = next(tmp_path.glob("*.full.json.gz"))
    thin = report(7, samples=0, events=1)
    (tmp_path / full.name.replace(".full.", ".thin.")).write_bytes(
        gzip.compress(json.dumps(thin).encode()))
    again = Spool(tmp_path, 10_000_000)
    assert again.seqs() == [7]
    assert again.read(7) == thin
    assert not full.exists()
