"""Acknowledgement from the link in a page. GET (and HEAD) only show a confirmation page,
because mail scanners fetch every link they see; only the POST from that page acknowledges,
and only once per link.

Statuses: 403 for a link this collector did not sign or never issued, 410 once it has
expired, 409 when the case is past acknowledging (resolved or closed).
A second POST of a used link answers 200 with who used it when, and changes nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from html import escape
from string import Template

from aiohttp import web

from alerting import acklink
from alerting.cases import CaseAction, CaseState, InvalidTransition, can
from alerting.messages import when
from collector import ack_links, keys
from collector.ack_links import AlreadyUsed, LinkRecord, UnknownLink

log = logging.getLogger(__name__)

_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex">
<title>$title</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
button{font-size:1.25rem;padding:.75rem 2rem}</style></head>
<body><h1>$title</h1>$body</body></html>
""")


def page(title: str, body_html: str, status: int = 200) -> web.Response:
    resp = web.Response(text=_PAGE.substitute(title=escape(title), body=body_html),
                        content_type="text/html", status=status)
    # The page names a case and a person: no cache between the engineer and us keeps it.
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _problem(title: str, text: str, status: int) -> web.Response:
    return page(title, f"<p>{escape(text)}.</p>", status=status)


def _link(request: web.Request) -> tuple[acklink.AckClaim, LinkRecord] | web.Response:
    try:
        claim = acklink.verify(request.app[keys.CONFIG].secret, request.match_info["token"],
                               request.app[keys.CLOCK].now())
        return claim, ack_links.find(request.app[keys.DB].conn, claim)
    except acklink.AckLinkExpired as exc:
        return _problem("Link expired", str(exc), 410)
    except (acklink.AckLinkError, UnknownLink) as exc:
        return _problem("Invalid link", str(exc), 403)


def _case(request: web.Request, case_id: int) -> sqlite3.Row:
    # A recorded link's case exists: links reference their case, and cases are never deleted.
    return request.app[keys.DB].conn.execute("SELECT * FROM cases WHERE id = ?",
                                             (case_id,)).fetchone()


def _acknowledged(case_id: int, by: str, via: str, at: float) -> str:
    return (f"<p>Case #{case_id} was acknowledged by {escape(by)} via {escape(via)}"
            f" at {when(at)}.</p>")


def _used(link: LinkRecord) -> str:
    return (f"<p>This link was already used by {escape(link.recipient)} at"
            f" {when(link.used_at or 0)}; it acknowledges only once.</p>")


async def get_ack(request: web.Request) -> web.Response:
    found = _link(request)
    if isinstance(found, web.Response):
        return found
    claim, link = found
    case = _case(request, claim.case_id)
    summary = (f"<p><strong>Severity {case['severity']} case #{case['id']}</strong>:"
               f" {escape(case['title'])}<br>Customer: {escape(case['customer'])}<br>"
               f"Opened {when(case['opened_at'])}; now {escape(case['state'])}.</p>")
    if link.used_at is not None:
        return page(f"Link already used for case #{case['id']}", summary + _used(link))
    if case["acknowledged_at"] is not None:
        return page(f"Case #{case['id']} already acknowledged", summary + _acknowledged(
            case["id"], case["acknowledged_by"], case["acknowledged_via"],
            case["acknowledged_at"]))
    if not can(CaseState(case["state"]), CaseAction.ACKNOWLEDGE):
        return page("Nothing to acknowledge", summary, status=409)
    return page(f"Acknowledge case #{case['id']}?", summary + (
        f"<p>Acknowledging as <strong>{escape(claim.recipient)}</strong> stops the escalation"
        " to the next person. This link works once.</p>"
        f'<form method="post"><button type="submit">Acknowledge case #{case["id"]}</button>'
        "</form>"))


async def post_ack(request: web.Request) -> web.Response:
    found = _link(request)
    if isinstance(found, web.Response):
        return found
    claim, _ = found
    source = ack_links.client(request.remote, request.headers.get("User-Agent"))
    try:
        result = ack_links.consume(request.app[keys.DB], claim, source,
                                   request.app[keys.CLOCK].now())
    except InvalidTransition as exc:
        return _problem("Nothing to acknowledge", str(exc), 409)
    if isinstance(result, AlreadyUsed):
        log.warning("acknowledgement link of %s used again from %s", claim.recipient, source,
                    extra={"case": claim.case_id})
        return page(f"Link already used for case #{claim.case_id}", _used(result.link))
    if not result.acknowledged:
        return page(f"Case #{claim.case_id} already acknowledged", _acknowledged(
            claim.case_id, result.by, result.via, result.at))
    log.info("case acknowledged by %s via %s", result.by, result.via,
             extra={"case": claim.case_id})
    return page(f"Case #{claim.case_id} acknowledged",
                f"<p>Thank you, {escape(claim.recipient)}. Case #{claim.case_id} is yours;"
                " the escalation has stopped.</p>")
