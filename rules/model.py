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


@dataclass(frozen=True, slots=True)
class RulePack:
    rules: tuple[Rule, ...]

    @property
    def version(self) -> str:
        """A content hash: agents refetch only when the pack really changed."""
        blob = json.dumps([r.to_wire() for r in self.rules], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_wire(self) -> dict[str, object]:
        return {"version": self.version, "rules": [r.to_wire() for r in self.rules]}

    @classmethod
    def from_wire(cls, d: Mapping[str, object]) -> RulePack:
        return cls(tuple(Rule.from_wire(r) for r in d["rules"]))  # type: ignore[attr-defined]


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
