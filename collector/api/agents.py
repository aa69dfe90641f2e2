"""The agent-facing API: enrolment, reports, rules."""

from __future__ import annotations

import logging
import socket

from aiohttp import web

from alerting.messages import clean
from collector import keys
from collector.api.errors import json_error
from collector.api.payload import PayloadError, gunzip, parse_json, parse_report
from collector.enrolment import Device, EnrolmentRefused, authenticate, enroll
from collector.ingest import store_report

log = logging.getLogger(__name__)


def _device(request: web.Request) -> Device:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential:
        raise web.HTTPUnauthorized(text="missing credential: send Authorization: Bearer"
                                        " <device credential>")
    device = authenticate(request.app[keys.DB], credential.strip())
    if device is None:
        raise web.HTTPUnauthorized(text="the device credential is not valid (unknown, revoked"
                                        " or mistyped); re-enrol the agent")
    return device


async def post_enroll(request: web.Request) -> web.Response:
    body = parse_json(await request.read())
    if not isinstance(body, dict):
        raise PayloadError(400, "the body must be a JSON object with token and hostname")
    token, hostname = body.get("token"), body.get("hostname")
    if not isinstance(token, str) or not isinstance(hostname, str) or not hostname.strip():
        raise PayloadError(400, "token and hostname must both be non-empty strings")
    config = request.app[keys.CONFIG]
    try:
        device, credential = enroll(request.app[keys.DB], token, clean(hostname.strip(), 128),
                                    config.heartbeat_for, request.app[keys.CLOCK].now())
    except EnrolmentRefused as exc:
        return json_error(403, str(exc))
    log.info("device enrolled as %s for %s", device.hostname, device.customer,
             extra={"device": device.id})
    request.app[keys.WAKERS].sweeper.set()
    return web.json_response({
        "device_id": device.id, "credential": credential, "customer": device.customer,
        "interval": device.interval, "rules": config.rules.to_wire(),
    }, status=201)


async def post_report(request: web.Request) -> web.Response:
    device = _device(request)
    config = request.app[keys.CONFIG]
    raw = gunzip(await request.read(), config.max_report_decompressed_bytes)
    report = parse_report(parse_json(raw))
    now = request.app[keys.CLOCK].now()
    stored = store_report(request.app[keys.DB], config, device, report, now)
    if report.transitions:
        request.app[keys.WAKERS].escalation.set()
    return web.json_response({
        "status": "duplicate" if stored.duplicate else "stored", "seq": report.seq,
        "rules_version": config.rules.version,
    })


async def get_rules(request: web.Request) -> web.Response:
    _device(request)
    return web.json_response(request.app[keys.CONFIG].rules.to_wire())


async def get_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "host": socket.gethostname()})
