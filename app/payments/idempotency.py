"""The durable idempotency record: claimed in the same transaction as the payment.

Why the same transaction and not a lease: a second request with the same key
blocks on the first one's uncommitted unique-index entry (PostgreSQL) or on
the single write lock (SQLite), for at most the lock timeout, and then sees
the committed outcome. A crash rolls the claim back with everything else, so a
key can never be left stuck, and no stale worker can finish after a takeover.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
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


def encode_body(body: Any) -> str:
    """The one JSON encoding of an answer's body: compact, UTF-8 kept as is."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def content_type(status: int) -> str:
    """An answer's media type: JSON, or RFC 9457 problem details for 4xx and 5xx."""
    return "application/problem+json" if status >= 400 else "application/json"


def expires_at(ttl_seconds: int) -> datetime:
    """When a key claimed now stops being honoured (``IDEMPOTENCY_TTL`` seconds, UTC)."""
    return utcnow() + timedelta(seconds=ttl_seconds)


@dataclass(frozen=True)
class StoredResponse:
    """A finished request's answer exactly as first sent: replays send these bytes.

    ``body`` is the response body as text (UTF-8 on the wire), never re-encoded:
    a ``jsonb`` copy would reorder keys. ``headers`` are the ones that belong to
    the answer (Content-Type, Location, Idempotency-Key-Expires), in order.
    """

    status: int
    body: str
    headers: tuple[tuple[str, str], ...]
    fingerprint: str
    payment_id: int | None

    def cache_entry(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "body": self.body,
            "headers": [list(pair) for pair in self.headers],
            "fingerprint": self.fingerprint,
            "payment_id": self.payment_id,
        }

    @classmethod
    def from_cache(cls, entry: dict[str, Any]) -> StoredResponse:
        return cls(
            entry["status"],
            entry["body"],
            _header_pairs(entry.get("headers")),
            entry["fingerprint"],
            entry.get("payment_id"),
        )


def _header_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(text)) for name, text in value or ())


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
        response_body=bindparam("response_body"),
        response_headers=bindparam("response_headers"),
        payment_id=bindparam("payment_id"),
    )
)


def claim(
    session: Session, *, user_id: int, key_hash: str, fingerprint: str, expires: datetime
) -> bool:
    """Insert the key's row, honoured until ``expires``; True if this request owns it now.

    ``ON CONFLICT DO NOTHING`` waits for a concurrent claimer of the same key to
    finish (bounded by ``lock_timeout``) and then returns no row.
    """
    params = {
        "user_id": user_id,
        "key_hash": key_hash,
        "fingerprint": fingerprint,
        "now": utcnow(),
        "expires_at": expires,
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


def take_over_expired(record: IdempotencyKey, *, fingerprint: str, expires: datetime) -> None:
    """A key past its TTL is forgotten: the new request starts afresh on the same row."""
    record.fingerprint = fingerprint
    record.state = "processing"
    record.response_status = None
    record.response_body = None
    record.response_headers = None
    record.payment_id = None
    record.created_at = utcnow()
    record.expires_at = expires


def finish(session: Session, *, user_id: int, key_hash: str, response: StoredResponse) -> None:
    """Store the final response on the claimed row, inside the payment's transaction."""
    session.execute(
        _FINISH,
        {
            "match_user_id": user_id,
            "match_key_hash": key_hash,
            "response_status": response.status,
            "response_body": response.body,
            "response_headers": json.dumps([list(pair) for pair in response.headers]),
            "payment_id": response.payment_id,
        },
    )


def stored_response(record: IdempotencyKey) -> StoredResponse:
    status = record.response_status or 500
    # A row finished before headers were stored (migration 0003) has only its media type.
    headers = (
        json.loads(record.response_headers)
        if record.response_headers
        else [("Content-Type", content_type(status))]
    )
    return StoredResponse(
        status,
        record.response_body or "",
        _header_pairs(headers),
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
