"""The durable idempotency record: claimed in the same transaction as the payment.

Why the same transaction and not a lease: a second request with the same key
blocks on the first one's uncommitted unique-index entry (PostgreSQL) or on
the single write lock (SQLite), for at most the lock timeout, and then sees
the committed outcome. A crash rolls the claim back with everything else, so a
key can never be left stuck, and no stale worker can finish after a takeover.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from app.models import IdempotencyKey, utcnow
from app.payments.upsert import dialect_of, insert_if_absent


def hash_key(key: str) -> str:
    """What we store and log instead of the key itself."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def fingerprint(parts: str) -> str:
    return hashlib.sha256(parts.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    fingerprint: str
    payment_id: int | None

    def cache_entry(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "body": self.body,
            "fingerprint": self.fingerprint,
            "payment_id": self.payment_id,
        }

    @classmethod
    def from_cache(cls, entry: dict[str, Any]) -> StoredResponse:
        return cls(entry["status"], entry["body"], entry["fingerprint"], entry.get("payment_id"))


def _claim_statement(dialect: str):
    return insert_if_absent(
        dialect,
        IdempotencyKey,
        ["user_id", "key_hash"],
        user_id=bindparam("user_id"),
        key_hash=bindparam("key_hash"),
        fingerprint=bindparam("fingerprint"),
        state="processing",
        created_at=bindparam("now"),
        expires_at=bindparam("expires_at"),
    )


# Built once: every checkout runs these, and SQLAlchemy memoizes a statement's cache
# key on the object, so a reused statement skips rebuilding and re-hashing it.
_CLAIM = {name: _claim_statement(name) for name in ("postgresql", "sqlite")}
_FINISH = (
    update(IdempotencyKey)
    .where(
        IdempotencyKey.user_id == bindparam("match_user_id"),
        IdempotencyKey.key_hash == bindparam("match_key_hash"),
    )
    .values(
        state="completed",
        response_status=bindparam("response_status"),
        response_body=bindparam("response_body", type_=IdempotencyKey.response_body.type),
        payment_id=bindparam("payment_id"),
    )
)


def claim(
    session: Session, *, user_id: int, key_hash: str, fingerprint: str, ttl_seconds: int
) -> bool:
    """Insert the key's row; True if this request owns it now.

    ``ON CONFLICT DO NOTHING`` waits for a concurrent claimer of the same key to
    finish (bounded by ``lock_timeout``) and then returns no row.
    """
    now = utcnow()
    params = {
        "user_id": user_id,
        "key_hash": key_hash,
        "fingerprint": fingerprint,
        "now": now,
        "expires_at": now + timedelta(seconds=ttl_seconds),
    }
    stmt = _CLAIM[dialect_of(session)]
    return session.execute(stmt, params).first() is not None


def load_for_update(session: Session, *, user_id: int, key_hash: str) -> IdempotencyKey | None:
    """The key's row, locked; None if ``purge_expired`` deleted it since the claim saw it."""
    stmt = (
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key_hash == key_hash)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def take_over_expired(record: IdempotencyKey, *, fingerprint: str, ttl_seconds: int) -> None:
    """A key past its TTL is forgotten: the new request starts afresh on the same row."""
    now = utcnow()
    record.fingerprint = fingerprint
    record.state = "processing"
    record.response_status = None
    record.response_body = None
    record.payment_id = None
    record.created_at = now
    record.expires_at = now + timedelta(seconds=ttl_seconds)


def finish(session: Session, *, user_id: int, key_hash: str, response: StoredResponse) -> None:
    """Store the final response on the claimed row, inside the payment's transaction."""
    session.execute(
        _FINISH,
        {
            "match_user_id": user_id,
            "match_key_hash": key_hash,
            "response_status": response.status,
            "response_body": response.body,
            "payment_id": response.payment_id,
        },
    )


def stored_response(record: IdempotencyKey) -> StoredResponse:
    return StoredResponse(
        record.response_status or 500,
        record.response_body or {},
        record.fingerprint,
        record.payment_id,
    )


def purge_expired() -> int:
    """Delete every key past its expiry; returns how many. Commits on its own."""
    from app.db import transaction

    with transaction() as session:
        result = session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow())
        )
    return result.rowcount
