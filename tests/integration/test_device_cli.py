"""`watchkeeper device show|inventory|events`, the real CLI against a real database: what a
NOC engineer reads about one device."""

from __future__ import annotations

import json

import pytest

from collector import device_view
from collector.api.payload import parse_report
from collector.config import CollectorConfig
from collector.enrolment import Device, create_token, enroll
from collector.ingest import store_report
from collector.store.db import Database
from rules.model import EventLevel
from tests.integration.test_query_plans import scans
from watchkeeper.cli import main

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
# In the shape of the agent's inventory sampler (agent/samplers/inventory.py `document`).
DOC_V1 = {
    "hostname": "srv1", "boot_time": 1_799_990_000,
    "os": {"name": "Ubuntu 22.04.3 LTS", "id": "ubuntu", "version": "22.04",
           "kernel": "5.15.0-91-generic", "arch": "x86_64"},
    "hardware": {"cpu_model": "Intel(R) Xeon(R) E-2236 CPU @ 3.40GHz", "cpu_logical": 12,
                 "cpu_physical": 6, "memory_bytes": 16 * 1024**3,
                 "machine": {"vendor": "Dell Inc.", "product": "PowerEdge R250"},
                 "disks": [{"device": "/dev/sda2", "mount": "/", "fstype": "ext4",
                            "total_bytes": 480 * 1024**3}],
                 "network": [{"name": "eno1", "mac": "b0:7b:25:00:00:01",
                              "addresses": ["192.0.2.10/24"]}]},
    "software": {"manager": "dpkg", "packages": [
        {"name": "openssl", "version": "3.0.2-0ubuntu1.12", "arch": "amd64"},
        {"name": "telnet", "version": "0.17-44build1", "arch": "amd64"}]},
}
DOC_V2 = {**DOC_V1,
          "os": {**DOC_V1["os"], "name": "Ubuntu 22.04.4 LTS", "kernel": "5.15.0-105-generic"},
          "hardware": {**DOC_V1["hardware"], "memory_bytes": 32 * 1024**3},
          "software": {"manager": "dpkg", "packages": [
              {"name": "openssl", "version": "3.0.2-0ubuntu1.15", "arch": "amd64"},
              {"name": "restic", "version": "0.12.1-2", "arch": "amd64"}]}}
LEVELS = ["info", "warning", "error", "debug", "critical"]


def report(db: Database, config: CollectorConfig, device: Device, seq: int,
           **fields: object) -> None:
    store_report(db, config, device, parse_report(
        {"seq": seq, "sent_at": T0 + seq, "samples": [], **fields}), T0 + seq)


@pytest.fixture
def fleet(config: CollectorConfig) -> dict[str, Device]:
    """srv1 with a history; quiet, enrolled and silent; two devices both called web01."""
    db = Database(config.database)
    token = create_token(db, "acme", 10, 3600, T0)
    devices = {name: enroll(db, token, host, config.heartbeat_for, T0)[0]
               for name, host in [("srv1", "srv1"), ("quiet", "quiet"), ("web_a", "web01"),
                                  ("web_b", "WEB01")]}
    srv1 = devices["srv1"]
    report(db, config, srv1, 0, inventory={"at": T0, "hash": "aa01", "doc": DOC_V1},
           events=[{"at": T0 + i, "log": "System", "source": "Service Control Manager",
                    "id": 7000 + i, "level": LEVELS[i % 5], "message": f"entry number {i}"}
                   for i in range(25)])
    report(db, config, srv1, 1, inventory={"at": T0 + 86400, "hash": "aa01", "doc": DOC_V1},
           dropped={"samples": 120, "events": 3, "transitions": 0, "reports": 2})
    report(db, config, srv1, 2, inventory={"at": T0 + 2 * 86400, "hash": "bb02", "doc": DOC_V2},
           dropped={"samples": 30, "events": 0, "transitions": 0, "reports": 1},
           events=[{"at": T0 + 100, "log": "Application", "source": "evil",
                    "id": 1, "level": "critical", "message": "\x1b[2Jwiped\nyour screen"}])
    return devices


def run(capsys: pytest.CaptureFixture[str], config: CollectorConfig,
        *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", str(config.source)])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_tells_status_drops_inventory_and_the_20_latest_events(
        fleet: dict[str, Device], config: CollectorConfig,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, config, "device", "show", "srv1")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"srv1 (device {fleet['srv1'].id}, customer acme)"
    assert "Status:        up" in lines
    assert "Last seen:     2027-01-15 08:00:02 UTC, report #2" in lines
    assert ("Spool drops:   150 samples, 3 events, 3 reports, announced by 2 report(s);"
            " latest 2027-01-15 08:00:02 UTC (report #2)") in lines
    assert lines[lines.index("Spool drops:   150 samples, 3 events, 3 reports, announced by 2"
                             " report(s); latest 2027-01-15 08:00:02 UTC (report #2)") + 1
                 ].startswith("Inventory:     as of 2027-01-17 08:00:00 UTC")
    for line in ["  OS:          Ubuntu 22.04.4 LTS", "  Kernel:      5.15.0-105-generic",
                 "  CPU:         Intel(R) Xeon(R) E-2236 CPU @ 3.40GHz, 6 cores, 12 threads",
                 "  Memory:      32.0 GiB", "  Packages:    2 (dpkg)"]:
        assert line in lines
    assert "Latest events (20 of 26, newest last):" in lines
    events = lines[lines.index("Latest events (20 of 26, newest last):") + 2:]
    assert len(events) == 20
    # The newest last; the oldest five of the 26 are not shown.
    assert "entry number 6" in events[0] and "wiped your screen" in events[-1]
    assert "entry number 5" not in out
    # Agent text never reaches the terminal with its control characters.
    assert "\x1b" not in out


