"""Real local receivers for the notification channels, speaking each provider's documented
request format and answering as the provider does.

Every HTTP peer records each request it gets, checks it strictly (path, credentials, content
type, required fields, limits) and refuses a malformed one with the provider's own error
shape, so a notifier that drifts from the format fails its test. `cue(status)` makes the next
answer a chosen failure (400, 401, 429 with Retry-After, 500...), as the provider words it.

Start a peer inside a test's fixture: `await peer.start(aiohttp_server)`; `peer.url` is then
its base URL. The SMTP peer runs aiosmtpd with STARTTLS or implicit TLS, and AUTH.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import ssl
import subprocess
import tomllib
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from multidict import CIMultiDict

from alerting import acklink
from alerting.notifiers.base import Kind, Notification
from alerting.notifiers.registry import load_channels
from watchkeeper.demo import free_port
from watchkeeper.tomlconf import Table

# A link as the collector signs it, so its length is a real one.
ACK_URL = "https://noc.example/ack/" + acklink.sign(
    b"k" * 32, acklink.AckClaim(12, "ops-manager", 1_800_086_400.0, "link-id-16chars_"))

# The relay's account: what a test's [channel.email] settings must log in with.
SMTP_USER, SMTP_PASSWORD = "watchkeeper", "correct horse battery staple"


def notification(kind: Kind = Kind.PAGE, **changes: Any) -> Notification:
    """A notification as the outbox would hand it over: a Severity 1 page for case #12."""
    fields: dict[str, Any] = {
        "key": f"12:0:0:person:ops-manager:ops-manager:{kind.value}", "case_id": 12,
        "case_number": 12, "severity": 1, "kind": kind, "title": "srv1 is down",
        "subject": "[watchkeeper] PAGE Severity 1 case #12: srv1 is down (acme)",
        "body": "ops-manager, you are paged for Severity 1 case #12: srv1 is down.\n\n"
                f"Acknowledge (stops the escalation to the next person):\n  {ACK_URL}\n",
        "recipient": "ops-manager", "address": "", "dedup_key": "watchkeeper-case-12",
        "ack_url": ACK_URL if kind is Kind.PAGE else None, "customer": "acme",
        "source": "srv1",
    }
    fields.update(changes)
    return Notification(**fields)


def channel_problems(toml: str, base: Path) -> list[str]:
    """Every configuration problem the channel loaders find, as the admin would read them."""
    root = Table(tomllib.loads(toml), "collector.toml")
    load_channels(root.table("channel"), base)
    root.done()
    return [str(p) for p in root.problems]


def channel_settings(name: str, toml: str, base: Path) -> Any:
    """Settings read the way the collector reads them: `[channel.NAME]` through the strict
    Table; fails the test on any configuration problem."""
    root = Table(tomllib.loads(toml), str(base / "collector.toml"))
    channels = load_channels(root.table("channel"), base)
    root.done()
    assert not root.problems, [str(p) for p in root.problems]
    return channels[name].settings


@dataclass
class Received:
    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class Cue:
    status: int
    retry_after: str | None
    body: Any  # None: the provider's usual words for this status
    delay: float  # seconds to wait before answering (a provider too slow to answer)


class Peer:
    """Records requests and answers on cue; subclasses speak one provider's protocol."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.url = ""
        self._cues: deque[Cue] = deque()

    def cue(self, status: int, *, retry_after: str | None = None, body: Any = None,
            delay: float = 0.0) -> None:
        self._cues.append(Cue(status, retry_after, body, delay))

    async def start(self, aiohttp_server: Any, tls: ssl.SSLContext | None = None) -> Self:
        """Serve on 127.0.0.1 (over HTTPS with `tls`) through pytest-aiohttp's fixture."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        server = await aiohttp_server(app, host="127.0.0.1", ssl=tls)
        self.url = str(server.make_url("")).rstrip("/")
        return self

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rec = Received(request.method, request.path, CIMultiDict(request.headers),
                       await request.read())
        self.requests.append(rec)
        if self._cues:
            cue = self._cues.popleft()
            await asyncio.sleep(cue.delay)
            headers = {"Retry-After": cue.retry_after} if cue.retry_after else {}
            return self.answer(cue.status, cue.body if cue.body is not None
                               else self.words(cue.status), headers)
        return self.handle(rec)

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None
               ) -> web.Response:
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    def words(self, status: int) -> Any:
        """The provider's error body for a status it was cued to answer."""
        raise NotImplementedError

    def handle(self, rec: Received) -> web.Response:
        raise NotImplementedError


