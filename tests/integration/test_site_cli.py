"""Sites from the command line: `token create --site` places the agents it enrols, and
`device set-site` moves a device, through the real CLI and a real database."""

from __future__ import annotations

import time

import pytest

from collector.config import CollectorConfig
from collector.enrolment import enroll
from collector.store.db import Database
from watchkeeper.cli import main

NOW = time.time()  # the CLI creates its tokens on the system clock


def run(config: CollectorConfig, capsys: pytest.CaptureFixture[str],
        *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", str(config.source)])
    out = capsys.readouterr()
    return code, out.out, out.err


def site_of(config: CollectorConfig, device_id: str) -> str | None:
    return Database(config.database).conn.execute(
        "SELECT site FROM devices WHERE id = ?", (device_id,)).fetchone()[0]


def test_a_token_with_a_site_places_the_devices_it_enrols(
        config: CollectorConfig, capsys: pytest.CaptureFixture[str]) -> None:
    code, token, told = run(config, capsys, "token", "create", "--customer", "acme",
                            "--uses", "2", "--site", " london ")
    assert code == 0 and "for acme at site london" in told
    db = Database(config.database)
    first, _ = enroll(db, token.strip(), "web-01", config.heartbeat_for, NOW)
    assert site_of(config, first.id) == "london"

    _, plain, told = run(config, capsys, "token", "create", "--customer", "acme")
    assert "at site" not in told
    other, _ = enroll(db, plain.strip(), "web-02", config.heartbeat_for, NOW)
    assert site_of(config, other.id) is None


def test_set_site_moves_a_device_and_none_takes_it_off(
        config: CollectorConfig, capsys: pytest.CaptureFixture[str]) -> None:
    _, token, _ = run(config, capsys, "token", "create", "--customer", "acme", "--uses", "2",
                      "--site", "london")
    db = Database(config.database)
    web1, _ = enroll(db, token.strip(), "web-01", config.heartbeat_for, NOW)
    enroll(db, token.strip(), "web-02", config.heartbeat_for, NOW)

    code, out, _ = run(config, capsys, "device", "set-site", "web-01", "paris")
    assert code == 0
    assert out == f"web-01 (device {web1.id}, customer acme) is at site paris (was london);" \
                  " 1 device(s) there.\n"
    assert site_of(config, web1.id) == "paris"
    code, out, _ = run(config, capsys, "device", "set-site", "web-01", "--none")
    assert code == 0 and "is at no site (was paris)" in out
    assert site_of(config, web1.id) is None


@pytest.mark.parametrize("args", [
    ["device", "set-site", "web-01"],  # neither a site nor --none
    ["device", "set-site", "web-01", "paris", "--none"],
    ["device", "set-site", "web-01", "par\nis"],  # would reach a page's subject
    ["token", "create", "--customer", "acme", "--site", "  "],
    ["token", "create", "--customer", "acme", "--site", "x" * 65],
])
def test_a_bad_site_argument_is_refused_with_a_reason(
        config: CollectorConfig, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*args, "--config", str(config.source)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "printable characters" in err or "not allowed with" in err or "required" in err


def test_set_site_names_an_unknown_device(config: CollectorConfig,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(config, capsys, "device", "set-site", "nope", "paris")
    assert code == 1 and "no device has the id or hostname 'nope'" in err
