"""TOML rule files -> a typed, validated `RulePack`.

Strict on purpose: an unknown key, a wrong type or an impossible threshold is an error that
names the file, the rule and the key, and every problem in every file is reported at once, so
an admin fixes a rule pack in one pass instead of one error per run.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rules.durations import parse_duration
from rules.model import EventLevel, EventMatch, EventRule, Op, Rule, RulePack

_NAME = re.compile(r"[a-z0-9_.-]+")
# Label names are used as `{name}` fields in summaries, so they must be plain identifiers.
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RULE_KEYS = frozenset(
    {"name", "metric", "above", "below", "clear", "for", "severity", "summary", "match"}
)
_REQUIRED_KEYS = ("name", "metric", "severity", "summary")
_SEVERITIES = (1, 2, 3)

# How the field parsers report: (key or None, reason); the rule and file are filled in.
_Report = Callable[[str | None, str], None]

# Labels every summary may use: the evaluator adds them from the host it runs on.
HOST_LABELS = frozenset({"host"})
# Labels each metric's samples carry, mirroring what the agent's samplers emit. A summary may
# use these even when the rule does not match on them. Add a line when a sampler adds labels.
KNOWN_LABELS: Mapping[str, frozenset[str]] = {
    "cpu.percent": frozenset(),
    "cpu.core_percent": frozenset({"core"}),
    "memory.percent": frozenset(),
    "disk.free_bytes": frozenset({"mount", "role"}),
    "disk.free_percent": frozenset({"mount", "role"}),
    "disk.total_bytes": frozenset({"mount", "role"}),
    "backup.result": frozenset({"tool", "job"}),
    "backup.failed": frozenset({"tool", "job"}),
    "backup.success_age_hours": frozenset({"tool", "job"}),
    "backup.last_run_age_hours": frozenset({"tool", "job"}),
    "av.enabled": frozenset({"product"}),
    "av.realtime_enabled": frozenset({"product"}),
    "av.signature_age_days": frozenset({"product"}),
    "updates.pending": frozenset({"manager"}),
    "updates.security": frozenset({"manager"}),
    "updates.reboot_required": frozenset({"manager"}),
}
# What an event rule's summary may use: the event's own fields ({value} is how many matching
# events of one source and ID arrived together).
EVENT_FIELDS = frozenset({"log", "source", "id", "level", "message"})
_EVENT_RULE_KEYS = frozenset({"name", "severity", "summary", "match", "ignore"})
_EVENT_MATCH_KEYS = frozenset({"logs", "sources", "ids", "levels", "contains"})


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One thing wrong in a rule file.

    `rule` is the rule's name, or `#N` (its position in the file, from 1) when it has no
    usable name; `key` is the offending key, None when the problem is the file or rule as a
    whole.
    """

    file: str
    rule: str | None
    key: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file
        if self.rule is not None:
            # '#' cannot occur in a valid name, so positions and names never look alike.
            shown = self.rule if self.rule.startswith("#") else repr(self.rule)
            where += f": rule {shown}"
        if self.key is not None:
            where += f"{',' if self.rule is not None else ':'} key {self.key!r}"
        return f"{where}: {self.reason}"