def _basic(rec: Received) -> tuple[str, str] | None:
    scheme, _, value = rec.headers.get("Authorization", "").partition(" ")
    if scheme != "Basic":
        return None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


# --- Twilio -----------------------------------------------------------------------------

class TwilioPeer(Peer):
    """POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded, Basic auth.
    As with Twilio's test credentials, +15005550001 is an invalid number (error 21211)."""

    INVALID_NUMBER = "+15005550001"
    _E164 = re.compile(r"\+[1-9][0-9]{6,14}")

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token
        self.messages: list[dict[str, str]] = []

    @staticmethod
    def error(status: int, code: int, message: str) -> dict[str, Any]:
        return {"code": code, "message": message, "status": status,
                "more_info": f"https://www.twilio.com/docs/errors/{code}"}

    def words(self, status: int) -> Any:
        return {400: self.error(400, 21211, "The 'To' number is not a valid phone number."),
                401: self.error(401, 20003, "Authenticate"),
                429: self.error(429, 20429, "Too Many Requests"),
                }.get(status, self.error(status, 20500, "Internal Server Error"))

    def handle(self, rec: Received) -> web.Response:
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if rec.method != "POST" or rec.path != path:
            return self.answer(404, self.error(404, 20404, f"The requested resource {rec.path}"
                                                           " was not found"))
        if _basic(rec) != (self.account_sid, self.auth_token):
            return self.answer(401, self.words(401))
        if not rec.headers.get("Content-Type", "").startswith(
                "application/x-www-form-urlencoded"):
            return self.answer(400, self.error(400, 20001, "Form-encoded parameters expected"))
        f = rec.form()
        unknown = set(f) - {"To", "From", "MessagingServiceSid", "Body", "StatusCallback"}
        if unknown:
            return self.answer(400, self.error(400, 20001, f"Unknown parameters {unknown}"))
        to = f.get("To", "")
        if not self._E164.fullmatch(to) or to == self.INVALID_NUMBER:
            return self.answer(400, self.error(
                400, 21211, f"The 'To' number {to} is not a valid phone number."))
        if not (f.get("From") or f.get("MessagingServiceSid")):
            return self.answer(400, self.error(400, 21603, "A 'From' phone number is required."))
        body = f.get("Body", "")
        if not body:
            return self.answer(400, self.error(400, 21602, "Message body is required."))
        if len(body) > 1600:
            return self.answer(400, self.error(400, 21617, "The concatenated message body"
                                                           " exceeds the 1600 character limit."))
        self.messages.append(f)
        sid = "SM" + secrets.token_hex(16)
        return self.answer(201, {
            "sid": sid, "account_sid": self.account_sid, "to": to, "from": f.get("From"),
            "messaging_service_sid": f.get("MessagingServiceSid"), "body": body,
            "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"})


# --- PagerDuty --------------------------------------------------------------------------

@dataclass
class Alert:
    """What PagerDuty shows for one dedup_key."""

    status: str  # triggered, acknowledged, resolved
    summary: str
    severity: str
    links: list[dict[str, str]]
    events: int = 1


