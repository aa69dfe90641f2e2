"""The case state machine (SPEC section 5): pure, with the allowed moves in one table, and
the flapping rule (K fires/clears within M minutes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class CaseState(StrEnum):
    NEW = "new"
    OPEN = "open"
    HOLD = "hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


class CaseAction(StrEnum):
    # What people do (each is a `watchkeeper case ...` command, or `watchkeeper ack`) ...
    ACKNOWLEDGE = "acknowledge"
    ASSIGN = "assign"
    NOTE = "note"
    HOLD = "hold"
    RESUME = "resume"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    # ... and what triggers do to a resolved case.
    RETRIGGER = "retrigger"  # the problem came back: a new episode, paged again from step 1
    RELAPSE = "relapse"  # it came back within the flap window: the same episode, no new page


class CaseSource(StrEnum):
    HEARTBEAT = "heartbeat"
    RULE = "rule"
    TRAP = "trap"
    MANUAL = "manual"


class HoldReason(StrEnum):
    """Why a case waits (SPEC 5); the value is what `case hold --reason` takes."""
    RESEARCH = "research"
    AWAITING_CUSTOMER = "awaiting-customer"
    PENDING_FIX = "pending-fix"
    RFC_SUBMITTED = "rfc-submitted"

    @property
    def label(self) -> str:
        return _HOLD_LABELS[self]


_HOLD_LABELS = {
    HoldReason.RESEARCH: "research/testing",
    HoldReason.AWAITING_CUSTOMER: "awaiting customer",
    HoldReason.PENDING_FIX: "pending fix",
    HoldReason.RFC_SUBMITTED: "RFC submitted",
}

_S, _A = CaseState, CaseAction
# Every move, including those that leave the state as it is: what is not here is refused.
# A case is put on hold only once someone has acknowledged it: hold stops the "unless
# acknowledged" escalation steps, and a case nobody has taken must keep escalating.
# A closed case is a finished record (the monthly report reads it): reopen it to change it.
_MOVES: dict[tuple[CaseState, CaseAction], CaseState] = {
    (_S.NEW, _A.ACKNOWLEDGE): _S.OPEN,
    (_S.NEW, _A.ASSIGN): _S.NEW,
    (_S.NEW, _A.NOTE): _S.NEW,
    (_S.NEW, _A.RESOLVE): _S.RESOLVED,
    (_S.NEW, _A.CLOSE): _S.CLOSED,
    (_S.OPEN, _A.ASSIGN): _S.OPEN,
    (_S.OPEN, _A.NOTE): _S.OPEN,
    (_S.OPEN, _A.HOLD): _S.HOLD,
    (_S.OPEN, _A.RESOLVE): _S.RESOLVED,
    (_S.OPEN, _A.CLOSE): _S.CLOSED,
    (_S.HOLD, _A.ASSIGN): _S.HOLD,
    (_S.HOLD, _A.NOTE): _S.HOLD,
    (_S.HOLD, _A.HOLD): _S.HOLD,  # the reason changed, e.g. from research to pending fix
    (_S.HOLD, _A.RESUME): _S.OPEN,
    (_S.HOLD, _A.RESOLVE): _S.RESOLVED,
    (_S.HOLD, _A.CLOSE): _S.CLOSED,
    (_S.RESOLVED, _A.ASSIGN): _S.RESOLVED,
    (_S.RESOLVED, _A.NOTE): _S.RESOLVED,
    (_S.RESOLVED, _A.CLOSE): _S.CLOSED,
    (_S.RESOLVED, _A.REOPEN): _S.OPEN,
    (_S.RESOLVED, _A.RETRIGGER): _S.NEW,
    (_S.RESOLVED, _A.RELAPSE): _S.NEW,
    (_S.CLOSED, _A.REOPEN): _S.OPEN,
}

# Done by watchkeeper when a trigger arrives, never offered to people.
_AUTOMATIC = frozenset({CaseAction.RETRIGGER, CaseAction.RELAPSE})

# How a refusal names the move: "a case that is new cannot be put on hold".
_DONE = {
    _A.ACKNOWLEDGE: "acknowledged", _A.ASSIGN: "assigned", _A.NOTE: "given a note",
    _A.HOLD: "put on hold", _A.RESUME: "resumed", _A.RESOLVE: "resolved", _A.CLOSE: "closed",
    _A.REOPEN: "reopened", _A.RETRIGGER: "triggered again", _A.RELAPSE: "triggered again",
}

# States in which escalation is still wanted for "unless acknowledged" steps.
UNACKNOWLEDGED_STATES = frozenset({CaseState.NEW})


def can(state: CaseState, action: CaseAction) -> bool:
    return (state, action) in _MOVES


def allowed(state: CaseState) -> tuple[CaseAction, ...]:
    """What a person may do to a case in this state, in the order of CaseAction."""
    return tuple(a for a in CaseAction if (state, a) in _MOVES and a not in _AUTOMATIC)


class InvalidTransition(ValueError):
    pass


def apply(state: CaseState, action: CaseAction) -> CaseState:
    try:
        return _MOVES[(state, action)]
    except KeyError:
        moves = ", ".join(a.value for a in allowed(state)) or "nothing"
        raise InvalidTransition(
            f"a case that is {state.value} cannot be {_DONE[action]} (allowed: {moves})"
        ) from None


@dataclass(frozen=True, slots=True)
class FlapPolicy:
    """A rule that fires and clears more than `transitions` times within `window` seconds
    is flapping; it stops flapping once `window` seconds pass without a fire or clear."""
    transitions: int = 4
    window: float = 30 * 60.0


FLAP = FlapPolicy()


def is_flapping(earlier: Sequence[float], now: float, was_flapping: bool,
                policy: FlapPolicy = FLAP) -> bool:
    """Whether a case is flapping after a fire or clear at `now`. `earlier` holds the times
    of its fires and clears before this one (any that are older than the window are
    ignored)."""
    recent = sum(1 for at in earlier if at > now - policy.window)
    if recent + 1 > policy.transitions:
        return True
    # Once flapping, it stays so until a whole window passes without a fire or clear.
    return was_flapping and recent > 0


def on_trigger(state: CaseState, resolved_at: float | None, resolved_automatically: bool,
               flapping: bool, now: float, policy: FlapPolicy = FLAP) -> CaseAction | None:
    """What a new trigger does to the case it joins (None: it only goes on the timeline).

    A case resolved by a person and triggered again is news: it pages again from the first
    step. A case that resolved by itself (a rule cleared, a device reported again) and came
    back within the flap window is the same episode: it is kept, with the escalation it
    had, instead of paging afresh; and a flapping case never pages afresh."""
    if state is not CaseState.RESOLVED:
        return None
    if flapping or (resolved_automatically and resolved_at is not None
                    and now - resolved_at < policy.window):
        return CaseAction.RELAPSE
    return CaseAction.RETRIGGER
