"""`watchkeeper rules check`: exit codes and what the admin sees."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from rules.cli import add_parser, check
from rules.loader import RuleFileError, default_pack_path, load_rules

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rules"
REPO = Path(__file__).resolve().parents[2]


def main_parser() -> argparse.ArgumentParser:
    """A stand-in for the main `watchkeeper` CLI, wired the way it wires `add_parser`."""
    parser = argparse.ArgumentParser(prog="watchkeeper")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def broken_problems() -> list[str]:
    with pytest.raises(RuleFileError) as caught:
        load_rules(FIXTURES / "broken")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("path", "count"),
    [
        (FIXTURES / "good", "3 rules"),
        (FIXTURES / "good" / "20-disk.toml", "1 rules"),
        (default_pack_path(), "9 rules and 4 event rules"),
    ],
)
def test_check_prints_rule_count_and_version_and_returns_0(
    capsys: pytest.CaptureFixture[str], path: Path, count: str
) -> None:
    assert check(path) == 0
    out, err = capsys.readouterr()
    assert out == f"OK: {count} in {path} (version {load_rules(path).version})\n"
    assert err == ""


def test_check_prints_every_problem_on_its_own_stderr_line_and_returns_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = broken_problems()
    assert check(FIXTURES / "broken") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == expected
    assert len(expected) == 7


def test_check_of_a_missing_path_returns_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert check(tmp_path / "nope") == 1
    assert capsys.readouterr().err == f"{tmp_path / 'nope'}: no such file or directory\n"


@pytest.mark.parametrize(("path", "code"), [(FIXTURES / "good", 0), (FIXTURES / "broken", 1)])
def test_rules_check_through_the_main_parser_returns_the_exit_code(
    capsys: pytest.CaptureFixture[str], path: Path, code: int
) -> None:
    args = main_parser().parse_args(["rules", "check", str(path)])
    assert args.func(args) == code


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["rules", "--help"], "check"),
        (["rules", "check", "--help"], "a rule file or a directory of *.toml files"),
        (["--help"], "check and inspect rule packs"),
    ],
)
def test_help_describes_each_command(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main_parser().parse_args(argv)
    assert exited.value.code == 0
    assert expected in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["rules"], ["rules", "check"], ["rules", "lint", "x"]])
def test_incomplete_or_unknown_rules_command_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main_parser().parse_args(argv)
    assert exited.value.code == 2
    assert "usage: watchkeeper rules" in capsys.readouterr().err


@pytest.mark.parametrize(("path", "code"), [(FIXTURES / "good", 0), (FIXTURES / "broken", 1)])
def test_check_in_a_real_process_sets_the_exit_status(path: Path, code: int) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rules.cli import check\n"
        "sys.exit(check(Path(sys.argv[1])))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == code
    if code == 0:
        assert result.stdout.startswith(f"OK: 3 rules in {path} (version ")
        assert result.stderr == ""
    else:
        assert result.stdout == ""
        assert result.stderr.splitlines() == broken_problems()
