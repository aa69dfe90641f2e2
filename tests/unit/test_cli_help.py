import argparse

import pytest

from watchkeeper.cli import build_parser, main


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple]:
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*prefix, name))
    return found


ALL = commands(build_parser())


def test_the_expected_commands_exist() -> None:
    for cmd in [("demo",), ("collector", "init"), ("collector", "run"), ("token", "create"),
                ("agent", "enroll"), ("agent", "run"), ("rules", "check"), ("cases",),
                ("case", "show"), ("ack",), ("agent", "install"), ("agent", "uninstall"),
                ("maintenance", "add"), ("oncall",), ("api-token", "create"), ("case", "hold")]:
        assert cmd in ALL


@pytest.mark.parametrize("cmd", ALL, ids=lambda c: " ".join(c) or "watchkeeper")
def test_every_command_has_help(cmd: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*cmd, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: watchkeeper") and len(out.splitlines()) > 3
