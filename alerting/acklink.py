"""Signed, expiring, single-use acknowledgement links.

The token carries (case, recipient, expiry, link id) and an HMAC-SHA256 over them. The MAC
covers a purpose label as well, so no other token the collector signs with the same key can
pass for an acknowledgement link. The signature proves the collector issued the link; the
link id, recorded when the page is queued, is what makes it single-use (the collector
consumes it at most once). A link only ever acknowledges: it never resolves or silences.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

_PURPOSE = b"watchkeeper ack link v2\n"


class AckLinkError(ValueError):
    """Not a link this collector signed: altered, cut short, or signed with another key."""


class AckLinkExpired(AckLinkError):
    pass


@dataclass(frozen=True, slots=True)
class AckClaim:
    case_id: int
    recipient: str
    expires_at: float
    link_id: str  # random; the collector's record of the link is keyed by it


def new_link_id() -> str:
    """96 random bits: unguessable, and short enough to keep an SMS page within a segment
    or two."""
    return secrets.token_urlsafe(12)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, _PURPOSE + body.encode(), hashlib.sha256).digest())


def sign(key: bytes, claim: AckClaim) -> str:
    body = _b64(json.dumps(
        {"c": claim.case_id, "r": claim.recipient, "e": int(claim.expires_at),
         "j": claim.link_id}, separators=(",", ":")).encode())
    return f"{body}.{_mac(key, body)}"


def verify(key: bytes, token: str, now: float) -> AckClaim:
    """The claim of a link this collector signed; raises AckLinkError (AckLinkExpired once
    it is past its expiry). Whether the link was already used is the store's question."""
    body, _, mac = token.partition(".")
    if not mac or not hmac.compare_digest(mac, _mac(key, body)):
        raise AckLinkError("this acknowledgement link is not valid (it was altered or cut short)")
    try:
        d = json.loads(_unb64(body))
        claim = AckClaim(int(d["c"]), str(d["r"]), float(d["e"]), str(d["j"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise AckLinkError("this acknowledgement link is not valid") from exc
    if now > claim.expires_at:
        raise AckLinkExpired(
            f"this acknowledgement link for case #{claim.case_id} has expired; acknowledge the"
            f" case with `watchkeeper ack {claim.case_id}` or through the REST API")
    return claim
