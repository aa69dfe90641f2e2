"""The rule language's typed model, shared by the agent and the collector.

Pure data: nothing here reads files, clocks or sockets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured value: `metric` names what, `labels` say of which thing (mount, core)."""

    metric: str
    value: float
    at: float
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_wire(self) -> dict[str, object]:
        return {"metric": self.metric, "value": self.value, "at": self.at,
                "labels": dict(self.labels)}


class Op(StrEnum):
    ABOVE = "above"
    BELOW = "below"


@dataclass(frozen=True, slots=True)
class Rule:
    """Fire when `metric` (restricted to series whose labels include `match`) stays beyond
    `threshold` for `for_seconds`; clear once it is back past `clear` (hysteresis)."""

    name: str
    metric: str
    op: Op
    threshold: float
    clear: float
    for_seconds: float
    severity: int
    summary: str
    match: Mapping[str, str] = field(default_factory=dict)

    def applies_to(self, sample: Sample) -> bool:
        return sample.metric == self.metric and all(
            sample.labels.get(k) == v for k, v in self.match.items()
        )

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.op is Op.ABOVE else value < self.threshold

    def cleared(self, value: float) -> bool:
        return value < self.clear if self.op is Op.ABOVE else value > self.clear

    def to_wire(self) -> dict[str, object]:
        return {
            "name": self.name, "metric": self.metric, "op": self.op.value,
            "threshold": self.threshold, "clear": self.clear, "for": self.for_seconds,
            "severity": self.severity, "summary": self.summary, "match": dict(self.match),
        }

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> Rule:
        """Inverse of to_wire, for rules the agent receives from its collector."""
        return cls(
            name=str(d["name"]), metric=str(d["metric"]), op=Op(str(d["op"])),
            threshold=float(d["threshold"]), clear=float(d["clear"]),  # type: ignore[arg-type]
            for_seconds=float(d["for"]), severity=int(d["severity"]),  # type: ignore[arg-type]
            summary=str(d["summary"]),
            match={str(k): str(v) for k, v in dict(d.get("match") or {}).items()},  # type: ignore[call-overload]
        )


class EventLevel(StrEnum):
    """One scale for Windows Event Log levels and syslog/journal priorities."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"

    @property
    def rank(self) -> int:
        """0 for critical up to 4 for debug: lower is more severe."""
        return _LEVEL_RANK[self]


_LEVEL_RANK = {level: i for i, level in enumerate(EventLevel)}
MAX_MESSAGE = 2000
MAX_NAME = 256  # a log or source name; the collector refuses longer ones


@dataclass(frozen=True, slots=True)
class Event:
    """One event-log entry: Windows Event Log record, journal entry or syslog line.

    `log` is where it was read (a Windows channel such as "System", "journal", or a file
    path); `source` is who wrote it (provider, unit or syslog identifier); `event_id` is
    the Windows event ID, or 0 where the source has none.
    """

    at: float
    log: str
    source: str
    event_id: int
    level: EventLevel
    message: str

    def to_wire(self) -> dict[str, object]:
        return {"at": self.at, "log": self.log[:MAX_NAME], "source": self.source[:MAX_NAME],
                "id": self.event_id,
                "level": self.level.value, "message": self.message[:MAX_MESSAGE]}


@dataclass(frozen=True, slots=True)
class EventMatch:
    """Which events a rule (or an ignore entry) is about. An empty field matches anything;
    every non-empty field must match. `contains` is a case-insensitive substring test."""

    logs: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    ids: frozenset[int] = frozenset()
    levels: frozenset[EventLevel] = frozenset()
    contains: str = ""

    def matches(self, e: Event) -> bool:
        return ((not self.logs or e.log in self.logs)
                and (not self.sources or e.source in self.sources)
                and (not self.ids or e.event_id in self.ids)
                and (not self.levels or e.level in self.levels)
                and (not self.contains or self.contains.lower() in e.message.lower()))

    def to_wire(self) -> dict[str, object]:
        return {"logs": sorted(self.logs), "sources": sorted(self.sources),
                "ids": sorted(self.ids), "levels": sorted(lv.value for lv in self.levels),
                "contains": self.contains}

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> EventMatch:
        return cls(
            logs=frozenset(map(str, d.get("logs") or ())),  # type: ignore[call-overload]
            sources=frozenset(map(str, d.get("sources") or ())),  # type: ignore[call-overload]
            ids=frozenset(map(int, d.get("ids") or ())),  # type: ignore[call-overload]
            levels=frozenset(map(EventLevel, d.get("levels") or ())),  # type: ignore[call-overload]
            contains=str(d.get("contains") or ""),
        )


@dataclass(frozen=True, slots=True)
class EventRule:
    """Fire once for every event that matches `match` and no entry of `ignore`.

    Events have no "back to normal", so an event rule never resolves on its own: the case
    it opens is resolved by a person. Repeats of the same source and ID join that case.
    """

    name: str
    severity: int
    summary: str
    match: EventMatch
    ignore: tuple[EventMatch, ...] = ()

    def applies_to(self, e: Event) -> bool:
        return self.match.matches(e) and not any(i.matches(e) for i in self.ignore)

    def to_wire(self) -> dict[str, object]:
        return {"name": self.name, "severity": self.severity, "summary": self.summary,
                "match": self.match.to_wire(), "ignore": [i.to_wire() for i in self.ignore]}

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> EventRule:
        return cls(
            name=str(d["name"]), severity=int(d["severity"]),  # type: ignore[call-overload]
            summary=str(d["summary"]),
            match=EventMatch.from_wire(d["match"]),  # type: ignore[arg-type]
            ignore=tuple(EventMatch.from_wire(i) for i in d.get("ignore") or ()),  # type: ignore[attr-defined]
        )


@dataclass(frozen=True, slots=True)
class RulePack:
    rules: tuple[Rule, ...]
    event_rules: tuple[EventRule, ...] = ()
    # A content hash: agents refetch only when the pack really changed. Computed once, since
    # the agent reads it on every report and every push.
    version: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        blob = json.dumps(self._content(), sort_keys=True).encode()
        object.__setattr__(self, "version", hashlib.sha256(blob).hexdigest()[:16])

    def _content(self) -> dict[str, object]:
        return {"rules": [r.to_wire() for r in self.rules],
                "event_rules": [r.to_wire() for r in self.event_rules]}

    def to_wire(self) -> dict[str, object]:
        return {"version": self.version, **self._content()}

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> RulePack:
        return cls(tuple(Rule.from_wire(r) for r in d["rules"]),  # type: ignore[attr-defined]
                   tuple(EventRule.from_wire(r)
                         for r in d.get("event_rules") or ()))  # type: ignore[attr-defined]


class TransitionKind(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Transition:
    """A rule series changed between firing and resolved: what the agent reports."""

    rule: str
    kind: TransitionKind
    at: float
    value: float
    severity: int
    summary: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_wire(self) -> dict[str, object]:
        return {"rule": self.rule, "state": self.kind.value, "at": self.at, "value": self.value,
                "severity": self.severity, "summary": self.summary, "labels": dict(self.labels)}
