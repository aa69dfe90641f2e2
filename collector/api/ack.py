"""Acknowledgement from the link in a page. GET only shows a confirmation page (mail
scanners fetch every link they see); only the POST from that page acknowledges."""

from __future__ import annotations

import logging
from html import escape
from string import Template

from aiohttp import web

from alerting import acklink
from alerting.cases import InvalidTransition
from alerting.messages import when
from collector import keys
from collector.casework import CaseNotFound, acknowledge

log = logging.getLogger(__name__)

_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>$title</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
button{font-size:1.25rem;padding:.75rem 2rem}</style></head>
<body><h1>$title</h1>$body</body></html>
""")


def page(title: str, body_html: str, status: int = 200) -> web.Response:
    return web.Response(text=_PAGE.substitute(title=escape(title), body=body_html),
                        content_type="text/html", status=status)


def _claim(request: web.Request) -> acklink.AckClaim | web.Response:
    try:
        return acklink.verify(request.app[keys.CONFIG].secret, request.match_info["token"],
                              request.app[keys.CLOCK].now())
    except acklink.AckLinkExpired as exc:
        return page("Link expired", f"<p>{escape(str(exc))}.</p>", status=410)
    except acklink.AckLinkError as exc:
        return page("Invalid link", f"<p>{escape(str(exc))}.</p>", status=400)


def _case(request: web.Request, case_id: int):
    return request.app[keys.DB].conn.execute("SELECT * FROM cases WHERE id = ?",
                                             (case_id,)).fetchone()


def _already(case_id: int, by: str, via: str, at: float) -> str:
    return (f"<p>Case #{case_id} was acknowledged by {escape(by)} via {escape(via)}"
            f" at {when(at)}.</p>")


async def get_ack(request: web.Request) -> web.Response:
    claim = _claim(request)
    if isinstance(claim, web.Response):
        return claim
    case = _case(request, claim.case_id)
    if case is None:
        return page("Unknown case", f"<p>There is no case {claim.case_id}.</p>", status=404)
    summary = (f"<p><strong>Severity {case['severity']} case #{case['id']}</strong>:"
               f" {escape(case['title'])}<br>Customer: {escape(case['customer'])}<br>"
               f"Opened {when(case['opened_at'])}; now {escape(case['state'])}.</p>")
    if case["acknowledged_at"] is not None:
        return page(f"Case #{case['id']} already acknowledged", summary + _already(
            case["id"], case["acknowledged_by"], case["acknowledged_via"],
            case["acknowledged_at"]))
    return page(f"Acknowledge case #{case['id']}?", summary + (
        f"<p>Acknowledging as <strong>{escape(claim.recipient)}</strong> stops the escalation"
        " to the next person.</p>"
        f'<form method="post"><button type="submit">Acknowledge case #{case["id"]}</button>'
        "</form>"))


async def post_ack(request: web.Request) -> web.Response:
    claim = _claim(request)
    if isinstance(claim, web.Response):
        return claim
    try:
        result = acknowledge(request.app[keys.DB], claim.case_id, claim.recipient, "email link",
                             request.app[keys.CLOCK].now())
    except CaseNotFound as exc:
        return page("Unknown case", f"<p>{escape(str(exc))}.</p>", status=404)
    except InvalidTransition as exc:
        return page("Nothing to acknowledge", f"<p>{escape(str(exc))}.</p>", status=409)
    if not result.acknowledged:
        return page(f"Case #{claim.case_id} already acknowledged", _already(
            claim.case_id, result.by, result.via, result.at))
    log.info("case acknowledged by %s via email link", claim.recipient,
             extra={"case": claim.case_id})
    return page(f"Case #{claim.case_id} acknowledged",
                f"<p>Thank you, {escape(claim.recipient)}. Case #{claim.case_id} is yours;"
                " the escalation has stopped.</p>")
