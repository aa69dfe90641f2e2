"""ntfy: POST {server}/{topic} with the message as the body and the rest in headers.

A recipient's address on this channel is their own topic (each person subscribes to theirs);
without one, the channel's `topic` is used. Pages open the acknowledgement page when tapped
(a "view" action: that page asks for confirmation and only its POST acknowledges, so the
phone must not POST the link by itself).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from alerting.notifiers import _http, _settings
from alerting.notifiers._http import Session
from alerting.notifiers.base import Delivered, DeliveryError, Kind, Notification
from watchkeeper.clock import Clock
from watchkeeper.tomlconf import Table

TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")
# ntfy keeps a message body up to 4096 bytes; a longer one becomes a file attachment.
MAX_BODY = 4096
PRIORITIES = {1: 5, 2: 4, 3: 3}  # urgent, high, default
TAGS = {1: "rotating_light", 2: "warning", 3: "information_source"}
# (priority, tag) of the messages that inform rather than page.
_QUIET = {Kind.NOTICE: (3, "speech_balloon"), Kind.STATUS: (3, "speech_balloon"),
          Kind.ACKNOWLEDGED: (2, "white_check_mark"), Kind.RESOLVED: (2, "white_check_mark")}


@dataclass(frozen=True, slots=True)
class NtfySettings:
    server: str
    topic: str  # for recipients without a topic of their own; may be ""
    token: str = field(repr=False)  # an access token (tk_...), "" for an open topic
    timeout: float


def load(t: Table, base: Path) -> NtfySettings:
    """[channel.ntfy]"""
    server = _settings.url(t, "server", "https://ntfy.sh")
    topic = t.str("topic", "") or ""
    token = _settings.secret(t, "token_file", base, required=False)
    timeout = _settings.timeout(t)
    t.done()
    if topic and (reason := check_address(topic)):
        t.problem("topic", reason)
    return NtfySettings(server, topic, token, timeout)


def check_address(address: str) -> str | None:
    if address and not TOPIC.fullmatch(address):
        return f"{address!r} is not an ntfy topic (1 to 64 letters, digits, '-' or '_')"
    return None


def _header_text(text: str) -> str:
    """HTTP headers are Latin-1 at best; ntfy decodes RFC 2047 encoded words."""
    text = " ".join(text.split())
    if text.isascii():
        return text
    return f"=?UTF-8?B?{base64.b64encode(text.encode()).decode()}?="


def _clip_utf8(text: str, limit: int) -> bytes:
    data = text.encode()
    return data if len(data) <= limit else data[:limit].decode(errors="ignore").encode()


def request(settings: NtfySettings, n: Notification) -> tuple[str, dict[str, str], bytes]:
    """(url, headers, body) of the publish request."""
    topic = n.address or settings.topic
    priority, tag = _QUIET.get(n.kind) or (PRIORITIES.get(n.severity, 3),
                                           TAGS.get(n.severity, "bell"))
    headers = {
        "Title": _header_text(n.headline),
        # X-Priority rather than Priority: the bare name is also RFC 9218's request
        # priority, which proxies such as Cloudflare set on their own.
        "X-Priority": str(priority),
        "Tags": f"{tag},case-{n.case_number},severity-{n.severity}",
        "Content-Type": "text/plain; charset=utf-8",
    }
    if n.ack_url:
        headers["Click"] = n.ack_url
        headers["Actions"] = json.dumps([{"action": "view", "label": "Acknowledge",
                                          "url": n.ack_url}])
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    return f"{settings.server}/{topic}", headers, _clip_utf8(n.body, MAX_BODY)


class NtfyNotifier:
    def __init__(self, settings: NtfySettings, session: Session, clock: Clock) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock
        self.what = f"ntfy at {_http.where(settings.server)}"

    async def send(self, n: Notification) -> Delivered:
        topic = n.address or self.settings.topic
        reason = check_address(topic) if topic else "no topic (set the recipient's address" \
            " or the channel's topic)"
        if reason:
            raise DeliveryError(f"cannot notify {n.recipient} by ntfy: {reason}", False)
        s = self.settings
        url, headers, body = request(s, n)
        reply = await _http.post(self.session, url, what=self.what, timeout=s.timeout,
                                 now=self.clock.now(), secrets=(s.token,), headers=headers,
                                 data=body)
        answer = reply.json()
        if reply.ok:
            return Delivered(f"{self.what} published {answer.get('id', '?')} to {topic}")
        detail = f"{answer.get('error', '')} (code {answer['code']})" if "code" in answer else ""
        raise _http.refused(self.what, reply, detail[:300], (s.token,))


def notifier(settings: NtfySettings, session: Session, clock: Clock) -> NtfyNotifier:
    return NtfyNotifier(settings, session, clock)
