"""Per-person REST API tokens with a role (SPEC 8): viewer reads, operator also acknowledges
and resolves, admin may do everything.

A token is shown once, when it is created; the collector keeps only its SHA-256 (the token
is 256 random bits, so a plain hash is as good as a slow one and costs nothing per request).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from enum import StrEnum

from collector.store.db import Database

PREFIX = "wk_"  # makes a leaked token recognisable to secret scanners and to people


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    person: str
    role: Role


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token: ApiToken
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(db: Database, person: str, role: Role, now: float) -> tuple[ApiToken, str]:
    """A new token for `person`: its record, and the token itself (shown once)."""
    token_id = secrets.token_hex(4)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    with db.transaction() as conn:
        conn.execute("INSERT INTO api_tokens (id, person, role, secret_hash, created_at)"
                     " VALUES (?, ?, ?, ?, ?)", (token_id, person, role.value, _hash(token), now))
    return ApiToken(token_id, person, role), token


def revoke(db: Database, token_id: str, now: float) -> ApiToken | None:
    """Revoke a token by its id; None when there is no such token or it already was."""
    with db.transaction() as conn:
        row = conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?"
                           " AND revoked_at IS NULL RETURNING id, person, role",
                           (now, token_id)).fetchone()
    return ApiToken(row["id"], row["person"], Role(row["role"])) if row else None


def authenticate(db: Database, presented: str, now: float) -> ApiToken | None:
    """The token's holder, or None for a token that is unknown or revoked."""
    with db.transaction() as conn:
        row = conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE secret_hash = ?"
                           " AND revoked_at IS NULL RETURNING id, person, role",
                           (now, _hash(presented))).fetchone()
    return ApiToken(row["id"], row["person"], Role(row["role"])) if row else None


def listing(conn: sqlite3.Connection) -> list[TokenInfo]:
    return [TokenInfo(ApiToken(r["id"], r["person"], Role(r["role"])), r["created_at"],
                      r["last_used_at"], r["revoked_at"])
            for r in conn.execute("SELECT * FROM api_tokens ORDER BY created_at, id")]