class PagerDutyPeer(Peer):
    """POST /v2/enqueue with a JSON event (Events API v2). Keeps alerts by dedup_key: a
    trigger for an open key updates that alert, acknowledge/resolve change its status."""

    ACTIONS = ("trigger", "acknowledge", "resolve")
    SEVERITIES = ("critical", "error", "warning", "info")
    TOP_KEYS = frozenset({"routing_key", "event_action", "dedup_key", "payload", "images",
                          "links", "client", "client_url"})
    PAYLOAD_KEYS = frozenset({"summary", "source", "severity", "timestamp", "component",
                              "group", "class", "custom_details"})

    def __init__(self, routing_key: str) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.alerts: dict[str, Alert] = {}
        self.opened = 0  # alerts opened; a repeat for an open key must not count

    def words(self, status: int) -> Any:
        if status == 400:
            return {"status": "invalid event", "message": "Event object is invalid",
                    "errors": ["'payload.summary' is missing or blank"]}
        if status == 429:
            return "Too many API calls at a time"
        return "Internal Server Error"

    def invalid(self, *errors: str) -> web.Response:
        return self.answer(400, {"status": "invalid event", "message": "Event object is invalid",
                                 "errors": list(errors)})

    def problems(self, doc: Any) -> list[str]:
        if not isinstance(doc, dict):
            return ["Event object is not a JSON object"]
        errs = [f"'{k}' is not a recognised field" for k in set(doc) - self.TOP_KEYS]
        key = doc.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            errs.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        elif key != self.routing_key:
            errs.append("Invalid routing key")
        action = doc.get("event_action")
        if action not in self.ACTIONS:
            errs.append("'event_action' is invalid (must be one of trigger, acknowledge,"
                        " resolve)")
        dedup = doc.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
            errs.append("'dedup_key' must be a string of 1 to 255 characters")
        if action in ("acknowledge", "resolve") and not dedup:
            errs.append("'dedup_key' is required for acknowledge and resolve")
        for link in doc.get("links", []):
            if not (isinstance(link, dict) and isinstance(link.get("href"), str)):
                errs.append("each of 'links' needs an 'href'")
        if action == "trigger":
            p = doc.get("payload")
            if not isinstance(p, dict):
                return [*errs, "'payload' is missing"]
            errs += [f"'payload.{k}' is not a recognised field" for k in set(p) - self.PAYLOAD_KEYS]
            summary = p.get("summary")
            if not isinstance(summary, str) or not summary.strip() or len(summary) > 1024:
                errs.append("'payload.summary' is missing, blank or longer than 1024")
            if not isinstance(p.get("source"), str) or not p["source"]:
                errs.append("'payload.source' is missing or blank")
            if p.get("severity") not in self.SEVERITIES:
                errs.append("'payload.severity' is invalid")
            if "custom_details" in p and not isinstance(p["custom_details"], dict | str):
                errs.append("'payload.custom_details' must be an object")
        return errs

    def handle(self, rec: Received) -> web.Response:
        if rec.method != "POST" or rec.path != "/v2/enqueue":
            return self.answer(404, "Not Found")
        if not rec.headers.get("Content-Type", "").startswith("application/json"):
            return self.invalid("Content-Type must be application/json")
        try:
            doc = rec.json()
        except ValueError:
            return self.invalid("Event object is not valid JSON")
        if errs := self.problems(doc):
            return self.invalid(*errs)
        action, dedup = doc["event_action"], doc.get("dedup_key") or secrets.token_hex(16)
        alert = self.alerts.get(dedup)
        if action == "trigger":
            p = doc["payload"]
            if alert is None or alert.status == "resolved":
                self.alerts[dedup] = Alert("triggered", p["summary"], p["severity"],
                                           doc.get("links", []))
                self.opened += 1
            else:
                alert.events += 1
        elif alert is not None and alert.status != "resolved":
            alert.status = "acknowledged" if action == "acknowledge" else "resolved"
            alert.events += 1
        return self.answer(202, {"status": "success", "message": "Event processed",
                                 "dedup_key": dedup})


# --- ntfy -------------------------------------------------------------------------------

@dataclass
class NtfyMessage:
    topic: str
    title: str
    message: str
    priority: int
    tags: list[str]
    click: str
    actions: list[dict[str, Any]]


