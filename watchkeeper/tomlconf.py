"""Strict reading of TOML configuration: every problem names the file, the key and why.

Loaders walk their tables through `Table`, which remembers the dotted path, rejects keys
it was not asked about, and collects problems instead of stopping at the first one.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rules.durations import parse_duration

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.reason}"


class ConfigError(Exception):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def print_problems(exc: ConfigError) -> int:
    """Tell the admin every problem at once; the exit status for a refused configuration."""
    print(f"watchkeeper: {len(exc.problems)} configuration problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return 2


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), "", "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem(str(path), "", f"not valid TOML: {exc}")]) from None


_MISSING = object()


@dataclass
class Table:
    data: dict[str, Any]
    file: str
    path: str = ""
    problems: list[ConfigProblem] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def problem(self, name: str, reason: str) -> None:
        self.problems.append(ConfigProblem(self.file, self.key(name), reason))

    def _get(self, name: str, default: Any) -> Any:
        self._seen.add(name)
        value = self.data.get(name, default)
        if value is _MISSING:
            self.problem(name, "is required")
        return value

    def _typed(self, name: str, default: Any, kinds: tuple[type, ...], what: str) -> Any:
        value = self._get(name, default)
        if value is _MISSING or (value is None and default is None):
            return None  # absent and optional (TOML itself has no null)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            self.problem(name, f"must be {what}, got {value!r}")
            return None if default is _MISSING else default
        return value

    def str(self, name: str, default: Any = _MISSING) -> Any:
        return self._typed(name, default, (str,), "a string")

    def bool(self, name: str, default: Any = _MISSING) -> Any:
        return self._typed(name, default, (bool,), "true or false")

    def int(self, name: str, default: Any = _MISSING, *, minimum: int | None = None) -> Any:
        value = self._typed(name, default, (int,), "a whole number")
        if value is not None and minimum is not None and value < minimum:
            self.problem(name, f"must be at least {minimum}, got {value}")
        return value

    def duration(self, name: str, default: Any = _MISSING, *, positive: bool = False) -> Any:
        value = self._get(name, default)
        if value is _MISSING or value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.problem(name, str(exc))
            return None
        if positive and seconds <= 0:
            self.problem(name, "must be longer than zero")
        return seconds

    def int_list(self, name: str, allowed: range) -> list[int]:
        """A required, non-empty list of whole numbers within `allowed`."""
        value = self._get(name, _MISSING)
        if value is _MISSING:
            return []
        if not (isinstance(value, list) and value and all(
                isinstance(v, int) and not isinstance(v, bool) and v in allowed for v in value)):
            self.problem(name, f"must be a non-empty list of whole numbers from {allowed.start}"
                         f" to {allowed.stop - 1}, got {value!r}")
            return []
        return value

    def str_list(self, name: str, default: Any = _MISSING) -> Any:
        value = self._get(name, default)
        if value is _MISSING:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(name, f"must be a list of strings, got {value!r}")
            return None
        return value

    def choice(self, name: str, convert: Callable[[str], T], default: Any = _MISSING) -> T | None:
        value = self.str(name, default)
        if value is None:
            return None
        try:
            return convert(value)
        except ValueError:
            options = getattr(convert, "__members__", None)
            hint = f"; one of: {', '.join(m.value for m in options.values())}" if options else ""
            self.problem(name, f"{value!r} is not allowed{hint}")
            return None

    def table(self, name: str, required: bool = False) -> Table:
        value = self._get(name, _MISSING if required else {})
        if not isinstance(value, dict):
            if value is not _MISSING:
                self.problem(name, "must be a table")
            value = {}
        return Table(value, self.file, self.key(name), self.problems)

    def tables(self, name: str) -> Iterator[Table]:
        """The entries of an array of tables ([[name]]), each with its index in the path."""
        value = self._get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(name, "must be an array of tables ([[" + self.key(name) + "]])")
            return
        for i, item in enumerate(value):
            yield Table(item, self.file, f"{self.key(name)}[{i}]", self.problems)

    def done(self) -> None:
        """Report keys nobody asked for: a typo must not silently fall back to a default."""
        for extra in sorted(set(self.data) - self._seen):
            self.problem(extra, "unknown key")
