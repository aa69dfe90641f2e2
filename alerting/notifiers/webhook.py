"""A generic webhook: one JSON POST, shaped for Slack, for Microsoft Teams, or in our own
documented schema (optionally signed with HMAC-SHA256).

- slack: an incoming-webhook message ({"text", "blocks"}); Slack answers 200 "ok", or an
  error word ("invalid_payload", "no_service", "channel_is_archived"...) with 4xx.
- teams: a message carrying an Adaptive Card 1.4, as Teams incoming webhooks and Workflows
  accept it; Workflows answer 202.
- json: {"schema": "watchkeeper.notification.v1", "id", "kind", "sent_at", "case": {"id",
  "number", "severity", "title", "customer", "source"}, "recipient": {"name", "address"},
  "subject", "body", "ack_url", "dedup_key"}. `id` is the same on every retry of one
  message, so a receiver can fold duplicates. With `secret_file`, the header
  X-Watchkeeper-Signature: sha256=<hex HMAC-SHA256 of the raw body> proves the sender;
  `sent_at` is inside the signed body, so a receiver can refuse stale replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from alerting.notifiers import _http, _settings
from alerting.notifiers._http import Session
from alerting.notifiers.base import Delivered, Notification
from watchkeeper.clock import Clock
from watchkeeper.tomlconf import Table

SCHEMA = "watchkeeper.notification.v1"
SIGNATURE_HEADER = "X-Watchkeeper-Signature"
# Slack's limits: a header block's text 150 characters, a section's text 3000.
SLACK_HEADER, SLACK_SECTION = 150, 3000


class Format(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    format: Format
    url: str = field(repr=False)  # a Slack or Teams webhook URL is itself the credential
    secret: str = field(repr=False)  # HMAC key for the json format; "" for unsigned
    timeout: float


def load(t: Table, base: Path) -> WebhookSettings:
    """[channel.webhook]: `url`, or `url_file` when the URL is a credential (Slack, Teams)."""
    fmt = t.choice("format", Format, "json") or Format.JSON
    url = t.str("url", None)
    url_secret = _settings.secret(t, "url_file", base, required=False)
    secret = _settings.secret(t, "secret_file", base, required=False)
    timeout = _settings.timeout(t)
    t.done()
    if (url is None) == (not url_secret):
        t.problem("url", "set exactly one of url and url_file")
    elif url is not None:
        url = _settings.check_url(t, "url", url)
    else:
        url = _settings.check_url(t, "url_file", url_secret, hide=True)
    if secret and fmt is not Format.JSON:
        t.problem("secret_file", f"{fmt.value} does not check signatures; secret_file signs"
                  " the json format only")
    return WebhookSettings(fmt, url or "", secret, timeout)


def check_address(address: str) -> str | None:
    """The webhook's URL decides where messages go: a recipient needs no address on it."""
    return None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _slack_escape(text: str) -> str:
    """Slack reads <...> as links and mentions: a device named "<!channel>" must not
    notify a whole workspace."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(n: Notification) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header",
         "text": {"type": "plain_text", "text": n.headline[:SLACK_HEADER], "emoji": False}},
        {"type": "section",
         "text": {"type": "mrkdwn", "text": _slack_escape(n.body)[:SLACK_SECTION]}},
    ]
    if n.ack_url:
        # A link, not a button: buttons also post an interaction to a Slack app, which an
        # incoming webhook does not have.
        blocks.append({"type": "section", "text": {
            "type": "mrkdwn", "text": f"<{n.ack_url}|Acknowledge case #{n.case_number}>"}})
    return {"text": _slack_escape(n.headline), "blocks": blocks}


def teams(n: Notification) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": n.headline, "weight": "Bolder", "size": "Medium",
         "wrap": True, "color": "Attention" if n.severity == 1 else "Default"},
        {"type": "FactSet", "facts": [
            {"title": "Case", "value": f"#{n.case_number}"},
            {"title": "Severity", "value": str(n.severity)},
            *([{"title": "Customer", "value": n.customer}] if n.customer else []),
        ]},
    ]
    # One TextBlock a line: Teams clients disagree on single newlines inside a block.
    gap = False
    for line in n.body.splitlines():
        if not line.strip():
            gap = True
            continue
        body.append({"type": "TextBlock", "text": line, "wrap": True,
                     "spacing": "Medium" if gap else "None"})
        gap = False
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4", "body": body,
    }
    if n.ack_url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": n.ack_url}]
    return {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": card}]}


def document(n: Notification, now: float) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "id": n.key,
        "kind": n.kind.value,
        "sent_at": _iso(now),
        "case": {"id": n.case_id, "number": n.case_number, "severity": n.severity,
                 "title": n.title, "customer": n.customer, "source": n.source},
        "recipient": {"name": n.recipient, "address": n.address},
        "subject": n.subject,
        "body": n.body,
        "ack_url": n.ack_url,
        "dedup_key": n.dedup_key,
    }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(fmt: Format, n: Notification, now: float) -> dict[str, Any]:
    if fmt is Format.SLACK:
        return slack(n)
    if fmt is Format.TEAMS:
        return teams(n)
    return document(n, now)


def request(settings: WebhookSettings, n: Notification,
            now: float) -> tuple[dict[str, str], bytes]:
    """(headers, body): the body is serialised here so the signature covers the exact bytes."""
    body = json.dumps(payload(settings.format, n, now), ensure_ascii=False,
                      separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if settings.secret:
        headers[SIGNATURE_HEADER] = sign(settings.secret, body)
    return headers, body


class WebhookNotifier:
    def __init__(self, settings: WebhookSettings, session: Session, clock: Clock) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock
        self.what = f"{settings.format.value} webhook at {_http.where(settings.url)}"

    async def send(self, n: Notification) -> Delivered:
        s, now = self.settings, self.clock.now()
        headers, body = request(s, n, now)
        secrets = (s.url, s.secret)
        reply = await _http.post(self.session, s.url, what=self.what, timeout=s.timeout,
                                 now=now, secrets=secrets, headers=headers, data=body)
        if reply.ok:
            return Delivered(f"{self.what} answered {reply.status}")
        # Slack explains in one word; other receivers' bodies are theirs, not for our timeline.
        detail = reply.text.strip()[:60] if s.format is Format.SLACK else ""
        raise _http.refused(self.what, reply, detail if detail.isprintable() else "", secrets)


def notifier(settings: WebhookSettings, session: Session, clock: Clock) -> WebhookNotifier:
    return WebhookNotifier(settings, session, clock)
