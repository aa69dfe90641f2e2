"""The held-for-a-duration state machine, on a clock moved by hand (10-second samples)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import replace

import pytest

from rules.evaluator import (
    INACTIVE,
    AlertState,
    Evaluator,
    FiringAlert,
    SeriesState,
    render_summary,
    step,
)
from rules.loader import default_pack_path, load_rules
from rules.model import Op, Rule, RulePack, Sample, Transition, TransitionKind

T0 = 1_800_000_000.0
FIRING, RESOLVED = TransitionKind.FIRING, TransitionKind.RESOLVED
DEFAULT = load_rules(default_pack_path())
HOST = {"host": "web-01"}

HELD = Rule(name="held", metric="m", op=Op.ABOVE, threshold=90, clear=80, for_seconds=300,
            severity=2, summary="m at {value:.0f} on {host}")


def cpu(value: float, at: float = T0) -> Sample:
    return Sample("cpu.percent", value, at)


def disk(value: float, mount: str = "/", role: str = "system", at: float = T0) -> Sample:
    return Sample("disk.free_bytes", value, at, {"mount": mount, "role": role})


def run_cpu(ev: Evaluator, values: Iterable[float], start: float = T0,
            every: float = 10.0) -> list[tuple[float, Transition]]:
    """Feed one cpu sample every `every` seconds from `start`; the transitions, with times."""
    out: list[tuple[float, Transition]] = []
    for i, value in enumerate(values):
        now = start + i * every
        out.extend((now, t) for t in ev.observe([cpu(value, now)], now))
    return out


def fired_cpu(start: float = T0) -> tuple[Evaluator, float]:
    """An evaluator whose cpu_high has just fired; returns it and the time it fired."""
    ev = Evaluator(DEFAULT, host_labels=HOST)
    ((at, transition),) = run_cpu(ev, [95] * 31, start)
    assert transition.kind is FIRING
    return ev, at


# --- the default CPU rule over a moving clock ----------------------------------------------


def test_cpu_fires_only_after_five_minutes_above_90() -> None:
    ev = Evaluator(DEFAULT, host_labels=HOST)
    assert run_cpu(ev, [95] * 30) == []  # t0 .. t0+290: pending, not yet five minutes
    (transition,) = ev.observe([cpu(95, T0 + 300)], T0 + 300)
    assert transition == Transition(
        rule="cpu_high", kind=FIRING, at=T0 + 300, value=95, severity=2,
        summary="CPU above 90% for 5 minutes on web-01 (now 95%)", labels=HOST,
    )


def test_cpu_that_dips_to_90_restarts_the_five_minutes() -> None:
    ev = Evaluator(DEFAULT)
    # 4m50s above, one sample at exactly 90 (not above), then above again from t0+310.
    transitions = run_cpu(ev, [95] * 30 + [90] + [95] * 40)
    assert [(at - T0, t.kind) for at, t in transitions] == [(310 + 300, FIRING)]


def test_cpu_at_exactly_90_for_ten_minutes_never_fires() -> None:
    assert run_cpu(Evaluator(DEFAULT), [90] * 60) == []


def test_sparse_samples_fire_on_the_first_one_after_five_minutes() -> None:
    # The agent may miss samples (busy host): the duration is judged on time, not counts.
    transitions = run_cpu(Evaluator(DEFAULT), [95, 95, 95], every=200)
    assert [(at - T0, t.kind) for at, t in transitions] == [(400, FIRING)]


@pytest.mark.parametrize(
    ("value", "resolves"),
    [
        (95, False),
        (90, False),
        (89, False),  # below the threshold, but not past clear: still firing
        (80.5, False),
        (80, False),  # clear is "below 80"
        (79.9, True),
        (0, True),
    ],
)
def test_clears_below_80_not_at_89(value: float, resolves: bool) -> None:
    ev, fired_at = fired_cpu()
    transitions = ev.observe([cpu(value, fired_at + 10)], fired_at + 10)
    assert [t.kind for t in transitions] == ([RESOLVED] if resolves else [])
    assert [a.rule for a in ev.firing()] == ([] if resolves else ["cpu_high"])


def test_does_not_flap_while_hovering_around_90() -> None:
    ev, fired_at = fired_cpu()
    assert run_cpu(ev, [89, 91] * 30, start=fired_at + 10) == []


def test_resolved_transition_carries_the_clearing_value() -> None:
    ev, fired_at = fired_cpu()
    (transition,) = ev.observe([cpu(42, fired_at + 10)], fired_at + 10)
    assert (transition.kind, transition.at, transition.value) == (RESOLVED, fired_at + 10, 42)
    assert transition.summary == "CPU above 90% for 5 minutes on web-01 (now 42%)"


def test_fires_again_only_after_another_five_minutes_once_resolved() -> None:
    ev, fired_at = fired_cpu()
    transitions = run_cpu(ev, [50] + [95] * 31, start=fired_at + 10)
    assert [(at - fired_at, t.kind) for at, t in transitions] == [
        (10, RESOLVED), (20 + 300, FIRING)]


# --- the pure step --------------------------------------------------------------------------


def pending(since: float) -> SeriesState:
    return SeriesState(AlertState.PENDING, since)


def firing(since: float) -> SeriesState:
    return SeriesState(AlertState.FIRING, since)


@pytest.mark.parametrize(
    ("prev", "value", "now", "expected", "kind"),
    [
        (INACTIVE, 85, 100, INACTIVE, None),
        (INACTIVE, 95, 100, pending(100), None),
        (pending(100), 95, 399, pending(100), None),  # 299 s: not yet
        (pending(100), 95, 400, firing(400), FIRING),  # 300 s: held for the full duration
        (pending(100), 95, 1000, firing(1000), FIRING),
        (pending(100), 90, 200, INACTIVE, None),  # back in bounds: quietly inactive
        (pending(100), 50, 200, INACTIVE, None),
        (firing(400), 95, 500, firing(400), None),
        (firing(400), 85, 500, firing(400), None),  # between clear and threshold
        (firing(400), 80, 500, firing(400), None),
        (firing(400), 79, 500, INACTIVE, RESOLVED),
        (INACTIVE, math.nan, 100, INACTIVE, None),
        (pending(100), math.nan, 400, pending(100), None),  # NaN neither confirms nor ends
        (firing(400), math.nan, 500, firing(400), None),
    ],
)
def test_step_follows_inactive_pending_firing(
    prev: SeriesState, value: float, now: float, expected: SeriesState,
    kind: TransitionKind | None,
) -> None:
    state, transition = step(HELD, prev, value, now, {"host": "h"})
    assert state == expected
    assert (transition.kind if transition else None) == kind
    if transition is not None:
        assert (transition.rule, transition.at, transition.severity) == ("held", now, 2)
        assert transition.labels == {"host": "h"}


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        (replace(HELD, for_seconds=0), 95, firing(100)),
        (replace(HELD, for_seconds=0), 90, INACTIVE),
        (replace(HELD, op=Op.BELOW, threshold=0, clear=0, for_seconds=0), -1, firing(100)),
        (replace(HELD, op=Op.BELOW, threshold=0, clear=0, for_seconds=0), 0, INACTIVE),
        (replace(HELD, threshold=0, clear=0, for_seconds=0), 0.001, firing(100)),
    ],
)
def test_rule_without_for_fires_on_the_first_breaching_sample(
    rule: Rule, value: float, expected: SeriesState
) -> None:
    state, transition = step(rule, INACTIVE, value, 100)
    assert state == expected
    assert (transition.kind if transition else None) == (
        FIRING if expected.state is AlertState.FIRING else None)


# --- summaries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "value", "labels", "expected"),
    [
        ("{value:.0f}% on {host}", 95, {"host": "db-2"}, "95% on db-2"),
        ("{value:.0f}% on {host}", 95, {}, "95% on ?"),  # a missing label renders as ?
        ("{mount} {{literal}}", 95, {"mount": "/"}, "/ {literal}"),
        ("{value.__class__}", 95, {}, "?"),  # no attribute access
        ("{} busy", 95, {}, "? busy"),
        ("{0} busy", 95, {}, "? busy"),
        # Templates from the wire are not validated: a broken one degrades, never raises.
        ("{mount:.0f}", 95.5, {}, "{mount:.0f} (value 95.5)"),
        ("{value", 95.5, {}, "{value (value 95.5)"),
    ],
)
def test_summary_rendering_never_raises(
    template: str, value: float, labels: dict[str, str], expected: str
) -> None:
    assert render_summary(template, value, labels) == expected


# --- labels and series ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "fires"),
    [
        ({"mount": "/", "role": "system"}, True),
        ({"mount": "C:\\", "role": "system"}, True),
        ({"mount": "/srv", "role": "data"}, False),  # data volumes are judged in percent
        ({"mount": "/"}, False),  # no role: the match cannot be confirmed
    ],
)
def test_system_volume_rule_matches_only_role_system(labels: dict[str, str], fires: bool) -> None:
    ev = Evaluator(DEFAULT)
    transitions = ev.observe([Sample("disk.free_bytes", 1e9, T0, labels)], T0)
    assert [t.rule for t in transitions] == (["disk_system_low"] if fires else [])


@pytest.mark.parametrize(
    ("metric", "value", "resolves"),
    [
        ("disk.free_bytes", 2.4e9, False),  # back above 2 GB, not yet above 2.5 GB
        ("disk.free_bytes", 2.5e9, False),
        ("disk.free_bytes", 2.6e9, True),
        ("disk.free_percent", 11, False),
        ("disk.free_percent", 12.1, True),
    ],
)
def test_disk_rules_clear_only_past_their_clear_level(
    metric: str, value: float, resolves: bool
) -> None:
    role = "system" if metric == "disk.free_bytes" else "data"
    low = Sample(metric, 1.0, T0, {"mount": "/x", "role": role})
    ev = Evaluator(DEFAULT)
    assert [t.kind for t in ev.observe([low], T0)] == [FIRING]
    later = Sample(metric, value, T0 + 60, {"mount": "/x", "role": role})
    assert [t.kind for t in ev.observe([later], T0 + 60)] == ([RESOLVED] if resolves else [])


def test_each_mount_is_its_own_series() -> None:
    ev = Evaluator(DEFAULT, host_labels=HOST)
    first = ev.observe([disk(1e9, "/"), disk(5e9, "/boot")], T0)
    assert [(t.kind, t.labels["mount"]) for t in first] == [(FIRING, "/")]
    second = ev.observe([disk(1e9, "/", at=T0 + 60), disk(1e9, "/boot", at=T0 + 60)], T0 + 60)
    assert [(t.kind, t.labels["mount"]) for t in second] == [(FIRING, "/boot")]
    third = ev.observe([disk(9e9, "/", at=T0 + 120)], T0 + 120)
    assert [(t.kind, t.labels["mount"]) for t in third] == [(RESOLVED, "/")]
    assert [a.labels["mount"] for a in ev.firing()] == ["/boot"]
    assert first[0].summary == (
        "Less than 2 GB free on system volume / of web-01 (1,000,000,000 bytes free)")
    assert first[0].labels == {"host": "web-01", "mount": "/", "role": "system"}


def test_label_order_does_not_split_a_series() -> None:
    ev = Evaluator(DEFAULT)
    ev.observe([Sample("disk.free_bytes", 1e9, T0, {"mount": "/", "role": "system"})], T0)
    again = Sample("disk.free_bytes", 1e9, T0 + 60, {"role": "system", "mount": "/"})
    assert ev.observe([again], T0 + 60) == []  # already firing, not a second series


def test_samples_of_metrics_without_rules_are_ignored() -> None:
    ev = Evaluator(DEFAULT)
    assert ev.observe([Sample("cpu.temperature", 1e6, T0)], T0) == []
    assert ev.firing() == []


# --- replacing the pack ---------------------------------------------------------------------


def test_replace_pack_keeps_progress_of_unchanged_rules() -> None:
    ev = Evaluator(DEFAULT)
    assert run_cpu(ev, [95] * 13) == []  # pending for two minutes
    equal_but_new = RulePack((*(replace(r) for r in DEFAULT.rules), HELD))
    assert ev.replace_pack(equal_but_new, T0 + 125) == []
    transitions = run_cpu(ev, [95] * 18, start=T0 + 130)
    assert [(at - T0, t.kind) for at, t in transitions] == [(300, FIRING)]


def test_replace_pack_restarts_the_duration_of_a_changed_rule() -> None:
    ev = Evaluator(DEFAULT)
    run_cpu(ev, [95] * 13)  # pending since t0
    stricter = RulePack(tuple(
        replace(r, threshold=93) if r.name == "cpu_high" else r for r in DEFAULT.rules))
    assert ev.replace_pack(stricter, T0 + 125) == []  # only pending: nothing to resolve
    transitions = run_cpu(ev, [95] * 40, start=T0 + 130)
    assert [(at - T0, t.kind) for at, t in transitions] == [(130 + 300, FIRING)]


@pytest.mark.parametrize(
    "new_rules",
    [
        pytest.param(lambda rules: [r for r in rules if r.name != "cpu_high"], id="removed"),
        pytest.param(lambda rules: [replace(r, severity=1) if r.name == "cpu_high" else r
                                    for r in rules], id="changed"),
    ],
)
def test_replace_pack_resolves_firing_series_of_changed_or_removed_rules(
    new_rules: Callable[[tuple[Rule, ...]], list[Rule]],
) -> None:
    ev, fired_at = fired_cpu()
    now = fired_at + 5
    (resolved,) = ev.replace_pack(RulePack(tuple(new_rules(DEFAULT.rules))), now)
    assert (resolved.rule, resolved.kind, resolved.at, resolved.value) == (
        "cpu_high", RESOLVED, now, 95)
    assert (resolved.severity, resolved.labels) == (2, HOST)  # as the case was opened
    assert resolved.summary.endswith("(resolved: the rule was changed or removed)")
    assert ev.firing() == []


def test_replace_pack_keeps_firing_series_of_unchanged_rules() -> None:
    ev, fired_at = fired_cpu()
    ev.observe([disk(1e9)], fired_at)
    without_disk = RulePack(tuple(r for r in DEFAULT.rules if r.metric != "disk.free_bytes"))
    resolved = ev.replace_pack(without_disk, fired_at + 5)
    assert [(t.rule, t.kind) for t in resolved] == [("disk_system_low", RESOLVED)]
    assert [a.rule for a in ev.firing()] == ["cpu_high"]
    assert ev.pack is without_disk
    # The removed rule no longer judges anything.
    assert ev.observe([disk(1e9, at=fired_at + 10)], fired_at + 10) == []


# --- status view ----------------------------------------------------------------------------


def test_firing_lists_firing_series_most_urgent_first_without_pending_ones() -> None:
    urgent = replace(HELD, name="urgent", severity=1, for_seconds=0)
    pack = RulePack((*DEFAULT.rules, urgent))
    ev = Evaluator(pack, host_labels=HOST)
    ev.observe([disk(1e9), Sample("m", 99, T0), cpu(99)], T0)  # cpu only pending
    assert ev.firing() == [
        FiringAlert(rule="urgent", labels=HOST, since=T0, value=99, severity=1,
                    summary="m at 99 on web-01"),
        FiringAlert(rule="disk_system_low", labels={**HOST, "mount": "/", "role": "system"},
                    since=T0, value=1e9, severity=2,
                    summary="Less than 2 GB free on system volume / of web-01 "
                            "(1,000,000,000 bytes free)"),
    ]