def test_show_of_a_device_that_sent_nothing_yet(fleet: dict[str, Device],
                                                config: CollectorConfig,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, config, "device", "show", fleet["quiet"].id)
    assert code == 0
    assert "Last seen:     2027-01-15 08:00:00 UTC, no report yet" in out
    assert "Spool drops:   none" in out
    assert "Inventory:     none received yet" in out and "Events:        none received" in out


def test_a_hostname_is_matched_regardless_of_case(fleet: dict[str, Device],
                                                 config: CollectorConfig,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, config, "device", "show", "SRV1")
    assert code == 0 and fleet["srv1"].id in out.splitlines()[0]


def test_an_ambiguous_hostname_lists_the_ids_to_choose_from(
        fleet: dict[str, Device], config: CollectorConfig,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, config, "device", "events", "web01")
    assert code == 1 and out == ""
    assert err.startswith("watchkeeper: 2 devices have the hostname 'web01'; name one by its id")
    assert fleet["web_a"].id in err and fleet["web_b"].id in err
    code, out, _ = run(capsys, config, "device", "events", fleet["web_b"].id)
    assert code == 0 and out.startswith("No events from WEB01")


def test_an_unknown_device_is_an_error_naming_it(fleet: dict[str, Device],
                                                 config: CollectorConfig,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, config, "device", "inventory", "nosuch")
    assert (code, out) == (1, "")
    assert err == "watchkeeper: no device has the id or hostname 'nosuch'\n"


def test_inventory_prints_the_latest_document(fleet: dict[str, Device], config: CollectorConfig,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, config, "device", "inventory", "srv1")
    assert code == 0
    assert "  As of:       2027-01-17 08:00:00 UTC (version 2, hash bb02)" in out
    assert json.loads(out[out.index("\n{"):]) == DOC_V2
    code, out, _ = run(capsys, config, "device", "inventory", "srv1", "--json")
    latest = json.loads(out)
    assert (latest["version"], latest["hash"], latest["doc"]) == (2, "bb02", DOC_V2)


def test_inventory_history_says_what_changed_in_each_version(
        fleet: dict[str, Device], config: CollectorConfig,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, config, "device", "inventory", "srv1", "--history")
    assert code == 0
    assert out.splitlines() == [
        f"Configuration history of srv1 (device {fleet['srv1'].id}, customer acme):"
        " 2 version(s), oldest first",
        "Version 1  2027-01-15 08:00:00 UTC  first inventory: Ubuntu 22.04.3 LTS, 2 packages",
        "Version 2  2027-01-17 08:00:00 UTC  6 change(s)",
        "    os.kernel: 5.15.0-91-generic -> 5.15.0-105-generic",
        "    os.name: Ubuntu 22.04.3 LTS -> Ubuntu 22.04.4 LTS",
        "    hardware.memory_bytes: 16.0 GiB -> 32.0 GiB",
        "    package added: restic 0.12.1-2",
        "    package removed: telnet 0.17-44build1",
        "    package upgraded: openssl 3.0.2-0ubuntu1.12 -> 3.0.2-0ubuntu1.15",
    ]
    code, out, _ = run(capsys, config, "device", "inventory", "srv1", "--history", "--json")
    versions = json.loads(out)
    assert [v["version"] for v in versions] == [1, 2] and versions[0]["changes"] is None
    assert versions[1]["changes"]["packages_upgraded"] == [
        {"name": "openssl", "from": "3.0.2-0ubuntu1.12", "to": "3.0.2-0ubuntu1.15"}]


def test_inventory_of_a_device_without_one(fleet: dict[str, Device], config: CollectorConfig,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, config, "device", "inventory", "quiet")
    assert code == 0 and out.startswith("No inventory from quiet")
    assert run(capsys, config, "device", "inventory", "quiet", "--json")[1] == "null\n"


def test_events_filtered_by_level_and_limited(fleet: dict[str, Device], config: CollectorConfig,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, config, "device", "events", "srv1", "--level", "error",
                       "--limit", "4")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("The 4 latest events at level error or worse from srv1")
    body = lines[2:]
    # Every fifth entry is an error (2, 7 ... 22), every fifth critical (4, 9 ... 24); the
    # newest is the critical one from the later report.
    assert [line.split()[3] for line in body] == ["critical", "error", "critical", "critical"]
    assert [f"entry number {n}" in line for n, line in zip((19, 22, 24), body, strict=False)
            ] == [True, True, True]
    assert "wiped your screen" in body[3]


def test_events_limit_must_be_positive(config: CollectorConfig,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        run(capsys, config, "device", "events", "srv1", "--limit", "0")
    assert done.value.code == 2
    assert "--limit: must be a whole number from 1" in capsys.readouterr().err


def test_the_device_views_read_indexes_only(fleet: dict[str, Device],
                                            config: CollectorConfig) -> None:
    db = Database(config.database)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    for key in ("srv1", fleet["srv1"].id):
        device = device_view.find_device(db.conn, key)
    device_view.format_show(db.conn, device)
    device_view.format_events(db.conn, device, EventLevel.WARNING, 10)
    device_view.history(device_view.inventory_versions(db.conn, device["id"]))
    device_view.count_inventory(db.conn, device["id"])
    db.conn.set_trace_callback(None)
    assert len(statements) >= 8
    assert scans(db.conn, statements) == []
