"""The collector's record of the acknowledgement links it sent: each is written when its page
is queued and consumed by at most one POST, so a link forwarded, replayed or clicked twice
acknowledges once and says who used it when."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from alerting import acklink
from alerting.messages import clean, when
from collector.casework import AckResult, acknowledge, add_event
from collector.store.db import Database


class UnknownLink(LookupError):
    """Signed with our key but never recorded (e.g. a database restored from an older backup),
    or recorded for another case or person than the link names."""


@dataclass(frozen=True, slots=True)
class LinkRecord:
    id: str
    case_id: int
    recipient: str
    channels: tuple[str, ...]
    issued_at: float
    used_at: float | None
    used_from: str | None

    @property
    def via(self) -> str:
        """How an acknowledgement through this link is recorded: "email link", "sms link"."""
        return "/".join(self.channels) + " link" if self.channels else "link"


@dataclass(frozen=True, slots=True)
class AlreadyUsed:
    link: LinkRecord  # used_at and used_from say when and from where


def issue(conn: sqlite3.Connection, key: bytes, case_id: int, recipient: str,
          channels: tuple[str, ...], now: float, ttl: float) -> str:
    """A new link for `recipient`, recorded in the caller's transaction (the one that queues
    the page), so a page is never sent with a link the collector does not know."""
    claim = acklink.AckClaim(case_id, recipient, now + ttl, acklink.new_link_id())
    conn.execute("INSERT INTO ack_links (id, case_id, recipient, channels, issued_at, expires_at)"
                 " VALUES (?, ?, ?, ?, ?, ?)",
                 (claim.link_id, case_id, recipient, ",".join(channels), now, claim.expires_at))
    return acklink.sign(key, claim)


def _record(row: sqlite3.Row) -> LinkRecord:
    return LinkRecord(row["id"], row["case_id"], row["recipient"],
                      tuple(c for c in row["channels"].split(",") if c), row["issued_at"],
                      row["used_at"], row["used_from"])


def find(conn: sqlite3.Connection, claim: acklink.AckClaim) -> LinkRecord:
    row = conn.execute("SELECT * FROM ack_links WHERE id = ?", (claim.link_id,)).fetchone()
    if row is None or row["case_id"] != claim.case_id or row["recipient"] != claim.recipient:
        raise UnknownLink("this acknowledgement link was not issued by this collector")
    return _record(row)


def client(ip: str | None, user_agent: str | None) -> str:
    """Where a request came from, as the timeline shows it; the user agent is the client's
    own text, so it is cleaned and bounded."""
    return f"{ip or 'unknown address'} ({clean(user_agent or 'no user agent', 120)})"


def consume(db: Database, claim: acklink.AckClaim, source: str, now: float
            ) -> AckResult | AlreadyUsed:
    """Use the link once: acknowledge its case as its recipient (which may find the case
    already acknowledged by someone else). A link already used changes nothing; the refused
    attempt goes on the timeline. Raises UnknownLink, and what `acknowledge` raises (the case
    is resolved or closed: the link stays unused)."""
    with db.transaction() as conn:  # BEGIN IMMEDIATE: what `find` reads stays true till commit
        link = find(conn, claim)
        taken = conn.execute("UPDATE ack_links SET used_at = ?, used_from = ? WHERE id = ?"
                             " AND used_at IS NULL", (now, source, link.id)).rowcount
        if not taken:
            add_event(conn, link.case_id, now, "ack refused",
                      f"Refused a second use of the acknowledgement link sent to"
                      f" {link.recipient} at {when(link.issued_at)}, from {source}: it was used"
                      f" at {when(link.used_at or now)} from {link.used_from}; nothing changed")
            return AlreadyUsed(link)
        result = acknowledge(db, link.case_id, link.recipient, link.via, now)
        add_event(conn, link.case_id, now, "ack link",
                  f"Acknowledgement link sent to {link.recipient} at {when(link.issued_at)}"
                  f" used from {source}", link.recipient)
        return result