class NtfyPeer(Peer):
    """POST or PUT /{topic}; the body is the message, the rest is in headers (Title, Priority,
    Tags, Click, Actions, with their X- and short aliases). A token protects every topic."""

    _TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")
    _ALIASES: ClassVar[dict[str, tuple[str, ...]]] = {
        "title": ("X-Title", "Title", "t"), "priority": ("X-Priority", "Priority", "p"),
        "tags": ("X-Tags", "Tags", "ta"), "click": ("X-Click", "Click"),
        "actions": ("X-Actions", "Actions")}

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.token = token
        self.messages: list[NtfyMessage] = []

    @staticmethod
    def error(status: int, code: int, text: str) -> dict[str, Any]:
        return {"code": code, "http": status, "error": text}

    def words(self, status: int) -> Any:
        return {401: self.error(401, 40101, "unauthorized"),
                403: self.error(403, 40301, "forbidden"),
                429: self.error(429, 42901, "limit reached: too many requests"),
                }.get(status, self.error(status, status * 100 + 1, "internal server error"))

    def header(self, rec: Received, name: str) -> str:
        value = next((rec.headers[h] for h in self._ALIASES[name] if h in rec.headers), "")
        # ntfy decodes RFC 2047 encoded words, so titles need not be Latin-1.
        return str(make_header(decode_header(value))) if "=?" in value else value

    def handle(self, rec: Received) -> web.Response:
        topic = rec.path.lstrip("/")
        if rec.method not in ("POST", "PUT") or not self._TOPIC.fullmatch(topic):
            return self.answer(404, self.error(404, 40401, "page not found"))
        if self.token is not None and rec.headers.get("Authorization") != f"Bearer {self.token}":
            return self.answer(401, self.words(401))
        if len(rec.body) > 4096:
            return self.answer(413, self.error(413, 41301, "message too large"))
        prio = self.header(rec, "priority") or "3"
        if prio not in ("1", "2", "3", "4", "5"):
            return self.answer(400, self.error(400, 40007, "invalid priority"))
        actions: list[dict[str, Any]] = []
        if raw := self.header(rec, "actions"):
            try:
                actions = json.loads(raw)
                assert isinstance(actions, list) and len(actions) <= 3
                for a in actions:
                    assert a["action"] in ("view", "http", "broadcast", "copy") and a["label"]
                    assert a["action"] != "view" or a["url"].startswith(("http://", "https://"))
            except (ValueError, AssertionError, KeyError, TypeError):
                return self.answer(400, self.error(400, 40018, "invalid request: actions"
                                                               " invalid"))
        msg = NtfyMessage(topic, self.header(rec, "title"), rec.body.decode(), int(prio),
                          [t for t in self.header(rec, "tags").split(",") if t],
                          self.header(rec, "click"), actions)
        self.messages.append(msg)
        return self.answer(200, {"id": secrets.token_hex(6), "time": 1_800_000_000,
                                 "event": "message", "topic": topic, "title": msg.title,
                                 "message": msg.message, "priority": msg.priority,
                                 "tags": msg.tags, "click": msg.click})


# --- Slack, Teams and our own JSON --------------------------------------------------------

class SlackPeer(Peer):
    """An incoming webhook: POST /services/T.../B.../secret with {"text", "blocks"}.
    Slack answers 200 "ok", or an error word with 4xx."""

    PATH = "/services/T0WATCHKPR/B0WATCHKPR/s3cr3tPathToken"
    BLOCKS = frozenset({"header", "section", "actions", "context", "divider", "image"})

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []

    def words(self, status: int) -> Any:
        return {400: "invalid_payload", 403: "invalid_token", 404: "no_service",
                410: "channel_is_archived", 429: "rate_limited"}.get(status, "rollup_error")

    def handle(self, rec: Received) -> web.Response:
        if rec.method != "POST" or rec.path != self.PATH:
            return self.answer(404, "no_service")
        if not rec.headers.get("Content-Type", "").startswith("application/json"):
            return self.answer(400, "invalid_payload")
        try:
            doc = rec.json()
        except ValueError:
            return self.answer(400, "invalid_payload")
        if not isinstance(doc, dict) or not (doc.get("text") or doc.get("blocks")):
            return self.answer(400, "no_text")
        for block in doc.get("blocks", []):
            text = block.get("text", {})
            if block.get("type") not in self.BLOCKS or (
                    block["type"] == "header" and (text.get("type") != "plain_text"
                                                   or len(text.get("text", "")) > 150)) or (
                    block["type"] == "section" and (text.get("type") not in ("mrkdwn",
                                                                             "plain_text")
                                                    or not 0 < len(text.get("text", "")) <= 3000)):
                return self.answer(400, "invalid_blocks")
        self.messages.append(doc)
        return self.answer(200, "ok")

    @staticmethod
    def visible(doc: dict[str, Any]) -> str:
        """The text a person sees in the channel: the blocks (the top-level text is only the
        notification preview when blocks are present)."""
        return "\n".join(b["text"]["text"] for b in doc["blocks"] if "text" in b)


