"""Every error under /api/ is a JSON object that names the problem; nothing escapes as a 500
page or a crash."""

from __future__ import annotations

import logging

from aiohttp import web

from collector import keys
from collector.api.payload import PayloadError

log = logging.getLogger(__name__)


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def api_errors(request: web.Request, handler: web.Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except PayloadError as exc:
        return json_error(exc.status, str(exc))
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[keys.CONFIG].max_report_bytes
        return json_error(413, f"the body is larger than the {limit} bytes allowed"
                               " (max_report_bytes)")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(exc.status, exc.text or exc.reason)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return json_error(500, "internal error; nothing was stored; see the collector log")
