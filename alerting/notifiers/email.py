"""Email over SMTP (STARTTLS and AUTH when configured), built with EmailMessage so no
agent-reported text can inject a header."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    username: str | None
    password: str | None
    from_address: str
    timeout: float


class DeliveryError(Exception):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def build(settings: SmtpSettings, to_name: str, to_addr: str, subject: str, body: str,
          message_id: str, sent_at: float) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address("watchkeeper", addr_spec=settings.from_address)
    msg["To"] = Address(to_name, addr_spec=to_addr)
    msg["Subject"] = subject
    msg["Date"] = formatdate(sent_at, localtime=False)
    # Derived from the outbox key: a resend after a crash carries the same id, so mail
    # clients and relays can fold the duplicate.
    msg["Message-ID"] = message_id
    msg.set_content(body)
    return msg


def send(settings: SmtpSettings, msg: EmailMessage) -> str:
    """Blocking; run it in a thread. Returns the server's reply to the message."""
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            refused = smtp.send_message(msg)
            if refused:
                raise DeliveryError(f"recipient refused: {refused}", retryable=False)
            return f"accepted by {settings.host}:{settings.port}"
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"mail server refused the login: {exc.smtp_code}", False) from exc
    except smtplib.SMTPResponseException as exc:
        # 4xx is "try later"; 5xx is a permanent refusal.
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        raise DeliveryError(f"mail server said {exc.smtp_code} {reply}",
                            retryable=400 <= exc.smtp_code < 500) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"recipient refused: {exc.recipients}", retryable=False) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"cannot reach mail server {settings.host}:{settings.port}: {exc}",
                            retryable=True) from exc