class RuleFileError(Exception):
    """The rule files have problems; `problems` lists all of them, in file order."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} {noun} in rule files:\n{lines}")


def default_pack_path() -> Path:
    """The directory of the rule pack shipped with watchkeeper (package data)."""
    return Path(__file__).resolve().parent / "default"


def load_rules(path: Path) -> RulePack:
    """Load one rule file, or every `*.toml` in a directory (sorted by name).

    Raises RuleFileError listing every problem of every file; never returns a partial pack.
    """
    path = Path(path)
    files, problems = _rule_files(path)
    rules: list[Rule | EventRule] = []
    defined_in: dict[str, str] = {}
    for file in files:
        file_rules, file_problems = _load_file(file)
        problems.extend(file_problems)
        for rule in file_rules:
            # Duplicates inside one file are parse_rules' job; here only across files.
            if rule.name in defined_in:
                problems.append(RuleProblem(
                    str(file), rule.name, "name",
                    f"{rule.name!r} is already defined in {defined_in[rule.name]}; "
                    "rule names must be unique across the pack",
                ))
            else:
                defined_in[rule.name] = str(file)
                rules.append(rule)
    if problems:
        raise RuleFileError(problems)
    return RulePack(tuple(r for r in rules if isinstance(r, Rule)),
                    tuple(r for r in rules if isinstance(r, EventRule)))


def parse_rules(
    data: dict[str, object], file: str
) -> tuple[list[Rule | EventRule], list[RuleProblem]]:
    """The pure core: a parsed TOML document -> its valid rules and every problem found.

    A file holds metric rules ([[rule]]) and event rules ([[event_rule]]); rules with
    problems are left out of the returned list.
    """
    problems = [
        RuleProblem(file, None, key,
                    "unknown key; a rule file holds only [[rule]] and [[event_rule]] tables")
        for key in data
        if key not in ("rule", "event_rule")
    ]
    entries: list[tuple[str, int, object]] = []
    for kind in ("rule", "event_rule"):
        tables = data.get(kind, [])
        if not isinstance(tables, list):
            problems.append(RuleProblem(
                file, None, kind,
                f"write each rule as [[{kind}]] (an array of tables), not [{kind}]"))
            continue
        entries.extend((kind, i, t) for i, t in enumerate(tables, start=1))

    rules: list[Rule | EventRule] = []
    position_of: dict[str, int] = {}
    for kind, index, table in entries:
        if not isinstance(table, dict):
            problems.append(RuleProblem(
                file, f"#{index}", None, f"expected a table, got {_type_name(table)}"
            ))
            continue
        parse = _parse_rule if kind == "rule" else _parse_event_rule
        rule, rule_problems = parse(table, file, index)
        problems.extend(rule_problems)
        if rule is None:
            continue
        if rule.name in position_of:
            problems.append(RuleProblem(
                file, rule.name, "name",
                f"{rule.name!r} is already defined in this file (rule #{position_of[rule.name]}); "
                "rule names must be unique across the pack",
            ))
            continue
        position_of[rule.name] = index
        rules.append(rule)
    return rules, problems


def _rule_files(path: Path) -> tuple[list[Path], list[RuleProblem]]:
    if path.is_dir():
        files = sorted(p for p in path.glob("*.toml") if p.is_file())
        if not files:
            reason = "no *.toml rule files in this directory"
            return [], [RuleProblem(str(path), None, None, reason)]
        return files, []
    if path.is_file():
        return [path], []
    return [], [RuleProblem(str(path), None, None, "no such file or directory")]


def _load_file(path: Path) -> tuple[list[Rule | EventRule], list[RuleProblem]]:
    """Read thin: I/O and TOML syntax here, everything else in parse_rules."""
    file = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        return [], [RuleProblem(file, None, None, f"cannot read the file: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return [], [RuleProblem(file, None, None, f"not UTF-8 text (byte {exc.start})")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)", which is what the admin needs.
        return [], [RuleProblem(file, None, None, f"not valid TOML: {exc}")]
    return parse_rules(data, file)


def _begin(
    table: dict[str, object], file: str, index: int, allowed: frozenset[str],
    required: tuple[str, ...], what: str,
) -> tuple[list[RuleProblem], _Report, str | None]:
    """What every kind of rule checks first: its keys and its name. Returns the problem list,
    the reporter that adds to it (naming the rule, or its position without a usable name),
    and the valid name or None."""
    raw_name = table.get("name")
    label = raw_name if isinstance(raw_name, str) and _NAME.fullmatch(raw_name) else f"#{index}"
    problems: list[RuleProblem] = []

    def problem(key: str | None, reason: str) -> None:
        problems.append(RuleProblem(file, label, key, reason))

    for key in table:
        if key not in allowed:
            problem(key, f"unknown key; allowed keys are {', '.join(sorted(allowed))}")
    for key in required:
        if key not in table:
            problem(key, f"missing; every {what} needs it")
    name = _string(table, "name", problem)
    if name is not None and not _NAME.fullmatch(name):
        problem("name", f"{name!r} is not a valid name; use lower-case letters, digits, _ . -")
        name = None
    return problems, problem, name


def _parse_rule(
    table: dict[str, object], file: str, index: int
) -> tuple[Rule | None, list[RuleProblem]]:
    problems, problem, name = _begin(table, file, index, _RULE_KEYS, _REQUIRED_KEYS, "rule")
    metric = _string(table, "metric", problem)

    op, threshold = _threshold(table, problem)
    # Without `clear` the rule clears as soon as it is no longer beyond the threshold.
    clear = _number(table, "clear", problem) if "clear" in table else threshold
    if op is not None and threshold is not None and clear is not None:
        if op is Op.ABOVE and clear > threshold:
            problem("clear", f"{clear:g} is above the threshold {threshold:g}; for an 'above' "
                             "rule clear must be at or below it, on the healthy side")
            clear = None
        elif op is Op.BELOW and clear < threshold:
            problem("clear", f"{clear:g} is below the threshold {threshold:g}; for a 'below' "
                             "rule clear must be at or above it, on the healthy side")
            clear = None

    for_seconds = _duration(table, problem)
    severity = _severity(table, problem)
    match = _match(table, problem)
    summary = _string(table, "summary", problem)
    if summary is not None and metric is not None and match is not None:
        allowed = HOST_LABELS | KNOWN_LABELS.get(metric, frozenset()) | set(match)
        for reason in summary_problems(summary, allowed):
            problem("summary", reason)

    # Without problems every field is set; the None checks narrow the types.
    if (problems or name is None or metric is None or op is None or threshold is None
            or clear is None or for_seconds is None or severity is None or summary is None
            or match is None):
        return None, problems
    return Rule(
        name=name, metric=metric, op=op, threshold=threshold, clear=clear,
        for_seconds=for_seconds, severity=severity, summary=summary, match=match,
    ), []


def _parse_event_rule(
    table: dict[str, object], file: str, index: int
) -> tuple[EventRule | None, list[RuleProblem]]:
    problems, problem, name = _begin(table, file, index, _EVENT_RULE_KEYS,
                                     ("name", "severity", "summary", "match"), "event rule")
    severity = _severity(table, problem)
    summary = _string(table, "summary", problem)
    if summary is not None:
        for reason in summary_problems(summary, HOST_LABELS | EVENT_FIELDS):
            problem("summary", reason)
    match = _event_match(table.get("match"), "match", problem) if "match" in table else None
    ignore: list[EventMatch] = []
    raw_ignore = table.get("ignore", [])
    if not isinstance(raw_ignore, list):
        problem("ignore", "write each entry as [[event_rule.ignore]] (an array of tables)")
    else:
        for i, entry in enumerate(raw_ignore):
            m = _event_match(entry, f"ignore[{i}]", problem)
            if m is not None:
                ignore.append(m)
    if problems or name is None or severity is None or summary is None or match is None:
        return None, problems
    return EventRule(name, severity, summary, match, tuple(ignore)), []


def _event_match(value: object, where: str, problem: _Report) -> EventMatch | None:
    """A match table: logs, sources (strings), ids (integers), levels, contains."""
    if not isinstance(value, dict):
        problem(where, f"expected a table, got {_type_name(value)}")
        return None
    ok = True
    for key in value:
        if key not in _EVENT_MATCH_KEYS:
            problem(f"{where}.{key}",
                    f"unknown key; allowed keys are {', '.join(sorted(_EVENT_MATCH_KEYS))}")
            ok = False

    def strings(key: str) -> frozenset[str]:
        nonlocal ok
        v = value.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            problem(f"{where}.{key}", f"expected a list of strings, got {_type_name(v)}")
            ok = False
            return frozenset()
        return frozenset(v)

    ids = value.get("ids", [])
    if not isinstance(ids, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**32 for x in ids):
        problem(f"{where}.ids", "expected a list of event IDs (whole numbers)")
        ok = False
        ids = []
    levels: set[EventLevel] = set()
    for lv in strings("levels"):
        try:
            levels.add(EventLevel(lv))
        except ValueError:
            problem(f"{where}.levels", f"{lv!r} is not a level; use "
                                       f"{', '.join(e.value for e in EventLevel)}")
            ok = False
    contains = value.get("contains", "")
    if not isinstance(contains, str):
        problem(f"{where}.contains", f"expected a string, got {_type_name(contains)}")
        ok = False
        contains = ""
    match = EventMatch(strings("logs"), strings("sources"), frozenset(ids), frozenset(levels),
                       contains)
    if ok and match == EventMatch():
        problem(where, "matches every event; name at least one of "
                       f"{', '.join(sorted(_EVENT_MATCH_KEYS))}")
        ok = False
    return match if ok else None


def _string(table: dict[str, object], key: str, problem: _Report) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problem(key, f"expected a string, got {_type_name(value)}")
        return None
    if not value.strip():
        problem(key, "must not be empty")
        return None
    return value


def _number(table: dict[str, object], key: str, problem: _Report) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    # bool is an int subclass in Python; `above = true` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        problem(key, f"expected a number, got {_type_name(value)}")
        return None
    if not math.isfinite(value):
        problem(key, f"expected a finite number, got {value}")
        return None
    return float(value)


def _threshold(table: dict[str, object], problem: _Report) -> tuple[Op | None, float | None]:
    present = [op for op in Op if op.value in table]
    if len(present) != 1:
        reason = "has both 'above' and 'below'" if present else "has neither 'above' nor 'below'"
        problem(None, f"{reason}; a rule needs exactly one of them")
        # Still type-check whatever is there, so those problems are reported in the same pass.
        for op in present:
            _number(table, op.value, problem)
        return None, None
    op = present[0]
    return op, _number(table, op.value, problem)


def _duration(table: dict[str, object], problem: _Report) -> float | None:
    if "for" not in table:
        return 0.0
    try:
        seconds = parse_duration(table["for"])
    except ValueError as exc:
        problem("for", str(exc))
        return None
    return seconds


def _severity(table: dict[str, object], problem: _Report) -> int | None:
    value = table.get("severity")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problem("severity", f"expected an integer 1, 2 or 3, got {_type_name(value)}")
        return None
    if value not in _SEVERITIES:
        problem("severity", f"{value} is not a severity; use 1, 2 or 3 (1 is the most urgent)")
        return None
    return value


def _match(table: dict[str, object], problem: _Report) -> dict[str, str] | None:
    value = table.get("match", {})
    if not isinstance(value, dict):
        problem("match", f"expected a table of label = \"value\", got {_type_name(value)}")
        return None
    match: dict[str, str] = {}
    ok = True
    for label, wanted in value.items():
        if not _LABEL.fullmatch(label):
            problem(f"match.{label}", "not a valid label name; use letters, digits and _")
            ok = False
        elif not isinstance(wanted, str):
            problem(f"match.{label}", f"expected a string, got {_type_name(wanted)}")
            ok = False
        else:
            match[label] = wanted
    return match if ok else None


def summary_problems(summary: str, labels: frozenset[str] | set[str]) -> list[str]:
    """Why `summary` cannot be rendered with `{value}` and the given label names (or [])."""
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(summary)
                  if name is not None]
    except ValueError as exc:
        return [f"not a valid template: {exc} (write {{{{ and }}}} for literal braces)"]
    allowed = sorted({"value", *labels})
    reasons: list[str] = []
    for name, spec in fields:
        if name == "" or name.isdigit():
            reasons.append("positional fields such as {} are not allowed; name the field, "
                           "e.g. {value}")
        elif not name.isidentifier():
            # Attribute and index access ({value.real}, {mount[0]}) reach into Python objects.
            reasons.append(f"field {{{name}}} is not a plain name; use one of "
                           f"{', '.join(allowed)}")
        elif name not in allowed:
            reasons.append(f"unknown field {{{name}}}; use one of {', '.join(allowed)}")
        elif spec and "{" in spec:
            reasons.append(f"field {{{name}}} has a nested field in its format spec, "
                           "which is not supported")
    if reasons:
        return reasons
    try:
        # A trial render catches what parsing cannot: bad format specs and conversions.
        summary.format_map({"value": 1.0, **{label: "x" for label in labels}})
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        return [f"cannot be rendered: {exc}"]
    return []


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             dict: "a table", list: "an array"}
    return names.get(type(value), type(value).__name__)
