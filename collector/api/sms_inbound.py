"""Acknowledging by SMS: an engineer replies "ACK 1234" to a page, and the SMS gateway posts
the reply to POST /api/v1/sms/inbound in Twilio's inbound-message webhook format
(application/x-www-form-urlencoded: From, To, Body, MessageSid, AccountSid...).

The request is believed only with a valid X-Twilio-Signature: base64 HMAC-SHA1, keyed with
the gateway account's auth token, over the URL the gateway called followed by every POST
parameter's name and value in name order. The sender's number must belong to a known person;
an unknown number gets the same refusal whatever it sends, so it learns nothing about cases.
The answer is TwiML: the gateway texts its <Message> back to the sender.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape

from aiohttp import web

from alerting.cases import InvalidTransition
from alerting.messages import clean, when
from collector import keys
from collector.api.errors import json_error
from collector.casework import CaseNotFound, acknowledge, add_event

log = logging.getLogger(__name__)

PATH = "/api/v1/sms/inbound"
FORM = "application/x-www-form-urlencoded"
_ACK = re.compile(r"\s*ack\s*#?\s*(\d{1,9})\s*", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
UNKNOWN_NUMBER = "This number may not acknowledge cases."
HOW_TO = "Reply ACK and the case number to acknowledge a case, e.g. ACK 1234."


@dataclass(frozen=True, slots=True)
class InboundSmsSettings:
    auth_token: str = field(repr=False)  # the gateway account's auth token: it signs requests
    public_url: str  # the collector's public URL, which the gateway calls
    phones: Mapping[str, str]  # E.164 phone number -> the [[person]] it belongs to


def twilio_signature(url: str, params: Iterable[tuple[str, str]], token: str) -> str:
    data = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
                            ).decode()


def _port_variants(url: str) -> list[str]:
    """The URL as given, without its port and with the scheme's default port: gateways sign
    the URL as configured, which a proxy may have rewritten either way."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    bare = host.rsplit(":", 1)[0] if parts.port is not None else host
    variants = [url, urlunsplit(parts._replace(netloc=bare))]
    default = _DEFAULT_PORTS.get(parts.scheme)
    if default is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{bare}:{default}")))
    return variants


def verify_twilio_signature(url: str, params: Iterable[tuple[str, str]], signature: str,
                            token: str) -> bool:
    """Whether `signature` (the X-Twilio-Signature header) signs this request's URL and POST
    parameters with `token`."""
    pairs = list(params)
    return bool(signature) and any(
        hmac.compare_digest(twilio_signature(u, pairs, token).encode(), signature.encode())
        for u in _port_variants(url))


def parse_ack(body: str) -> int | None:
    """The case number in "ACK 1234" ("ack #1234", " Ack 1234 "), or None."""
    m = _ACK.fullmatch(body)
    return int(m.group(1)) if m else None


def twiml(message: str) -> web.Response:
    return web.Response(text='<?xml version="1.0" encoding="UTF-8"?>'
                             f"<Response><Message>{escape(message)}</Message></Response>",
                        content_type="text/xml")


def _reply(request: web.Request, person: str, sender: str, body: str, sid: str) -> str:
    """Act on a signed message from a known person; the text to send back."""
    case_id = parse_ack(body)
    if case_id is None:
        return HOW_TO
    db, now = request.app[keys.DB], request.app[keys.CLOCK].now()
    said = f"SMS {clean(body.strip(), 40)!r} from {person} ({sender}, gateway message {sid})"
    try:
        with db.transaction() as conn:
            result = acknowledge(db, case_id, person, "sms", now)
            outcome = "acknowledged the case" if result.acknowledged else \
                f"the case was already acknowledged by {result.by} via {result.via}"
            add_event(conn, case_id, now, "ack sms", f"{said}: {outcome}", person)
    except CaseNotFound:
        return f"There is no case {case_id}."
    except InvalidTransition:
        state = db.conn.execute("SELECT state FROM cases WHERE id = ?", (case_id,)).fetchone()[0]
        return f"Case {case_id} is {state}: there is nothing to acknowledge."
    if not result.acknowledged:
        return (f"Case {case_id} was already acknowledged by {result.by} via {result.via}"
                f" at {when(result.at)}.")
    log.info("case acknowledged by %s via sms", person, extra={"case": case_id})
    return f"Case {case_id} acknowledged by {person}. Its escalation has stopped."


def handler(settings: InboundSmsSettings) -> web.Handler:
    async def inbound(request: web.Request) -> web.StreamResponse:
        if request.content_type != FORM:
            return json_error(415, f"the gateway must post {FORM}, not"
                                   f" {request.content_type or 'nothing'}")
        form = await request.post()
        params = [(k, str(v)) for k, v in form.items()]
        url = settings.public_url.rstrip("/") + request.path_qs
        if not verify_twilio_signature(url, params, request.headers.get("X-Twilio-Signature", ""),
                                       settings.auth_token):
            log.warning("inbound SMS refused: its X-Twilio-Signature does not sign %s", url)
            return json_error(403, "the X-Twilio-Signature header does not sign this request:"
                                   " check the gateway's auth token, and that the URL it calls"
                                   f" is {url}")
        sender = str(form.get("From", "")).strip()
        person = settings.phones.get(sender)
        if person is None:
            # Masked in the log: the number is someone's, and the log travels further.
            log.warning("inbound SMS from a number no person has (...%s) refused", sender[-4:])
            return twiml(UNKNOWN_NUMBER)
        return twiml(_reply(request, person, sender, str(form.get("Body", "")),
                            clean(str(form.get("MessageSid", "")), 64)))
    return inbound


def routes(settings: InboundSmsSettings) -> list[web.RouteDef]:
    return [web.post(PATH, handler(settings))]
