"""Email over SMTP: STARTTLS or implicit TLS, AUTH when configured, built with EmailMessage so
no agent-reported text can inject a header."""

from __future__ import annotations

import asyncio
import hashlib
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING

from alerting.notifiers import _settings
from alerting.notifiers.base import Delivered, DeliveryError, Notification, redact
from watchkeeper.clock import Clock
from watchkeeper.tomlconf import Table

if TYPE_CHECKING:  # mail is stdlib-only at run time
    from alerting.notifiers._http import Session

__all__ = ["DeliveryError", "EmailNotifier", "SmtpSettings", "build", "load", "send"]


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool  # upgrade a plain connection (submission, port 587)
    username: str | None
    password: str | None = field(repr=False)
    from_address: str
    timeout: float
    tls: bool = False  # implicit TLS from the first byte (SMTPS, port 465)
    ca_file: Path | None = None  # a private CA for the relay's certificate

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def load(t: Table, base: Path) -> SmtpSettings:
    """[channel.email]; relative paths are relative to the configuration file's directory."""
    host = t.str("host", "127.0.0.1") or "127.0.0.1"
    tls = bool(t.bool("tls", False))
    starttls = bool(t.bool("starttls", False))
    port = t.int("port", 465 if tls else 587 if starttls else 25, minimum=1) or 25
    username = t.str("username", None)
    password = _settings.secret(t, "password_file", base, required=False) or None
    from_address = t.str("from_address", "watchkeeper@localhost") or ""
    ca_name = t.str("ca_file", None)
    timeout = _settings.timeout(t)
    t.done()
    if tls and starttls:
        t.problem("starttls", "tls (implicit TLS) and starttls exclude each other; pick one")
    if (username is None) == ("password_file" in t.data):
        t.problem("username" if username is None else "password_file",
                  "username and password_file go together")
    if username is not None and not (tls or starttls) and not _settings.is_loopback(host):
        t.problem("username", f"the password would cross the network to {host} in clear;"
                  " set starttls = true or tls = true")
    if reason := check_address(from_address):
        t.problem("from_address", reason)
    ca_file = base / ca_name if ca_name else None
    if ca_file is not None and not ca_file.is_file():
        t.problem("ca_file", f"{ca_file} does not exist")
    return SmtpSettings(host=host, port=port, starttls=starttls, username=username,
                        password=password, from_address=from_address, timeout=timeout, tls=tls,
                        ca_file=ca_file)


def check_address(address: str) -> str | None:
    """Why `address` cannot receive mail, or None."""
    try:
        parsed = Address(addr_spec=address)
    except (HeaderParseError, ValueError, IndexError):
        return f"{address!r} is not a mail address"
    if not parsed.username or not parsed.domain:
        return f"{address!r} is not a mail address (user@domain)"
    return None


def message_id(key: str) -> str:
    """A valid, deterministic Message-ID for an outbox key: a resend after a crash carries the
    same id, so mail clients and relays can fold the duplicate."""
    return f"<wk.{hashlib.sha256(key.encode()).hexdigest()[:32]}@watchkeeper>"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def header_text(text: str) -> str:
    """Header text kept to plain words. Control characters become spaces, and "=?" is broken
    up: CPython before the CVE-2024-6923 fix decodes an encoded word it is handed (a device
    named "=?UTF-8?Q?srv=0ABcc:_x@evil?=") and writes the decoded line break out raw, which
    adds a header. Changing the text keeps the page deliverable instead of refusing it."""
    return _CONTROL.sub(" ", text).replace("=?", "= ?")


def build(settings: SmtpSettings, to_name: str, to_addr: str, subject: str, body: str,
          message_id: str, sent_at: float, thread: str | None = None) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address("watchkeeper", addr_spec=settings.from_address)
    msg["To"] = Address(header_text(to_name), addr_spec=to_addr)
    msg["Subject"] = header_text(subject)
    msg["Date"] = formatdate(sent_at, localtime=False)
    msg["Message-ID"] = message_id
    if thread:
        # Every message about one case names the same root, so mail clients thread them.
        msg["References"] = f"<{hashlib.sha256(thread.encode()).hexdigest()[:32]}@watchkeeper>"
    # RFC 3834: vacation responders must not answer a page (and start a mail loop).
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    for name, value in msg.items():
        if "\n" in value or "\r" in value:  # the last guard, should a new trick appear
            raise ValueError(f"the {name} header would contain a line break")
    return msg


