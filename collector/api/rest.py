"""The REST API for NOC tools and scripts: cases, their timelines, acknowledgement.

Every request carries `Authorization: Bearer <token>`, a per-person token made with
`watchkeeper api-token create`. Its role decides what it may do (SPEC 8): a viewer reads, an
operator (or admin) also acknowledges. Errors are JSON objects with an "error" text, from the
collector's error middleware; 401 means no valid token, 403 a token whose role or person
does not allow the request. Times are seconds since the epoch, as `watchkeeper cases --json`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web

from alerting.cases import CaseState, InvalidTransition
from alerting.messages import when
from collector import api_tokens, keys
from collector.api.errors import json_error
from collector.api_tokens import ApiToken, Role
from collector.casework import CaseNotFound, acknowledge, time_spent

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_CHALLENGE = 'Bearer realm="watchkeeper"'

TokenHandler = Callable[[web.Request, ApiToken], Awaitable[web.StreamResponse]]


def _unauthorized(message: str) -> web.Response:
    resp = json_error(401, message)
    resp.headers["WWW-Authenticate"] = _CHALLENGE
    return resp


def requires(role: Role) -> Callable[[TokenHandler], web.Handler]:
    """The handler runs only for a valid token whose role allows `role`; it gets the token."""
    def decorate(handler: TokenHandler) -> web.Handler:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not presented.strip():
                return _unauthorized("this API needs an 'Authorization: Bearer <token>' header;"
                                     " make a token with: watchkeeper api-token create"
                                     " --person NAME")
            token = api_tokens.authenticate(request.app[keys.DB], presented.strip(),
                                            request.app[keys.CLOCK].now())
            if token is None:
                return _unauthorized("this API token is not valid: it is unknown or was"
                                     " revoked")
            if not token.role.allows(role):
                raise web.HTTPForbidden(text=f"this token's role is {token.role.value}; this"
                                             f" request needs {role.value} or higher")
            return await handler(request, token)
        return checked
    return decorate


def _int_list(request: web.Request, name: str) -> list[int]:
    raw = request.query.get(name, "")
    try:
        return [int(v) for v in raw.split(",") if v.strip()]
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}={raw!r}: give whole numbers separated by commas"
                                 ) from None


def _states(request: web.Request) -> list[str]:
    raw = request.query.get("state", "")
    states = [s.strip() for s in raw.split(",") if s.strip()]
    known = [s.value for s in CaseState]
    for s in states:
        if s not in known:
            raise web.HTTPBadRequest(text=f"state={s!r} is not a case state (states:"
                                          f" {', '.join(known)})")
    return states or [s for s in known if s != CaseState.CLOSED]


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise web.HTTPBadRequest(text=f"limit={raw!r}: give a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def case_json(row: sqlite3.Row) -> dict:
    """A case as the API shows it: its record without the policy snapshot, flags as booleans."""
    doc = {k: v for k, v in dict(row).items() if k != "policy"}
    doc["resolved_automatically"] = bool(doc["resolved_automatically"])
    if doc["covered_by_sla"] is not None:
        doc["covered_by_sla"] = bool(doc["covered_by_sla"])
    return doc


_SELECT = ("SELECT c.*, d.hostname FROM cases c LEFT JOIN devices d ON d.id = c.device_id")


@requires(Role.VIEWER)
async def list_cases(request: web.Request, _: ApiToken) -> web.Response:
    """GET /api/v1/cases?state=new,open&severity=1&limit=100: newest first. Without `state`,
    every case that is not closed."""
    states = _states(request)
    severities = _int_list(request, "severity")
    for sev in severities:
        if sev not in (1, 2, 3):
            raise web.HTTPBadRequest(text=f"severity={sev}: severities are 1, 2 and 3")
    where = [f"c.state IN ({','.join('?' * len(states))})"]
    params: list[object] = list(states)
    if severities:
        where.append(f"c.severity IN ({','.join('?' * len(severities))})")
        params += severities
    rows = request.app[keys.DB].conn.execute(
        f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY c.id DESC LIMIT ?",
        (*params, _limit(request))).fetchall()
    return web.json_response({"cases": [case_json(r) for r in rows]})


def _case_id(request: web.Request) -> int:
    return int(request.match_info["case"])


@requires(Role.VIEWER)
async def show_case(request: web.Request, _: ApiToken) -> web.Response:
    """GET /api/v1/cases/{id}: the case, its time spent and its whole timeline."""
    conn = request.app[keys.DB].conn
    case_id = _case_id(request)
    row = conn.execute(f"{_SELECT} WHERE c.id = ?", (case_id,)).fetchone()
    if row is None:
        raise web.HTTPNotFound(text=f"there is no case {case_id}")
    doc = case_json(row)
    doc["time_spent_minutes"] = time_spent(conn, case_id)
    doc["timeline"] = [
        {"at": e["at"], "kind": e["kind"], "text": e["text"], "actor": e["actor"],
         "minutes": e["minutes"]}
        for e in conn.execute("SELECT * FROM case_events WHERE case_id = ? ORDER BY id",
                              (case_id,))]
    return web.json_response(doc)


async def _json_object(request: web.Request, allowed: set[str]) -> dict:
    """The request's JSON object (an empty body is an empty object); unknown keys are refused,
    so a misspelt field cannot be silently ignored."""
    text = await request.text()
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"the body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise web.HTTPBadRequest(text=f"unknown field(s) {', '.join(unknown)}; this request"
                                      f" takes {', '.join(sorted(allowed))}")
    return doc


@requires(Role.OPERATOR)
async def ack_case(request: web.Request, token: ApiToken) -> web.Response:
    """POST /api/v1/cases/{id}/ack with {"by": PERSON} (optional: the token's person). A token
    acknowledges only as the person it belongs to, so the timeline names who really did it."""
    case_id = _case_id(request)
    body = await _json_object(request, {"by"})
    by = body.get("by", token.person)
    if not isinstance(by, str):
        raise web.HTTPBadRequest(text="'by' must be a person's name (a string)")
    if by != token.person:
        raise web.HTTPForbidden(text=f"this token belongs to {token.person}; it cannot"
                                     f" acknowledge as {by}")
    try:
        result = acknowledge(request.app[keys.DB], case_id, token.person, "api",
                             request.app[keys.CLOCK].now())
    except CaseNotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    except InvalidTransition as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    doc = {"case": case_id, "acknowledged": result.acknowledged, "by": result.by,
           "via": result.via, "at": result.at}
    if not result.acknowledged:
        doc["message"] = (f"case {case_id} was already acknowledged by {result.by} via"
                          f" {result.via} at {when(result.at)}")
    return web.json_response(doc)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/cases", list_cases, allow_head=False),
        web.get(r"/api/v1/cases/{case:\d+}", show_case, allow_head=False),
        web.post(r"/api/v1/cases/{case:\d+}/ack", ack_case),
    ]
