"""What every channel shares: the notification handed to it, what it answers, and how it fails.

The outbox calls `await notifier.send(n)` for every channel alike. A notifier only says
whether a failure is worth retrying (and, when the provider asked, after how long); retrying,
backing off and falling over to the next channel are the outbox's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Kind(StrEnum):
    """What a message is for; channels render each kind differently (only pages carry an
    acknowledgement link, PagerDuty turns acknowledged/resolved into follow-up events)."""

    PAGE = "page"  # to on-call staff, with an acknowledgement link
    NOTICE = "notice"  # to a customer contact: a case is open, with its number
    STATUS = "status"  # periodic status to a customer contact
    SUMMARY = "summary"  # what still fails when a maintenance window ends
    ACKNOWLEDGED = "acknowledged"  # someone took the case: stop paging elsewhere too
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one recipient on one channel, as the outbox holds it.

    `key` identifies this message (the outbox row's idempotency key): a resend after a crash
    carries the same key, so receivers can fold duplicates. `dedup_key` identifies the case
    across all its messages, so a pager provider updates one incident instead of opening more.
    Text fields are already cleaned of control characters by whoever composed them.
    """

    key: str
    case_id: int
    case_number: int
    severity: int  # 1 urgent, 2 medium, 3 low
    kind: Kind
    title: str  # the case title, one line
    subject: str  # one line: mail subject, chat headline
    body: str  # the full text a person reads
    recipient: str  # the person's or contact's name
    address: str  # channel-specific: mail address, phone number, ntfy topic; may be ""
    dedup_key: str
    ack_url: str | None = None
    customer: str = ""
    source: str = ""  # the device or site the case is about

    @property
    def headline(self) -> str:
        """Case number and severity first, so a cut-off preview still says what matters."""
        return f"Severity {self.severity} case #{self.case_number}: {self.title}"


@dataclass(frozen=True, slots=True)
class Delivered:
    reply: str  # what the receiver said, for the case timeline ("Twilio accepted SM12...")


class DeliveryError(Exception):
    """The message did not get through. `retryable` says whether trying again later can help;
    `retry_after` is the wait the receiver asked for (429/503 Retry-After), in seconds."""

    def __init__(self, message: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Notifier(Protocol):
    async def send(self, n: Notification) -> Delivered:
        """Deliver `n` or raise DeliveryError; never logs, never leaks a secret in the error."""
        ...


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Error texts come partly from libraries and peers; no secret may reach the timeline."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
