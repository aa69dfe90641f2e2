"""SMS through a Twilio-compatible gateway (Twilio's Messages API, or one that copies it).

POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json, form fields To, From (or
MessagingServiceSid) and Body, HTTP Basic auth with the account SID and auth token. Twilio
answers 201 with the message's JSON (sid, status), and errors as JSON with a numeric `code`.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from alerting.notifiers import _http, _settings
from alerting.notifiers._http import Session
from alerting.notifiers.base import Delivered, DeliveryError, Kind, Notification
from watchkeeper.clock import Clock
from watchkeeper.tomlconf import Table

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SID = re.compile(r"[A-Za-z0-9-]{2,64}")
# GSM 03.38: the default alphabet costs one septet a character, its extension table two.
_GSM = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXT = frozenset("^{}\\[~]|€\f")
CUT = "..."  # in the GSM alphabet, unlike an ellipsis character


@dataclass(frozen=True, slots=True)
class SmsSettings:
    base_url: str
    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str  # E.164 number or alphanumeric sender id; "" with a messaging service
    messaging_service_sid: str
    max_segments: int
    timeout: float
    inbound: bool = False  # accept "ACK <case>" replies at /api/v1/sms/inbound

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"


def load(t: Table, base: Path) -> SmsSettings:
    """[channel.sms]"""
    base_url = _settings.url(t, "base_url", "https://api.twilio.com")
    sid = t.str("account_sid") or ""
    token = _settings.secret(t, "auth_token_file", base, required=True)
    from_number = t.str("from_number", "") or ""
    service = t.str("messaging_service_sid", "") or ""
    max_segments = t.int("max_segments", 3, minimum=1) or 3
    timeout = _settings.timeout(t)
    inbound = bool(t.bool("inbound", False))
    t.done()
    if sid and not _SID.fullmatch(sid):
        t.problem("account_sid", f"{sid!r} is not an account SID (letters, digits and '-')")
    if bool(from_number) == bool(service):
        t.problem("from_number", "set exactly one of from_number and messaging_service_sid")
    if max_segments > 10:
        t.problem("max_segments", "Twilio takes at most 1600 characters, about 10 segments")
    return SmsSettings(base_url, sid, token, from_number, service, max_segments, timeout,
                       inbound)


def check_address(address: str) -> str | None:
    if not E164.fullmatch(address):
        return f"{address!r} is not a phone number in E.164 form (+ country code, digits)"
    return None


def _is_gsm(text: str) -> bool:
    return all(c in _GSM or c in _GSM_EXT for c in text)


def units(text: str) -> tuple[int, bool]:
    """(length in the encoding the message will travel in, whether that is GSM-7)."""
    if _is_gsm(text):
        return sum(2 if c in _GSM_EXT else 1 for c in text), True
    return len(text.encode("utf-16-le")) // 2, False


def segments(text: str) -> int:
    """How many SMS a text costs: 160 GSM characters (70 UCS-2) fit one message; longer texts
    travel in parts of 153 (67) because each part carries a joining header."""
    n, gsm = units(text)
    single, part = (160, 153) if gsm else (70, 67)
    return 1 if n <= single else math.ceil(n / part)


def _fits(text: str, max_segments: int) -> bool:
    return segments(text) <= max_segments


def _cut(text: str, before: str, after: str, max_segments: int) -> str:
    """The longest prefix of `text` (marked as cut) that fits between `before` and `after`."""
    if _fits(before + text + after, max_segments):
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _fits(before + text[:mid] + CUT + after, max_segments):
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + CUT if lo else ""


def text(n: Notification, max_segments: int) -> str:
    """The SMS body. The severity, the case number and, for a page, the instruction
    "Reply ACK <n>" come first, so the first segment alone is enough to act on; the title,
    customer and acknowledgement link follow as far as `max_segments` allows (the link is
    the first to go: replying ACK does the same)."""
    c = n.case_number
    if n.kind is Kind.PAGE:
        lead = f"Sev{n.severity} case #{c}: Reply ACK {c} to acknowledge."
        about = n.title + (f" ({n.customer})" if n.customer else "")
    else:
        lead = f"Sev{n.severity} case #{c}:"
        about = n.subject
    if n.kind is Kind.PAGE and n.ack_url:
        kept = _cut(about, lead + " ", " " + n.ack_url, max_segments)
        # Keep the link only if a useful part of the title survives beside it.
        if kept == about or len(kept) >= 40:
            return " ".join(p for p in (lead, kept, n.ack_url) if p)
    return " ".join(p for p in (lead, _cut(about, lead + " ", "", max_segments)) if p)


def authorization(settings: SmsSettings) -> str:
    """HTTP Basic with the account SID and auth token."""
    pair = f"{settings.account_sid}:{settings.auth_token}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def form(settings: SmsSettings, n: Notification) -> dict[str, str]:
    fields = {"To": n.address, "Body": text(n, settings.max_segments)}
    if settings.messaging_service_sid:
        fields["MessagingServiceSid"] = settings.messaging_service_sid
    else:
        fields["From"] = settings.from_number
    return fields


class SmsNotifier:
    def __init__(self, settings: SmsSettings, session: Session, clock: Clock) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock
        self.what = f"SMS gateway {_http.where(settings.base_url)}"

    async def send(self, n: Notification) -> Delivered:
        if reason := check_address(n.address):
            raise DeliveryError(f"cannot text {n.recipient}: {reason}", False)
        s = self.settings
        auth = authorization(s)
        reply = await _http.post(
            self.session, s.endpoint, what=self.what, timeout=s.timeout, now=self.clock.now(),
            secrets=(s.auth_token, auth), data=form(s, n), headers={"Authorization": auth})
        doc = reply.json()
        if reply.ok:
            return Delivered(f"{self.what} accepted {doc.get('sid', '?')}"
                             f" ({doc.get('status', 'queued')})")
        detail = f"error {doc['code']}: {doc.get('message', '')}" if "code" in doc else ""
        raise _http.refused(self.what, reply, detail[:300], (s.auth_token,))


def notifier(settings: SmsSettings, session: Session, clock: Clock) -> SmsNotifier:
    return SmsNotifier(settings, session, clock)