def _context(settings: SmtpSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)


def _transmit(smtp: smtplib.SMTP, msg: EmailMessage) -> str:
    """MAIL, RCPT, DATA by hand (send_message would hide the server's final reply, whose
    queue id lets a person trace the message in the relay's logs)."""
    sender = msg["From"].addresses[0].addr_spec
    rcpts = [a.addr_spec for a in msg["To"].addresses]
    smtp.ehlo_or_helo_if_needed()
    utf8 = not all(a.isascii() for a in (sender, *rcpts))
    if utf8 and not smtp.has_extn("smtputf8"):
        raise DeliveryError("a non-ASCII address needs SMTPUTF8, which the server lacks", False)
    code, reply = smtp.mail(sender, ["SMTPUTF8"] if utf8 else [])
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for rcpt in rcpts:
        code, reply = smtp.rcpt(rcpt)
        if code not in (250, 251):
            refused[rcpt] = (code, reply)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = smtp.data(msg.as_bytes())
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
    return reply.decode(errors="replace")


def send(settings: SmtpSettings, msg: EmailMessage) -> str:
    """Blocking; run it in a thread. Returns the server's reply to the message.

    4xx replies (greylisting, a full queue, a temporary auth failure), refused connections
    and timeouts are retryable; 5xx replies, certificates that do not verify and a server
    that lacks STARTTLS or AUTH are permanent: the next attempt would fail the same way."""
    secrets = (settings.password or "",)
    try:
        if settings.tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port,
                                                  timeout=settings.timeout,
                                                  context=_context(settings))
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.starttls:
                smtp.starttls(context=_context(settings))
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            reply = _transmit(smtp, msg)
        return f"accepted by {settings.where}: {reply}"
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        said = "; ".join(f"{rcpt}: {code} {text.decode(errors='replace')}"
                         for rcpt, (code, text) in exc.recipients.items())
        raise DeliveryError(f"mail server {settings.where} refused the recipient: {said}",
                            retryable=all(400 <= c < 500 for c in codes)) from exc
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        verb = "refused the login" if isinstance(exc, smtplib.SMTPAuthenticationError) \
            else "said"
        raise DeliveryError(redact(f"mail server {settings.where} {verb}: {exc.smtp_code}"
                                   f" {text}", secrets),
                            retryable=400 <= exc.smtp_code < 500) from exc
    except smtplib.SMTPNotSupportedError as exc:
        # STARTTLS or AUTH not offered: a configuration mismatch (or someone stripping
        # STARTTLS), not a passing fault.
        raise DeliveryError(f"mail server {settings.where}: {exc}", retryable=False) from exc
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryError(f"mail server {settings.where}: certificate not trusted:"
                            f" {exc.verify_message}", retryable=False) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(redact(f"cannot reach mail server {settings.where}: {exc}",
                                   secrets), retryable=True) from exc


class EmailNotifier:
    def __init__(self, settings: SmtpSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    async def send(self, n: Notification) -> Delivered:
        try:
            msg = build(self.settings, n.recipient, n.address, n.subject, n.body,
                        message_id(n.key), self.clock.now(), thread=n.dedup_key)
        except (ValueError, HeaderParseError) as exc:
            # An unparsable address, or a header that would break: refused before sending.
            raise DeliveryError(f"cannot build mail to {n.recipient}: {exc}", False) from exc
        return Delivered(await asyncio.to_thread(send, self.settings, msg))


def notifier(settings: SmtpSettings, session: Session, clock: Clock) -> EmailNotifier:
    """The registry's uniform factory; mail needs no HTTP session."""
    return EmailNotifier(settings, clock)
