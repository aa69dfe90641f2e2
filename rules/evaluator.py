"""Judging samples against rules: a "held for a duration" state machine.

Each (rule, series) pair is inactive, pending (beyond the threshold, but not yet for long
enough) or firing. Only the changes that matter to people -- firing and resolved -- come out
as `Transition`s. Everything here is pure: the evaluation time is passed in, never read.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from rules.model import Event, EventRule, Rule, RulePack, Sample, Transition, TransitionKind


class AlertState(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True, slots=True)
class SeriesState:
    """Where one rule stands for one series; `since` is when it became pending or firing."""

    state: AlertState
    since: float | None


INACTIVE = SeriesState(AlertState.INACTIVE, None)

# A series' identity within a rule: its labels, sorted so the order they came in is irrelevant.
SeriesLabels = tuple[tuple[str, str], ...]


def step(
    rule: Rule,
    prev: SeriesState,
    value: float,
    now: float,
    labels: Mapping[str, str] | None = None,
) -> tuple[SeriesState, Transition | None]:
    """The next state of one series after seeing `value` at `now`, and the transition, if any.

    `labels` fill the summary and are carried on the transition.
    """
    if math.isnan(value):
        # A NaN reading says nothing either way: it neither confirms nor ends a problem.
        return prev, None
    labels = labels or {}
    match prev.state:
        case AlertState.INACTIVE:
            if not rule.breached(value):
                return INACTIVE, None
            if rule.for_seconds <= 0:
                return (SeriesState(AlertState.FIRING, now),
                        _transition(rule, TransitionKind.FIRING, value, now, labels))
            return SeriesState(AlertState.PENDING, now), None
        case AlertState.PENDING:
            if not rule.breached(value):
                # Back within bounds before the duration ran out: nobody was told, so no
                # transition; the next breach starts the clock afresh.
                return INACTIVE, None
            since = prev.since if prev.since is not None else now
            if now - since >= rule.for_seconds:
                return (SeriesState(AlertState.FIRING, now),
                        _transition(rule, TransitionKind.FIRING, value, now, labels))
            return SeriesState(AlertState.PENDING, since), None
        case AlertState.FIRING:
            # Hysteresis: leaving the breach is not enough, the value must pass `clear`, so a
            # value hovering on the threshold does not page people on every sample.
            if rule.cleared(value):
                return INACTIVE, _transition(rule, TransitionKind.RESOLVED, value, now, labels)
            return prev, None


def render_summary(template: str, value: float, labels: Mapping[str, str]) -> str:
    """The summary text; never raises, since a bad template must not stop the alert itself.

    A missing label renders as `?`. The loader rejects bad templates, but rules also arrive
    over the wire, so a template that still fails is returned as written, with the value.
    """
    try:
        return _SafeFormatter().vformat(template, (), {**labels, "value": value})
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return f"{template} (value {value:g})"


class _SafeFormatter(string.Formatter):
    def get_field(
        self, field_name: str, args: object, kwargs: Mapping[str, object]
    ) -> tuple[object, str]:
        # Only plain names: attribute and index access ({value.__class__}) are not rendered.
        if not field_name.isidentifier():
            return "?", field_name
        return kwargs.get(field_name, "?"), field_name


def _transition(
    rule: Rule, kind: TransitionKind, value: float, now: float, labels: Mapping[str, str]
) -> Transition:
    return Transition(
        rule=rule.name, kind=kind, at=now, value=value, severity=rule.severity,
        summary=render_summary(rule.summary, value, labels), labels=dict(labels),
    )


@dataclass(frozen=True, slots=True)
class FiringAlert:
    """A series that is firing now, for status views."""

    rule: str
    labels: Mapping[str, str]
    since: float
    value: float
    severity: int
    summary: str


@dataclass(frozen=True, slots=True)
class _Tracked:
    """What the evaluator remembers of a pending or firing series."""

    state: SeriesState
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = math.nan  # the last value seen, for status views and forced resolutions


class Evaluator:
    """Runs `step` for every (rule, series) the samples touch, remembering the states.

    Only pending and firing series are remembered (inactive is the default), so memory grows
    with current problems, not with the number of series watched.

    `host_labels` (e.g. {"host": "web-01"}) describe the machine itself: they fill summaries
    such as "on {host}" and are added to every transition's labels, but are not part of a
    series' identity and are not matched against rules.
    """

    def __init__(self, pack: RulePack, host_labels: Mapping[str, str] | None = None) -> None:
        self._host_labels = dict(host_labels or {})
        self._states: dict[tuple[str, SeriesLabels], _Tracked] = {}
        self._set_pack(pack)

    @property
    def pack(self) -> RulePack:
        return self._pack

    def observe(self, samples: Iterable[Sample], now: float) -> list[Transition]:
        """Judge the samples (in order) as of `now`; return the transitions they caused."""
        transitions: list[Transition] = []
        for sample in samples:
            for rule in self._by_metric.get(sample.metric, ()):
                if not rule.applies_to(sample):
                    continue
                key = (rule.name, _series(sample.labels))
                tracked = self._states.get(key)
                labels = {**self._host_labels, **sample.labels}
                new, transition = step(
                    rule, tracked.state if tracked else INACTIVE, sample.value, now, labels
                )
                if new.state is AlertState.INACTIVE:
                    self._states.pop(key, None)
                else:
                    self._states[key] = _Tracked(new, labels, sample.value)
                if transition is not None:
                    transitions.append(transition)
        return transitions

    def observe_events(self, events: Iterable[Event]) -> list[Transition]:
        """A FIRING transition per event rule and (log, source, ID) among `events`.

        Events of one source and ID that arrive together become one transition whose value
        is their count and whose summary quotes the latest: fifty identical warnings in a
        minute are one case to look at, not fifty. Event rules keep no state.
        """
        found: dict[tuple[str, str, str, int], tuple[EventRule, Event, int]] = {}
        for event in events:
            for rule in self._pack.event_rules:
                if not rule.applies_to(event):
                    continue
                key = (rule.name, event.log, event.source, event.event_id)
                _, latest, count = found.get(key, (rule, event, 0))
                found[key] = (rule, event if event.at >= latest.at else latest, count + 1)
        transitions = []
        for rule, event, count in found.values():
            labels = {**self._host_labels, "log": event.log, "source": event.source,
                      "id": str(event.event_id)}
            fields = {**labels, "level": event.level.value, "message": event.message}
            transitions.append(Transition(
                rule=rule.name, kind=TransitionKind.FIRING, at=event.at, value=float(count),
                severity=rule.severity, summary=render_summary(rule.summary, count, fields),
                labels=labels))
        return transitions

    def replace_pack(self, pack: RulePack, now: float) -> list[Transition]:
        """Switch to `pack`, keeping the states of rules whose definitions are unchanged.

        The states of changed and removed rules are dropped (a changed threshold or duration
        makes the old judgement meaningless). Their firing series are resolved, returned as
        RESOLVED transitions at `now`, so no case stays open for a rule that no longer
        exists; a changed rule that is still breached fires again under its new definition.
        """
        unchanged = {
            rule.name for rule in pack.rules if self._rules.get(rule.name) == rule
        }
        transitions: list[Transition] = []
        for (name, series), tracked in list(self._states.items()):
            if name in unchanged:
                continue
            del self._states[(name, series)]
            if tracked.state.state is AlertState.FIRING:
                old = self._rules[name]
                transitions.append(Transition(
                    rule=name, kind=TransitionKind.RESOLVED, at=now, value=tracked.value,
                    severity=old.severity,
                    summary=render_summary(old.summary, tracked.value, tracked.labels)
                    + " (resolved: the rule was changed or removed)",
                    labels=dict(tracked.labels),
                ))
        self._set_pack(pack)
        return transitions

    def firing(self) -> list[FiringAlert]:
        """Every firing series, most urgent first, then by rule name and labels."""
        alerts = []
        for (name, series), tracked in self._states.items():
            if tracked.state.state is not AlertState.FIRING:
                continue
            rule = self._rules[name]
            alerts.append((rule.severity, name, series, FiringAlert(
                rule=name, labels=dict(tracked.labels),
                since=tracked.state.since if tracked.state.since is not None else math.nan,
                value=tracked.value, severity=rule.severity,
                summary=render_summary(rule.summary, tracked.value, tracked.labels),
            )))
        return [alert for *_, alert in sorted(alerts, key=lambda a: a[:3])]

    def _set_pack(self, pack: RulePack) -> None:
        self._pack = pack
        self._rules = {rule.name: rule for rule in pack.rules}
        # Indexed by metric so each sample is checked only against the rules that can apply.
        by_metric: dict[str, list[Rule]] = {}
        for rule in pack.rules:
            by_metric.setdefault(rule.metric, []).append(rule)
        self._by_metric = by_metric


def _series(labels: Mapping[str, str]) -> SeriesLabels:
    return tuple(sorted(labels.items()))
