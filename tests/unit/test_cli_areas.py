"""The dispatcher loads only the area of the command that runs: `watchkeeper agent run`
must not pay for the collector's, the rules' and the demo's command modules."""

from __future__ import annotations

import subprocess
import sys

import pytest

from watchkeeper.cli import build_parser, command_word
from watchkeeper.cli_registry import AREAS

OTHER_AREAS = ("collector.cli", "rules.cli", "watchkeeper.demo_cli")


@pytest.mark.parametrize("argv", [["agent", "run", "--config", "a.toml"],
                                  ["--log-level", "DEBUG", "agent", "run"],
                                  ["--log-level=DEBUG", "agent", "--help"]])
def test_an_agent_command_imports_no_other_areas_command_module(argv: list[str]) -> None:
    probe = ("import sys; from watchkeeper.cli import build_parser, command_word;"
             f" build_parser(command_word({argv!r}));"
             f" print([m for m in {OTHER_AREAS!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("argv", "word"), [
    (["agent", "run"], "agent"), (["--log-level", "ERROR", "cases"], "cases"),
    (["--log-level=INFO", "demo"], "demo"), (["--help"], None), ([], None)])
def test_the_command_word_is_found_after_the_global_options(argv: list[str],
                                                            word: str | None) -> None:
    assert command_word(argv) == word


def test_each_area_declares_exactly_the_commands_it_adds() -> None:
    # A command missing from its area's list still works, but loads every area.
    for area in AREAS:
        parser = build_parser(area.commands[0])
        sub = next(a for a in parser._actions if a.dest == "command")
        assert set(sub.choices) == set(area.commands), area.module


def test_an_unknown_command_is_refused_with_every_command_listed(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser(command_word(["nosuch"])).parse_args(["nosuch"])
    err = capsys.readouterr().err
    assert "invalid choice: 'nosuch'" in err
    for area in AREAS:
        assert all(c in err for c in area.commands)
