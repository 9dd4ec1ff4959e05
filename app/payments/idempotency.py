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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from app.db import transaction
from app.models import IdempotencyKey, utcnow
from app.payments.insert_once import dialect_of, insert_if_absent

# The answer header that says until when a key is honoured (on every answer to a keyed
# request; the API's OpenAPI document names it too).
KEY_EXPIRES_HEADER = "Idempotency-Key-Expires"


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
class Outcome:
    """The final answer to a create request: the one shape it is sent, stored and replayed in.

    ``body`` is the JSON text sent (replays send the same bytes, never re-encoded: a
    ``jsonb`` copy would reorder keys); ``headers`` are the answer's own, in order
    (Content-Type, Location on a 201, ``Idempotency-Key-Expires`` when a key was sent).
    ``replayed`` is True when the answer is a stored one sent again.
    """

    status: int
    body: str
    headers: tuple[tuple[str, str], ...]
    payment_id: int | None
    replayed: bool = False

    @property
    def created(self) -> bool:
        return self.status == 201

    def again(self) -> Outcome:
        """The same answer, sent as a replay."""
        return replace(self, replayed=True)

    def cache_text(self, fingerprint: str, *, replay_counted: bool = False) -> str:
        """The Redis entry: this answer, the request fingerprint it belongs to, and whether
        the key's first replay has been counted (``idempotency_keys.replayed_at``)."""
        return json.dumps(
            {
                "s": self.status,
                "b": self.body,
                "h": self.headers,
                "p": self.payment_id,
                "f": fingerprint,
                "r": replay_counted,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_cache_text(cls, text: bytes | str) -> tuple[Outcome, str, bool] | None:
        """``(outcome, fingerprint, replay_counted)`` from ``cache_text``; None if unreadable."""
        try:
            entry = json.loads(text)
            outcome = cls(entry["s"], entry["b"], _header_pairs(entry["h"]), entry["p"])
            return outcome, entry["f"], bool(entry.get("r"))
        except (ValueError, KeyError, TypeError):
            return None


def _header_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(text)) for name, text in value or ())


_KEYS = IdempotencyKey.__table__


def _run(session: Session, statement, params: dict[str, Any]):
    """Execute a Core statement in the session's transaction."""
    return session.connection().execute(statement, params)


def _claim_statement(dialect: str, *, finished: bool = False):
    response = (
        {
            "state": "completed",
            "response_status": bindparam("response_status"),
            "response_body": bindparam("response_body"),
            "response_headers": bindparam("response_headers"),
            "payment_id": bindparam("payment_id"),
        }
        if finished
        else {"state": "processing"}
    )
    return insert_if_absent(
        dialect,
        _KEYS,
        ["user_id", "key_hash"],
        user_id=bindparam("user_id"),
        key_hash=bindparam("key_hash"),
        fingerprint=bindparam("fingerprint"),
        created_at=bindparam("now"),
        expires_at=bindparam("expires_at"),
        **response,
    )


# Built once: every checkout runs these, and SQLAlchemy memoizes a statement's cache
# key on the object, so a reused statement skips rebuilding and re-hashing it. Core
# statements on the table, run on the session's connection (``_run``): the checkout's hot
# path pays no ORM bookkeeping for rows it never loads.
_CLAIM = {name: _claim_statement(name) for name in ("postgresql", "sqlite")}
_CLAIM_FINISHED = {name: _claim_statement(name, finished=True) for name in ("postgresql", "sqlite")}
_FINISH = (
    update(_KEYS)
    .where(
        _KEYS.c.user_id == bindparam("match_user_id"),
        _KEYS.c.key_hash == bindparam("match_key_hash"),
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
    params = _claim_params(user_id, key_hash, fingerprint, expires)
    return _run(session, _CLAIM[dialect_of(session)], params).first() is not None


def _claim_params(user_id: int, key_hash: str, fingerprint: str, expires: datetime) -> dict:
    return {
        "user_id": user_id,
        "key_hash": key_hash,
        "fingerprint": fingerprint,
        "now": utcnow(),
        "expires_at": expires,
    }


def _answer_params(outcome: Outcome) -> dict:
    return {
        "response_status": outcome.status,
        "response_body": outcome.body,
        "response_headers": json.dumps(outcome.headers),
        "payment_id": outcome.payment_id,
    }


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
    record.replayed_at = None
    record.created_at = utcnow()
    record.expires_at = expires


def finish(session: Session, *, user_id: int, key_hash: str, outcome: Outcome) -> None:
    """Store the final answer on the claimed row, inside the payment's transaction."""
    # A Core statement skips autoflush: a row taken over (``take_over_expired``) is written
    # first, or its pending changes would overwrite this answer at commit.
    session.flush()
    match = {"match_user_id": user_id, "match_key_hash": key_hash}
    _run(session, _FINISH, {**match, **_answer_params(outcome)})


def store_refusal(
    session: Session,
    *,
    user_id: int,
    key_hash: str,
    fingerprint: str,
    expires: datetime,
    outcome: Outcome,
) -> bool:
    """Claim the key already finished with ``outcome`` (one statement); True if this request
    owned the key. False: the key exists (a repeat, or a concurrent claimer), nothing written.
    """
    params = {**_claim_params(user_id, key_hash, fingerprint, expires), **_answer_params(outcome)}
    return _run(session, _CLAIM_FINISHED[dialect_of(session)], params).first() is not None


def stored_outcome(record: IdempotencyKey) -> Outcome:
    """The answer stored on a finished key, as a replay."""
    status = record.response_status or 500
    # A row finished before headers were stored (migration 0003) has only its media type.
    headers = (
        json.loads(record.response_headers)
        if record.response_headers
        else [("Content-Type", content_type(status))]
    )
    return Outcome(
        status, record.response_body or "", _header_pairs(headers), record.payment_id, True
    )


def count_replay(record: IdempotencyKey) -> None:
    """Mark the key replayed (its first replay only): repeats write no rows of their own."""
    if record.replayed_at is None:
        record.replayed_at = utcnow()


_COUNT_REPLAY = (
    update(_KEYS)
    .where(
        _KEYS.c.user_id == bindparam("match_user_id"),
        _KEYS.c.key_hash == bindparam("match_key_hash"),
        _KEYS.c.replayed_at.is_(None),
    )
    .values(replayed_at=bindparam("now"))
)


def count_first_replay(session: Session, *, user_id: int, key_hash: str) -> None:
    """``count_replay`` for a key not loaded (a Redis replay): one UPDATE, a no-op if counted."""
    _run(
        session,
        _COUNT_REPLAY,
        {"match_user_id": user_id, "match_key_hash": key_hash, "now": utcnow()},
    )


def purge_expired() -> int:
    """Delete every key past its expiry; returns how many. Commits on its own."""
    with transaction() as session:
        result = session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow())
        )
    return result.rowcount
