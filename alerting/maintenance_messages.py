"""What the one summary sent when a maintenance window ends says, to each person or contact
the cases' first escalation step names. Pure text in, text out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alerting.messages import clean, when
from alerting.policy import MessageKind


@dataclass(frozen=True, slots=True)
class HeldCase:
    """A case the window kept quiet that still fails when it ends."""
    number: int
    severity: int
    customer: str
    device: str | None  # hostname; None for a case without a device
    title: str
    state: str
    ack_url: str | None  # pages only


def _line(case: HeldCase) -> str:
    device = clean(case.device) if case.device else "-"
    return f"  #{case.number:<5} severity {case.severity}  {device:<20} {clean(case.title)}"


def compose_summary(kind: MessageKind, window: str, ended_at: float,
                    cases: Sequence[HeldCase], recipient: str, now: float) -> tuple[str, str]:
    """`window` names it ('maintenance window #3 (kernel patching)'); `cases` are in the order
    they are listed."""
    window = clean(window)
    customers = sorted({clean(c.customer) for c in cases})
    count = f"{len(cases)} case{'s' if len(cases) != 1 else ''}"
    if kind is MessageKind.PAGE:
        subject = (f"[watchkeeper] PAGE {count} still failing after {window}"
                   f" ({', '.join(customers)})")
        lines = [f"{recipient}, you are paged: {window} ended at {when(ended_at)} and these"
                 f" {count} opened during it still fail.", ""]
        for case in cases:
            lines += [_line(case), f"         acknowledge: {case.ack_url}"]
        lines += ["", "Each case escalates on its own from now until it is acknowledged:"
                  " watchkeeper ack NUMBER"]
    elif kind is MessageKind.NOTICE:
        subject = f"[watchkeeper] {count} open after {window}"
        lines = [f"Dear {recipient},", "",
                 f"Our {window} ended at {when(ended_at)}. These problems found during it are"
                 " still open, and our on-call engineer has been paged:", ""]
        lines += [_line(case) for case in cases]
        lines += ["", "Please quote the case number in any reply."]
    else:
        subject = f"[watchkeeper] Status of {count} after {window}"
        lines = [f"Dear {recipient},", "", f"As of {when(now)}, after our {window}:", ""]
        lines += [f"{_line(case)}  ({case.state})" for case in cases]
        lines += ["", "We will keep you informed until they are closed."]
    return subject, "\n".join(lines) + "\n"
