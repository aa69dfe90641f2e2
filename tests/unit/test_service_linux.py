"""The pure parts of the systemd install: where state may live, how ExecStart words are quoted,
what is run after the unit is written. The unit itself is checked by systemd's own tools in
tests/integration/test_systemd_unit.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.service_linux import apply_commands, closed_directory, exec_word, state_dir_problem


@pytest.mark.parametrize(("state_dir", "ok"), [
    ("/var/lib/watchkeeper-agent", True),
    ("/var/lib/watchkeeper-agent/spool", True),
    ("/etc/watchkeeper-agent/agent-state", False),  # what enroll writes next to the config
    ("/var/lib/watchkeeper-agent-old", False),
    ("/home/admin/agent-state", False),
])
def test_state_must_live_in_the_state_directory(state_dir: str, ok: bool) -> None:
    why = state_dir_problem(Path(state_dir))
    assert (why is None) == ok
    if why:
        assert "ProtectSystem=strict" in why and state_dir in why


@pytest.mark.parametrize(("word", "argument", "written"), [
    ("/opt/watchkeeper-agent/bin/python", False, "/opt/watchkeeper-agent/bin/python"),
    ("/opt/wk agent/bin/python", False, '"/opt/wk agent/bin/python"'),
    ("/opt/100%/python", False, "/opt/100%%/python"),
    ("/opt/$dir/python", False, '"/opt/$dir/python"'),  # no variables in the program path
    ("/etc/$site/agent.toml", True, '"/etc/$$site/agent.toml"'),
    ('/etc/a"b\\c.toml', True, '"/etc/a\\"b\\\\c.toml"'),
])
def test_execstart_words_survive_systemd_parsing(word: str, argument: bool, written: str) -> None:
    assert exec_word(word, argument) == written


def test_a_line_break_cannot_be_written_into_execstart() -> None:
    with pytest.raises(ValueError, match="line break"):
        exec_word("/etc/agent\n.toml")


def test_install_restarts_only_when_asked_to_start() -> None:
    assert apply_commands(start=True) == [
        ["systemctl", "daemon-reload"], ["systemctl", "enable", "watchkeeper-agent.service"],
        ["systemctl", "restart", "watchkeeper-agent.service"]]
    assert ["systemctl", "restart", "watchkeeper-agent.service"] not in apply_commands(False)


def test_a_private_directory_on_the_way_to_the_interpreter_is_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths: pytest's own temp root is private
    tmp_path.chmod(0o755)
    python = Path("opt/bin/python3")
    python.parent.mkdir(parents=True)
    python.touch()
    assert closed_directory(python) is None
    Path("opt").chmod(0o700)  # like /root, where pyenv puts its Pythons
    assert closed_directory(python) == Path("opt")


def test_real_install_order_user_then_ownership_then_unit_then_systemctl(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The path that runs as root on a real host, with systemd's commands and chown recorded
    instead of done (the test machines run no systemd)."""
    from agent import service_linux

    config = tmp_path / "agent.toml"
    config.write_text('[agent]\ncollector_url = "https://noc.example:8470"\ndevice_id = "d"\n'
                      'credential_file = "agent.credential"\n'
                      'state_dir = "/var/lib/watchkeeper-agent"\nsamplers = ["cpu"]\n')
    (tmp_path / "agent.credential").write_text("secret\n")
    done: list[object] = []
    monkeypatch.setattr(service_linux.os, "geteuid", lambda: 0)
    monkeypatch.setattr(service_linux, "UNIT_PATH", tmp_path / "system" / "wk.service")
    monkeypatch.setattr(service_linux, "SYSUSERS_PATH", tmp_path / "sysusers.d" / "wk.conf")
    monkeypatch.setattr(service_linux, "_run", lambda argv: done.append(argv) or True)
    monkeypatch.setattr(service_linux.shutil, "chown",
                        lambda path, user, group: done.append(("chown", Path(path).name, group)))
    assert service_linux.install(config, None, start=True) == 0
    assert done == [
        ["systemd-sysusers", str(tmp_path / "sysusers.d" / "wk.conf")],
        ("chown", "agent.toml", "watchkeeper-agent"),
        ("chown", "agent.credential", "watchkeeper-agent"),
        *apply_commands(start=True)]
    assert (tmp_path / "system" / "wk.service").read_text().startswith("# Written by")
    assert oct(config.stat().st_mode & 0o777) == "0o640"
    assert "enabled and started" in capsys.readouterr().out
