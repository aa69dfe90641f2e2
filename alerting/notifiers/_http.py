"""HTTP for the channels: one POST with a bounded answer, and the provider-neutral reading of
status codes. Each notifier adds what its provider's error body means."""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from yarl import URL

from alerting.notifiers.base import DeliveryError, redact

Session = aiohttp.ClientSession
# Providers answer with a few hundred bytes; a peer that streams more is not read further.
MAX_REPLY = 64 * 1024
USER_AGENT = "watchkeeper"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    text: str  # at most MAX_REPLY bytes of the body, decoded leniently
    retry_after: float | None  # seconds, from a Retry-After header

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or {} when it is not one (a proxy's HTML error page)."""
        try:
            doc = json.loads(self.text)
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}


def retryable_status(status: int) -> bool:
    """Rate limits, timeouts and server errors pass; any other refusal will be repeated
    verbatim by the provider, so retrying it only delays the fall-over to the next channel."""
    return status in (408, 425, 429) or status >= 500


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def where(url: str) -> str:
    """Host and port only: a webhook URL's path is often its secret."""
    u = URL(url)
    return f"{u.host}:{u.port}" if u.explicit_port else str(u.host)


def refused(what: str, reply: Reply, detail: str = "",
            secrets: tuple[str, ...] = ()) -> DeliveryError:
    """The error for an answer that is not 2xx; `detail` is the provider's own explanation."""
    if 300 <= reply.status < 400:
        detail = "a redirect, which is not followed; configure the final address"
    retryable = retryable_status(reply.status)
    text = f"{what} answered {reply.status}" + (f": {detail}" if detail else "")
    return DeliveryError(redact(text, secrets), retryable, reply.retry_after if retryable else None)


async def post(session: Session, url: str, *, what: str, timeout: float, now: float,
               secrets: tuple[str, ...], **kwargs: Any) -> Reply:
    """POST and read the answer; only failures to get any answer raise here."""
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        async with session.post(url, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout), **kwargs) as resp:
            body = bytearray()
            while len(body) < MAX_REPLY:
                chunk = await resp.content.read(MAX_REPLY - len(body))
                if not chunk:
                    break
                body += chunk
            return Reply(resp.status, body.decode(errors="replace"),
                         parse_retry_after(resp.headers.get("Retry-After"), now))
    except TimeoutError as exc:
        raise DeliveryError(f"{what} did not answer within {timeout:g}s", True) from exc
    except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
        # A certificate that does not verify will not verify on the next attempt either.
        raise DeliveryError(redact(f"TLS with {what} failed: {exc}", secrets), False) from exc
    except aiohttp.InvalidURL as exc:
        raise DeliveryError(redact(f"{what}: invalid URL {exc}", secrets), False) from exc
    except aiohttp.ClientError as exc:
        raise DeliveryError(redact(f"cannot reach {what}: {exc}", secrets), True) from exc
