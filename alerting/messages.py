"""What a page, a customer notice and a status update say. Pure text in, text out."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from alerting.policy import MessageKind

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(text: str, limit: int = 200) -> str:
    """Agent-reported text is hostile until proven otherwise: no control characters (so no
    header injection), NFC-normalised, bounded."""
    return _CONTROL.sub(" ", unicodedata.normalize("NFC", text))[:limit]


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class CaseFacts:
    number: int
    severity: int
    customer: str
    title: str
    opened_at: float
    state: str
    evidence: str


def compose(kind: MessageKind, case: CaseFacts, recipient: str, ack_url: str | None,
            now: float) -> tuple[str, str]:
    title = clean(case.title)
    head = f"Severity {case.severity} case #{case.number}: {title}"
    if kind is MessageKind.PAGE:
        subject = f"[watchkeeper] PAGE {head} ({clean(case.customer)})"
        lines = [
            f"{recipient}, you are paged for {head}.",
            "",
            f"Customer:  {clean(case.customer)}",
            f"Opened:    {when(case.opened_at)}",
            f"Evidence:  {clean(case.evidence, 500)}",
            "",
            "Acknowledge (stops the escalation to the next person):",
            f"  {ack_url}",
            "",
            f"or from a terminal: watchkeeper ack {case.number}",
        ]
    elif kind is MessageKind.NOTICE:
        subject = f"[watchkeeper] Case #{case.number} opened: {title}"
        lines = [
            f"Dear {recipient},",
            "",
            f"We have opened case #{case.number} (severity {case.severity}) for {title}.",
            f"It was opened at {when(case.opened_at)} and our on-call engineer has been paged.",
            "Please quote the case number in any reply.",
        ]
    else:
        subject = f"[watchkeeper] Status of case #{case.number}: {title}"
        lines = [
            f"Dear {recipient},",
            "",
            f"Case #{case.number} (severity {case.severity}, {title}) is {case.state}"
            f" as of {when(now)}.",
            "We will keep you informed until it is closed.",
        ]
    return subject, "\n".join(lines) + "\n"
