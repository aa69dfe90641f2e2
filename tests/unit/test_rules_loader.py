"""TOML rule files -> RulePack: what is accepted, and how each problem is named."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from rules.loader import (
    RuleFileError,
    RuleProblem,
    default_pack_path,
    load_rules,
    parse_rules,
)
from rules.model import Op, RulePack

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rules"

# A valid rule as TOML lines; cases override (or, with None, remove) single keys.
VALID = {
    "name": '"cpu_high"',
    "metric": '"cpu.percent"',
    "above": "90",
    "clear": "80",
    "for": '"5m"',
    "severity": "2",
    "summary": '"CPU at {value:.0f}% on {host}"',
}


def rule_toml(overrides: dict[str, str | None] | None = None) -> str:
    keys = {**VALID, **(overrides or {})}
    lines = [f"{key} = {value}" for key, value in keys.items() if value is not None]
    return "[[rule]]\n" + "\n".join(lines) + "\n"


def load_text(tmp_path: Path, text: str, name: str = "cpu.toml") -> RulePack:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


def problems_of(tmp_path: Path, text: str, name: str = "cpu.toml") -> list[RuleProblem]:
    with pytest.raises(RuleFileError) as caught:
        load_text(tmp_path, text, name)
    return caught.value.problems


# --- what is accepted ------------------------------------------------------------------


def test_valid_rule_loads_with_every_field_converted(tmp_path: Path) -> None:
    text = rule_toml() + '[rule.match]\nrole = "system"\n'
    (rule,) = load_text(tmp_path, text).rules
    assert (rule.name, rule.metric, rule.op, rule.threshold, rule.clear) == (
        "cpu_high", "cpu.percent", Op.ABOVE, 90.0, 80.0)
    assert (rule.for_seconds, rule.severity, rule.match) == (300.0, 2, {"role": "system"})
    assert rule.summary == "CPU at {value:.0f}% on {host}"


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"clear": None}, "clear", 90.0),  # clear defaults to the threshold
        ({"above": None, "below": "10", "clear": None}, "clear", 10.0),
        ({"above": "0", "clear": "0"}, "threshold", 0.0),  # 0 is a threshold, not "unset"
        ({"above": None, "below": "0", "clear": None}, "threshold", 0.0),
        ({"above": "0.5", "clear": "-1"}, "clear", -1.0),
        ({"for": None}, "for_seconds", 0.0),  # for defaults to 0: fire at once
        ({"for": "0"}, "for_seconds", 0.0),
        ({"for": "90"}, "for_seconds", 90.0),  # a bare number is seconds
        ({"for": '"1h30m"'}, "for_seconds", 5400.0),
        ({"clear": "90"}, "clear", 90.0),  # clear on the threshold itself is allowed
        ({"severity": "1"}, "severity", 1),
        ({"severity": "3"}, "severity", 3),
    ],
)
def test_optional_and_edge_values_are_accepted(
    tmp_path: Path, overrides: dict[str, str | None], field: str, expected: object
) -> None:
    (rule,) = load_text(tmp_path, rule_toml(overrides)).rules
    assert getattr(rule, field) == expected


@pytest.mark.parametrize(
    ("metric", "summary", "match"),
    [
        ("cpu.percent", "{value}", ""),
        ("cpu.percent", "{value:>8.2f} {value!r}", ""),
        ("cpu.percent", "literal {{braces}} and {host}", ""),
        ("cpu.percent", "{role} CPU", 'role = "system"'),  # a label from match
        ("disk.free_bytes", "{mount} ({role}) has {value:,.0f} bytes", ""),  # known labels
        ("disk.free_percent", "{mount:<10}", ""),
    ],
)
def test_summary_may_use_value_host_match_labels_and_known_labels(
    tmp_path: Path, metric: str, summary: str, match: str
) -> None:
    text = rule_toml({"metric": f'"{metric}"', "summary": repr(summary)})
    text += f"[rule.match]\n{match}\n"
    (rule,) = load_text(tmp_path, text).rules
    assert rule.summary == summary


def test_an_empty_file_is_an_empty_pack(tmp_path: Path) -> None:
    assert load_text(tmp_path, "# every rule commented out\n").rules == ()


# --- every problem names file, rule and key ----------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "rule", "key", "reason"),
    [
        ({"threshold": "90"}, "cpu_high", "threshold", "unknown key; allowed keys are"),
        ({"name": None}, "#1", "name", "missing"),
        ({"name": '"CPU High"'}, "#1", "name", "'CPU High' is not a valid name"),
        ({"name": "5"}, "#1", "name", "expected a string, got an integer"),
        ({"metric": None}, "cpu_high", "metric", "missing"),
        ({"metric": "[1]"}, "cpu_high", "metric", "expected a string, got an array"),
        ({"metric": '""'}, "cpu_high", "metric", "must not be empty"),
        ({"below": "10"}, "cpu_high", None, "has both 'above' and 'below'"),
        ({"above": None}, "cpu_high", None, "has neither 'above' nor 'below'"),
        ({"above": "true"}, "cpu_high", "above", "expected a number, got a boolean"),
        ({"above": '"90"'}, "cpu_high", "above", "expected a number, got a string"),
        ({"above": "nan"}, "cpu_high", "above", "expected a finite number"),
        ({"above": None, "below": "inf"}, "cpu_high", "below", "expected a finite number"),
        ({"clear": "95"}, "cpu_high", "clear", "95 is above the threshold 90"),
        ({"above": None, "below": "10", "clear": "5"}, "cpu_high", "clear",
         "5 is below the threshold 10"),
        ({"clear": "false"}, "cpu_high", "clear", "expected a number, got a boolean"),
        ({"for": '"5x"'}, "cpu_high", "for", "'5x' is not a duration"),
        ({"for": "-5"}, "cpu_high", "for", "finite number of seconds from 0, got -5"),
        ({"for": "true"}, "cpu_high", "for", "expected a duration"),
        ({"for": "inf"}, "cpu_high", "for", "finite number of seconds from 0, got inf"),
        ({"severity": None}, "cpu_high", "severity", "missing"),
        ({"severity": "4"}, "cpu_high", "severity", "4 is not a severity; use 1, 2 or 3"),
        ({"severity": "0"}, "cpu_high", "severity", "0 is not a severity"),
        ({"severity": "2.0"}, "cpu_high", "severity", "expected an integer 1, 2 or 3, got a nu"),
        ({"severity": "true"}, "cpu_high", "severity", "got a boolean"),
        ({"summary": None}, "cpu_high", "summary", "missing"),
        ({"summary": '"on {hots}"'}, "cpu_high", "summary", "unknown field {hots}; use one of"),
        ({"summary": '"{mount}"'}, "cpu_high", "summary", "unknown field {mount}"),
        ({"summary": '"{value:d}"'}, "cpu_high", "summary", "cannot be rendered"),
        ({"summary": '"{value!x}"'}, "cpu_high", "summary", "cannot be rendered"),
        ({"summary": '"{host:.0f}"'}, "cpu_high", "summary", "cannot be rendered"),
        ({"summary": '"{} busy"'}, "cpu_high", "summary", "positional fields"),
        ({"summary": '"{0} busy"'}, "cpu_high", "summary", "positional fields"),
        ({"summary": '"{value.real}"'}, "cpu_high", "summary", "not a plain name"),
        ({"summary": '"{host[0]}"'}, "cpu_high", "summary", "not a plain name"),
        ({"summary": '"{value:{width}}"'}, "cpu_high", "summary", "nested field"),
        ({"summary": '"CPU {value"'}, "cpu_high", "summary", "not a valid template"),
        ({"match": '"system"'}, "cpu_high", "match", "expected a table"),
        ({"match": "{ role = 1 }"}, "cpu_high", "match.role", "expected a string"),
        ({"match": '{ "my-label" = "x" }'}, "cpu_high", "match.my-label",
         "not a valid label name"),
    ],
)
def test_each_problem_names_file_rule_and_key(
    tmp_path: Path, overrides: dict[str, str | None], rule: str, key: str | None, reason: str
) -> None:
    (problem,) = problems_of(tmp_path, rule_toml(overrides))
    assert (problem.file, problem.rule, problem.key) == (str(tmp_path / "cpu.toml"), rule, key)
    assert reason in problem.reason
    assert str(problem).startswith(f"{tmp_path / 'cpu.toml'}: rule ")
    if key is not None:
        assert f"key {key!r}: " in str(problem)


@pytest.mark.parametrize(
    ("text", "rule", "key", "reason"),
    [
        ("rules = 1\n", None, "rules",
         "unknown key; a rule file holds only [[rule]] and [[event_rule]] tables"),
        ('[rule]\nname = "x"\n', None, "rule", "write each rule as [[rule]]"),
        ("rule = [1]\n", "#1", None, "expected a table, got an integer"),
        ('[[rule]]\nname = "x"\nabove = 90 %\n', None, None,
         "not valid TOML: Expected newline or end of document after a statement "
         "(at line 3, column 12)"),
    ],
)
def test_file_level_problems_name_the_file(
    tmp_path: Path, text: str, rule: str | None, key: str | None, reason: str
) -> None:
    (problem,) = problems_of(tmp_path, text)
    assert problem == RuleProblem(str(tmp_path / "cpu.toml"), rule, key, problem.reason)
    assert reason in problem.reason


def test_problem_reads_file_rule_key_then_reason() -> None:
    problem = RuleProblem("rules/default/cpu.toml", "cpu_high", "for",
                          "'5x' is not a duration")
    assert str(problem) == "rules/default/cpu.toml: rule 'cpu_high', key 'for': " \
                           "'5x' is not a duration"
    assert str(RuleProblem("a.toml", "#2", "name", "missing")) == \
        "a.toml: rule #2, key 'name': missing"
    assert str(RuleProblem("a.toml", None, "rules", "unknown key")) == \
        "a.toml: key 'rules': unknown key"
    assert str(RuleProblem("a.toml", None, None, "not valid TOML")) == "a.toml: not valid TOML"


def test_file_that_is_not_utf8_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(rule_toml({"summary": '"CPU \xe9"'}).encode("latin-1"))
    with pytest.raises(RuleFileError) as caught:
        load_rules(path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.rule, problem.key) == (str(path), None, None)
    assert "not UTF-8" in problem.reason


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "missing.toml", "no such file or directory"),
        (lambda tmp: tmp, "no *.toml rule files in this directory"),
    ],
)
def test_a_path_without_rule_files_is_a_problem(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a rule file")
    path = make(tmp_path)
    with pytest.raises(RuleFileError) as caught:
        load_rules(path)
    assert caught.value.problems == [RuleProblem(str(path), None, None, reason)]


# --- collecting all problems ---------------------------------------------------------------


def test_all_problems_of_one_rule_are_reported_together(tmp_path: Path) -> None:
    text = rule_toml({"severity": "7", "for": '"soon"', "colour": '"red"', "above": "true"})
    problems = problems_of(tmp_path, text)
    assert {p.key for p in problems} == {"severity", "for", "colour", "above"}
    assert {p.rule for p in problems} == {"cpu_high"}


def test_all_problems_of_all_files_are_collected_in_file_order() -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rules(FIXTURES / "broken")
    broken = FIXTURES / "broken"
    found = [(Path(p.file).name, p.rule, p.key) for p in caught.value.problems]
    assert found == [
        ("a_syntax.toml", None, None),
        ("b_values.toml", "cpu_hot", "for"),
        ("b_values.toml", "mem_hot", "threshold"),
        ("b_values.toml", "mem_hot", "severity"),
        ("b_values.toml", "#4", "name"),
        ("b_values.toml", "#4", "metric"),
        ("c_more.toml", "disk_low", "name"),
    ]
    assert "(at line 4, column 12)" in caught.value.problems[0].reason
    assert f"already defined in {broken / 'b_values.toml'}" in caught.value.problems[-1].reason
    # The exception's own message lists every problem, for logs that show only str(exc).
    assert all(str(p) in str(caught.value) for p in caught.value.problems)
    assert str(caught.value).startswith("7 problems in rule files:")


def test_duplicate_name_in_one_file_is_reported_once_on_the_second() -> None:
    data = tomllib.loads(rule_toml() + rule_toml({"above": "95", "clear": None}))
    rules, problems = parse_rules(data, "cpu.toml")
    assert [r.threshold for r in rules] == [90.0]  # the first definition is kept
    assert problems == [RuleProblem(
        "cpu.toml", "cpu_high", "name",
        "'cpu_high' is already defined in this file (rule #1); "
        "rule names must be unique across the pack",
    )]


def test_parse_rules_returns_valid_rules_alongside_problems() -> None:
    data = tomllib.loads(rule_toml() + rule_toml({"name": '"bad"', "severity": "9"}))
    rules, problems = parse_rules(data, "mixed.toml")
    assert [r.name for r in rules] == ["cpu_high"]
    assert [(p.rule, p.key) for p in problems] == [("bad", "severity")]


def test_a_directory_is_loaded_in_file_name_order() -> None:
    pack = load_rules(FIXTURES / "good")
    assert [r.name for r in pack.rules] == ["cpu_high", "cpu_steal_any", "disk.logs-low"]
    assert pack.rules[2].match == {"role": "data", "mount": "/var/log"}


# --- the default pack ------------------------------------------------------------------------


def test_default_pack_path_is_the_shipped_directory() -> None:
    path = default_pack_path()
    assert path.is_dir()
    assert sorted(p.name for p in path.glob("*.toml")) == [
        "antivirus.toml", "backup.toml", "cpu.toml", "disk.toml", "eventlog.toml", "memory.toml"]


@pytest.mark.parametrize(
    ("name", "metric", "op", "threshold", "clear", "for_seconds", "match"),
    [
        ("cpu_high", "cpu.percent", Op.ABOVE, 90, 80, 300, {}),
        ("memory_high", "memory.percent", Op.ABOVE, 80, 75, 300, {}),
        ("disk_system_low", "disk.free_bytes", Op.BELOW, 2e9, 2.5e9, 0, {"role": "system"}),
        ("disk_data_low", "disk.free_percent", Op.BELOW, 10, 12, 0, {"role": "data"}),
        ("backup_failed", "backup.failed", Op.ABOVE, 0.5, 0.5, 0, {}),
        ("backup_stale", "backup.success_age_hours", Op.ABOVE, 26, 26, 0, {}),
        ("av_disabled", "av.enabled", Op.BELOW, 0.5, 0.5, 900, {}),
        ("av_realtime_off", "av.realtime_enabled", Op.BELOW, 0.5, 0.5, 900, {}),
        ("av_definitions_stale", "av.signature_age_days", Op.ABOVE, 3, 1, 0, {}),
    ],
)
def test_default_pack_has_the_spec_thresholds(
    name: str, metric: str, op: Op, threshold: float, clear: float, for_seconds: float,
    match: dict[str, str],
) -> None:
    rules = {r.name: r for r in load_rules(default_pack_path()).rules}
    rule = rules[name]
    assert (rule.metric, rule.op, rule.threshold, rule.clear, rule.for_seconds) == (
        metric, op, threshold, clear, for_seconds)
    assert (rule.severity, rule.match) == (2, match)


def test_default_pack_covers_every_row_of_the_spec_table_an_agent_measures() -> None:
    pack = load_rules(default_pack_path())
    assert sorted(r.name for r in pack.rules) == [
        "av_definitions_stale", "av_disabled", "av_realtime_off", "backup_failed",
        "backup_stale", "cpu_high", "disk_data_low", "disk_system_low", "memory_high"]
    assert {r.name: r.severity for r in pack.event_rules} == {
        "eventlog_critical": 2, "eventlog_warning": 3, "av_detection": 2,
        "av_detection_clamav": 2}


def test_rules_package_imports_no_http_framework_agent_or_collector() -> None:
    # Run in a fresh interpreter: this test process may have imported them for other tests.
    code = (
        "import sys, rules.loader, rules.evaluator, rules.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'aiohttp', 'agent', 'collector'})\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
