import pytest

from alerting.cases import CaseAction, CaseState, InvalidTransition, apply

S, A = CaseState, CaseAction


@pytest.mark.parametrize(("state", "action", "after"), [
    (S.NEW, A.ACKNOWLEDGE, S.OPEN),
    (S.OPEN, A.HOLD, S.HOLD),
    (S.HOLD, A.RESOLVE, S.RESOLVED),
    (S.OPEN, A.RESOLVE, S.RESOLVED),
    (S.RESOLVED, A.CLOSE, S.CLOSED),
    (S.CLOSED, A.REOPEN, S.OPEN),
    (S.RESOLVED, A.RETRIGGER, S.NEW),
])
def test_allowed_moves(state: CaseState, action: CaseAction, after: CaseState) -> None:
    assert apply(state, action) is after


@pytest.mark.parametrize(("state", "action"), [
    (S.OPEN, A.ACKNOWLEDGE),
    (S.CLOSED, A.RESOLVE),
    (S.CLOSED, A.ACKNOWLEDGE),
    (S.NEW, A.REOPEN),
])
def test_refused_moves_say_what_is_allowed(state: CaseState, action: CaseAction) -> None:
    with pytest.raises(InvalidTransition, match=f"a case that is {state.value} cannot be"):
        apply(state, action)
