"""The case state machine (SPEC section 5): pure, with the allowed moves in one table."""

from __future__ import annotations

from enum import StrEnum


class CaseState(StrEnum):
    NEW = "new"
    OPEN = "open"
    HOLD = "hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


class CaseAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    HOLD = "hold"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    RETRIGGER = "retrigger"  # the problem came back before anyone closed the case


class CaseSource(StrEnum):
    HEARTBEAT = "heartbeat"
    RULE = "rule"
    TRAP = "trap"
    MANUAL = "manual"


_S, _A = CaseState, CaseAction
_MOVES: dict[tuple[CaseState, CaseAction], CaseState] = {
    (_S.NEW, _A.ACKNOWLEDGE): _S.OPEN,
    (_S.NEW, _A.HOLD): _S.HOLD,
    (_S.OPEN, _A.HOLD): _S.HOLD,
    (_S.HOLD, _A.ACKNOWLEDGE): _S.OPEN,
    (_S.NEW, _A.RESOLVE): _S.RESOLVED,
    (_S.OPEN, _A.RESOLVE): _S.RESOLVED,
    (_S.HOLD, _A.RESOLVE): _S.RESOLVED,
    (_S.NEW, _A.CLOSE): _S.CLOSED,
    (_S.OPEN, _A.CLOSE): _S.CLOSED,
    (_S.HOLD, _A.CLOSE): _S.CLOSED,
    (_S.RESOLVED, _A.CLOSE): _S.CLOSED,
    (_S.RESOLVED, _A.REOPEN): _S.OPEN,
    (_S.CLOSED, _A.REOPEN): _S.OPEN,
    (_S.RESOLVED, _A.RETRIGGER): _S.NEW,
}

# States in which escalation is still wanted for "unless acknowledged" steps.
UNACKNOWLEDGED_STATES = frozenset({CaseState.NEW})


def can(state: CaseState, action: CaseAction) -> bool:
    return (state, action) in _MOVES


class InvalidTransition(ValueError):
    pass


def apply(state: CaseState, action: CaseAction) -> CaseState:
    try:
        return _MOVES[(state, action)]
    except KeyError:
        allowed = sorted(a.value for (s, a) in _MOVES if s is state)
        raise InvalidTransition(
            f"a case that is {state.value} cannot be {action.value}d"
            f" (allowed: {', '.join(allowed) or 'nothing'})"
        ) from None
