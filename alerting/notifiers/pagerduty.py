"""PagerDuty Events API v2: POST {url}/v2/enqueue with a JSON event.

Every event about a case carries the case's dedup_key, so a retried or repeated page updates
the one open PagerDuty alert instead of opening another, and acknowledging or resolving the
case here acknowledges or resolves it there. PagerDuty answers 202; 400 means the event is
invalid (never retry), 429 and 5xx mean try again later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerting.notifiers import _http, _settings
from alerting.notifiers._http import Session
from alerting.notifiers.base import Delivered, DeliveryError, Kind, Notification
from watchkeeper.clock import Clock
from watchkeeper.tomlconf import Table

ACTIONS = {
    Kind.PAGE: "trigger",
    Kind.SUMMARY: "trigger",
    Kind.ACKNOWLEDGED: "acknowledge",
    Kind.RESOLVED: "resolve",
}
KINDS = frozenset(ACTIONS)
SEVERITIES = {1: "critical", 2: "error", 3: "warning"}
SUMMARY_LIMIT = 1024  # PagerDuty truncates longer summaries


@dataclass(frozen=True, slots=True)
class PagerDutySettings:
    url: str
    routing_key: str = field(repr=False)  # the integration key: whoever has it can page
    source: str  # payload.source when the notification names no device
    timeout: float

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v2/enqueue"


def load(t: Table, base: Path) -> PagerDutySettings:
    """[channel.pagerduty]"""
    url = _settings.url(t, "url", "https://events.pagerduty.com")
    key = _settings.secret(t, "routing_key_file", base, required=True)
    source = t.str("source", "watchkeeper") or "watchkeeper"
    timeout = _settings.timeout(t)
    t.done()
    if key and len(key) != 32:
        t.problem("routing_key_file", f"the file holds {len(key)} characters; an Events API v2"
                  " integration key has 32")
    return PagerDutySettings(url, key, source, timeout)


def check_address(address: str) -> str | None:
    """PagerDuty routes by the integration key and pages by its own schedules: a recipient
    needs no address on this channel."""
    return None


def event(settings: PagerDutySettings, n: Notification, now: float) -> dict[str, Any]:
    action = ACTIONS[n.kind]
    doc: dict[str, Any] = {"routing_key": settings.routing_key, "event_action": action,
                           "dedup_key": n.dedup_key}
    if action != "trigger":
        return doc  # acknowledge and resolve need nothing but the key
    summary = n.headline + (f" ({n.customer})" if n.customer else "")
    payload: dict[str, Any] = {
        "summary": summary[:SUMMARY_LIMIT],
        "source": n.source or settings.source,
        "severity": SEVERITIES.get(n.severity, "info"),
        "timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "class": n.kind.value,
        "custom_details": {"case": n.case_number, "severity": n.severity,
                           "customer": n.customer, "details": n.body},
    }
    if n.source:
        payload["component"] = n.source
    if n.customer:
        payload["group"] = n.customer
    doc["payload"] = payload
    doc["client"] = "watchkeeper"
    if n.ack_url:
        # Acknowledging inside PagerDuty does not reach us; this link stops our escalation.
        doc["links"] = [{"href": n.ack_url,
                         "text": f"Acknowledge case #{n.case_number} in watchkeeper"}]
    return doc


class PagerDutyNotifier:
    def __init__(self, settings: PagerDutySettings, session: Session, clock: Clock) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock
        self.what = f"PagerDuty at {_http.where(settings.url)}"

    async def send(self, n: Notification) -> Delivered:
        if n.kind not in KINDS:
            raise DeliveryError(f"PagerDuty carries pages and their acknowledgement, not"
                                f" {n.kind.value} messages", False)
        s, now = self.settings, self.clock.now()
        doc = event(s, n, now)
        reply = await _http.post(self.session, s.endpoint, what=self.what, timeout=s.timeout,
                                 now=now, secrets=(s.routing_key,), json=doc)
        answer = reply.json()
        if reply.ok:
            return Delivered(f"{self.what} accepted the {doc['event_action']} event for"
                             f" {answer.get('dedup_key', n.dedup_key)}")
        errors = answer.get("errors")
        detail = str(answer.get("message", ""))
        if isinstance(errors, list) and errors:
            detail += ": " + "; ".join(str(e) for e in errors)
        raise _http.refused(self.what, reply, detail[:300], (s.routing_key,))


def notifier(settings: PagerDutySettings, session: Session, clock: Clock) -> PagerDutyNotifier:
    return PagerDutyNotifier(settings, session, clock)
