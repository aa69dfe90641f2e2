"""Enrolment tokens and device credentials. Only hashes of secrets are stored.

Secrets are 32 random bytes, so a plain SHA-256 is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from collector.heartbeats import HeartbeatPolicy
from collector.store.db import Database

TOKEN_PREFIX = "wke"
CREDENTIAL_PREFIX = "wkd"


class EnrolmentRefused(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    customer: str
    hostname: str
    interval: float
    grace: float
    missed_before_case: int

    @property
    def heartbeat(self) -> HeartbeatPolicy:
        return HeartbeatPolicy(self.interval, self.grace, self.missed_before_case)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Device:
        return cls(row["id"], row["customer"], row["hostname"], row["interval"], row["grace"],
                   row["missed_before_case"])


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(value: str, prefix: str) -> tuple[str, str] | None:
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def create_token(db: Database, customer: str, max_uses: int, ttl: float, now: float,
                 site: str | None = None) -> str:
    """A token for `customer`'s agents; the devices it enrols are placed at `site`."""
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO enrol_tokens (id, customer, secret_hash, created_at, expires_at,"
            " max_uses, site) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token_id, customer, _hash(secret), now, now + ttl, max_uses, site))
    return f"{TOKEN_PREFIX}.{token_id}.{secret}"


def enroll(db: Database, token: str, hostname: str,
           policy_for: Callable[[str], HeartbeatPolicy],
           now: float) -> tuple[Device, str]:
    """Spend one use of `token` on a new device; return it and its credential (shown once)."""
    parts = _split(token, TOKEN_PREFIX)
    if parts is None:
        raise EnrolmentRefused("the enrolment token is malformed")
    token_id, secret = parts
    with db.transaction() as conn:
        row = conn.execute("SELECT * FROM enrol_tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None or not hmac.compare_digest(row["secret_hash"], _hash(secret)):
            raise EnrolmentRefused("the enrolment token is not known to this collector")
        if now > row["expires_at"]:
            raise EnrolmentRefused("the enrolment token has expired; create a new one")
        # The conditional UPDATE is the use counter: two enrolments never both take the last.
        used = conn.execute("UPDATE enrol_tokens SET uses = uses + 1 WHERE id = ?"
                            " AND uses < max_uses", (token_id,)).rowcount
        if not used:
            raise EnrolmentRefused(f"the enrolment token has been used {row['max_uses']} time(s),"
                                   " its limit; create a new one")
        customer = row["customer"]
        policy = policy_for(customer)
        device_id, device_secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        conn.execute(
            "INSERT INTO devices (id, customer, hostname, credential_hash, enrolled_at, interval,"
            " grace, missed_before_case, last_seen, next_deadline, site)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (device_id, customer, hostname, _hash(device_secret), now, policy.interval,
             policy.grace, policy.missed_before_case, now, now + policy.interval + policy.grace,
             row["site"]))
    device = Device(device_id, customer, hostname, policy.interval, policy.grace,
                    policy.missed_before_case)
    return device, f"{CREDENTIAL_PREFIX}.{device_id}.{device_secret}"


def authenticate(db: Database, credential: str) -> Device | None:
    parts = _split(credential, CREDENTIAL_PREFIX)
    if parts is None:
        return None
    row = db.conn.execute("SELECT * FROM devices WHERE id = ? AND revoked_at IS NULL",
                          (parts[0],)).fetchone()
    if row is None or not hmac.compare_digest(row["credential_hash"], _hash(parts[1])):
        return None
    return Device.from_row(row)
