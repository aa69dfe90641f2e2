"""Signed, expiring acknowledgement links.

The token carries (case, recipient, expiry) and an HMAC-SHA256 over them, so the collector
needs no table of issued links; a link only ever acknowledges. Acknowledging is idempotent
on the case, so a reused link reports who acknowledged instead of acting twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass


class AckLinkError(ValueError):
    pass


class AckLinkExpired(AckLinkError):
    pass


@dataclass(frozen=True, slots=True)
class AckClaim:
    case_id: int
    recipient: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, claim: AckClaim) -> str:
    body = _b64(json.dumps(
        {"c": claim.case_id, "r": claim.recipient, "e": int(claim.expires_at)},
        separators=(",", ":")).encode())
    mac = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def verify(key: bytes, token: str, now: float) -> AckClaim:
    body, _, mac = token.partition(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not mac or not hmac.compare_digest(mac, expected):
        raise AckLinkError("this acknowledgement link is not valid (it was altered or cut short)")
    try:
        d = json.loads(_unb64(body))
        claim = AckClaim(int(d["c"]), str(d["r"]), float(d["e"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise AckLinkError("this acknowledgement link is not valid") from exc
    if now > claim.expires_at:
        raise AckLinkExpired("this acknowledgement link has expired; acknowledge from the CLI")
    return claim
