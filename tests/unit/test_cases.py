"""The case state machine (SPEC 5) as a table: every state against every action."""

from __future__ import annotations

import pytest

from alerting.cases import (
    CaseAction,
    CaseState,
    FlapPolicy,
    HoldReason,
    InvalidTransition,
    allowed,
    apply,
    is_flapping,
    on_trigger,
)

S, A = CaseState, CaseAction

# Written out from SPEC 5, not read from the code: (state, action) -> state after.
EXPECTED = {
    (S.NEW, A.ACKNOWLEDGE): S.OPEN,
    (S.NEW, A.ASSIGN): S.NEW,
    (S.NEW, A.NOTE): S.NEW,
    (S.NEW, A.RESOLVE): S.RESOLVED,
    (S.NEW, A.CLOSE): S.CLOSED,
    (S.OPEN, A.ASSIGN): S.OPEN,
    (S.OPEN, A.NOTE): S.OPEN,
    (S.OPEN, A.HOLD): S.HOLD,
    (S.OPEN, A.RESOLVE): S.RESOLVED,
    (S.OPEN, A.CLOSE): S.CLOSED,
    (S.HOLD, A.ASSIGN): S.HOLD,
    (S.HOLD, A.NOTE): S.HOLD,
    (S.HOLD, A.HOLD): S.HOLD,
    (S.HOLD, A.RESUME): S.OPEN,
    (S.HOLD, A.RESOLVE): S.RESOLVED,
    (S.HOLD, A.CLOSE): S.CLOSED,
    (S.RESOLVED, A.ASSIGN): S.RESOLVED,
    (S.RESOLVED, A.NOTE): S.RESOLVED,
    (S.RESOLVED, A.CLOSE): S.CLOSED,
    (S.RESOLVED, A.REOPEN): S.OPEN,
    (S.RESOLVED, A.RETRIGGER): S.NEW,
    (S.RESOLVED, A.RELAPSE): S.NEW,
    (S.CLOSED, A.REOPEN): S.OPEN,
}
EVERY_MOVE = [(s, a) for s in CaseState for a in CaseAction]


@pytest.mark.parametrize(("state", "action"), [m for m in EVERY_MOVE if m in EXPECTED],
                         ids=lambda v: v.value)
def test_allowed_moves(state: CaseState, action: CaseAction) -> None:
    assert apply(state, action) is EXPECTED[(state, action)]


@pytest.mark.parametrize(("state", "action"), [m for m in EVERY_MOVE if m not in EXPECTED],
                         ids=lambda v: v.value)
def test_refused_moves_say_what_is_allowed(state: CaseState, action: CaseAction) -> None:
    with pytest.raises(InvalidTransition, match=f"^a case that is {state.value} cannot be") as e:
        apply(state, action)
    moves = ", ".join(a.value for a in allowed(state)) or "nothing"
    assert str(e.value).endswith(f"(allowed: {moves})")


@pytest.mark.parametrize(("state", "message"), [
    (S.NEW, "a case that is new cannot be put on hold"
            " (allowed: acknowledge, assign, note, resolve, close)"),
    (S.CLOSED, "a case that is closed cannot be put on hold (allowed: reopen)"),
])
def test_a_refusal_reads_as_english_and_offers_only_what_people_do(state: CaseState,
                                                                    message: str) -> None:
    with pytest.raises(InvalidTransition) as e:
        apply(state, A.HOLD)
    assert str(e.value) == message


def test_triggers_moves_are_never_offered_to_people() -> None:
    assert allowed(S.RESOLVED) == (A.ASSIGN, A.NOTE, A.CLOSE, A.REOPEN)


def test_every_hold_reason_of_the_spec_is_there() -> None:
    assert [r.label for r in HoldReason] == [
        "research/testing", "awaiting customer", "pending fix", "RFC submitted"]


M = 30 * 60.0
T0 = 1_800_000_000.0


@pytest.mark.parametrize(("earlier", "was", "flapping"), [
    ([], False, False),
    ([T0 - 60 * i for i in range(1, 4)], False, False),  # 4 in the window: not more than K
    ([T0 - 60 * i for i in range(1, 5)], False, True),  # the 5th within 30 min
    ([T0 - M - 60 * i for i in range(1, 10)], False, False),  # many, but all too old
    ([T0 - M, T0 - 60, T0 - 120, T0 - 180], False, False),  # exactly M ago is outside
    ([T0 - M + 1], True, True),  # still flapping: not a whole window without a transition
    ([T0 - M - 1], True, False),  # a whole window quiet: it stops
    ([], True, False),
])
def test_more_than_k_transitions_within_m_minutes_is_flapping(
        earlier: list[float], was: bool, flapping: bool) -> None:
    assert is_flapping(earlier, T0, was) is flapping


def test_the_flap_thresholds_are_parameters() -> None:
    strict = FlapPolicy(transitions=1, window=60)
    assert is_flapping([T0 - 30], T0, False, strict)
    assert not is_flapping([T0 - 90], T0, False, strict)


@pytest.mark.parametrize(("state", "resolved_at", "automatic", "flapping", "move"), [
    (S.NEW, None, False, False, None),  # joins: only a timeline entry
    (S.HOLD, None, False, True, None),
    (S.RESOLVED, T0 - 600, False, False, A.RETRIGGER),  # a person's fix did not hold: page
    (S.RESOLVED, T0 - 600, True, False, A.RELAPSE),  # cleared 10 min ago: the same episode
    (S.RESOLVED, T0 - M, True, False, A.RETRIGGER),  # cleared a whole window ago: news
    (S.RESOLVED, T0 - 7200, False, True, A.RELAPSE),  # flapping never pages afresh
])
def test_what_a_new_trigger_does_to_its_case(state: CaseState, resolved_at: float | None,
                                             automatic: bool, flapping: bool,
                                             move: CaseAction | None) -> None:
    assert on_trigger(state, resolved_at, automatic, flapping, T0) is move