class TeamsPeer(Peer):
    """A Teams Workflows webhook: a message with one Adaptive Card attachment; answers 202."""

    PATH = "/workflows/watchkeeper/triggers/manual/paths/invoke"

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, Any]] = []

    def words(self, status: int) -> Any:
        return {"error": {"code": "TriggerInputSchemaMismatch" if status == 400 else
                          "TooManyRequests" if status == 429 else "InternalServerError",
                          "message": "refused on cue"}}

    def handle(self, rec: Received) -> web.Response:
        if rec.method != "POST" or rec.path != self.PATH:
            return self.answer(404, {"error": {"code": "NotFound"}})
        try:
            doc = rec.json()
            assert doc["type"] == "message" and len(doc["attachments"]) == 1
            att = doc["attachments"][0]
            assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
            card = att["content"]
            assert card["type"] == "AdaptiveCard" and card["version"] in ("1.2", "1.3", "1.4",
                                                                          "1.5")
            assert card["body"] and all(b["type"] in ("TextBlock", "FactSet", "ColumnSet",
                                                      "Container") for b in card["body"])
            for action in card.get("actions", []):
                assert action["type"] == "Action.OpenUrl" and action["url"].startswith("http")
        except (ValueError, AssertionError, KeyError, TypeError, IndexError):
            return self.answer(400, self.words(400))
        self.cards.append(card)
        return web.Response(status=202)

    @staticmethod
    def visible(card: dict[str, Any]) -> str:
        lines = []
        for block in card["body"]:
            if block["type"] == "TextBlock":
                lines.append(block["text"])
            elif block["type"] == "FactSet":
                lines += [f"{f['title']}: {f['value']}" for f in block["facts"]]
        return "\n".join(lines)


class JsonPeer(Peer):
    """Our own schema (watchkeeper.notification.v1), checked field by field; with a secret,
    the X-Watchkeeper-Signature header must be the HMAC-SHA256 of the raw body."""

    FIELDS = frozenset({"schema", "id", "kind", "sent_at", "case", "recipient", "subject",
                        "body", "ack_url", "dedup_key"})

    def __init__(self, secret: str | None = None) -> None:
        super().__init__()
        self.secret = secret
        self.documents: list[dict[str, Any]] = []

    def words(self, status: int) -> Any:
        return {"error": f"refused on cue with {status}"}

    def handle(self, rec: Received) -> web.Response:
        if rec.method != "POST" or rec.path != "/hooks/watchkeeper":
            return self.answer(404, {"error": "not found"})
        if self.secret is not None:
            want = "sha256=" + hmac.new(self.secret.encode(), rec.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(rec.headers.get("X-Watchkeeper-Signature", ""), want):
                return self.answer(401, {"error": "bad signature"})
        try:
            doc = rec.json()
            assert set(doc) == self.FIELDS and doc["schema"] == "watchkeeper.notification.v1"
            assert {"id", "number", "severity", "title", "customer", "source"} == set(doc["case"])
            assert {"name", "address"} == set(doc["recipient"])
        except (ValueError, AssertionError, KeyError, TypeError):
            return self.answer(400, {"error": "not a watchkeeper notification"})
        self.documents.append(doc)
        return web.Response(status=204)


# --- SMTP -------------------------------------------------------------------------------

def make_cert(directory: Path, name: str = "smtp") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, as a local relay or a test would have:
    (NAME.crt, NAME.key) in `directory`."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    login: str | None  # who authenticated
    tls: bool  # whether the session was encrypted when the message came
    message: EmailMessage


@dataclass
class SmtpPeer:
    """An aiosmtpd handler: accepts mail only from an authenticated, encrypted session;
    refuses RCPT for nobody@ (550, unknown user) and greylists greylist@ (451)."""

    username: str
    password: str
    mails: list[Mail] = field(default_factory=list)
    controller: Controller | None = None

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()) == (self.username,
                                                                       self.password)
        # handled=False: aiosmtpd itself answers a failure with 535.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 <" + address + ">: Recipient address rejected: User unknown"
        if address.startswith("greylist@"):
            return "451 4.7.1 <" + address + ">: Recipient address rejected: Greylisted"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.auth_data else None
        msg = message_from_bytes(envelope.content, policy=policy.default)
        tls = server.transport.get_extra_info("sslcontext") is not None
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), login, tls,
                               msg))  # type: ignore[arg-type]
        return f"250 2.0.0 Ok: queued as Q{len(self.mails):04d}"

    def start(self, cert: Path, key: Path, *, implicit_tls: bool = False) -> int:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        common = {"hostname": "127.0.0.1", "port": free_port(),
                  "authenticator": self.authenticate, "auth_required": True}
        if implicit_tls:
            # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; here every byte is.
            self.controller = Controller(self, ssl_context=ctx, auth_require_tls=False,
                                         **common)
        else:
            self.controller = Controller(self, tls_context=ctx, require_starttls=True,
                                         auth_require_tls=True, **common)
        self.controller.start()
        return self.controller.port

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
