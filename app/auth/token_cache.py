"""The Redis copy of "this token hash belongs to user N", for API and session tokens.

An entry lives ``API_TOKEN_CACHE_TTL`` seconds. A replaced token's hash is overwritten with
a tombstone (``revoke_token``), so a request that read the old token from the database a
moment before cannot cache it again. Like every Redis use, an accelerator: calls go through
``app.redis_client.call`` (bounded, failures swallowed), and a miss reads the database.
"""

from __future__ import annotations

import redis
from flask import current_app

from app import redis_client
from app.payments.cache import PrefetchedAnswer, answer_key

_REVOKED = b"revoked"


def _token_key(token_hash: str) -> str:
    return f"token:v1:{token_hash}"


def token_user(token_hash: str) -> int | bool | None:
    """The cached user id of a token hash; False if the token was revoked; None if unknown."""
    raw = redis_client.call("token read", lambda r: r.get(_token_key(token_hash)))
    if raw is None:
        return None
    if raw == _REVOKED:
        return False
    try:
        return int(raw)
    except ValueError:
        return None


# The token's user id and, in the same round trip, that user's cached answer for a key:
# its name is ``answer_key`` split where the user id goes (ARGV[1] .. uid .. ARGV[3]).
_TOKEN_AND_RESPONSE = """
local uid = redis.call('GET', KEYS[1])
if (not uid) or uid == ARGV[2] then return {uid} end
return {uid, redis.call('GET', ARGV[1] .. uid .. ARGV[3])}
"""
_USER_SLOT = "\x00user\x00"


def token_and_response(
    token_hash: str, key_hash: str
) -> tuple[int | bool | None, PrefetchedAnswer | None]:
    """``token_user``, and the cached answer of ``key_hash`` for that user read in the same
    round trip (one Lua script): a replay of a create then costs one Redis call in all.
    The answer (``PrefetchedAnswer``) is for the caller to hand to ``get_response``."""
    before, after = answer_key(_USER_SLOT, key_hash).split(_USER_SLOT)

    def run(r: redis.Redis):
        script = current_app.extensions.get("redis_token_and_response")
        if script is None:
            script = current_app.extensions["redis_token_and_response"] = r.register_script(
                _TOKEN_AND_RESPONSE
            )
        return script(keys=[_token_key(token_hash)], args=[before, _REVOKED, after])

    found = redis_client.call("token and cache read", run)
    if not found or found[0] is None:
        return None, None
    if found[0] == _REVOKED:
        return False, None
    try:
        user_id = int(found[0])
    except ValueError:
        return None, None
    return user_id, PrefetchedAnswer(user_id, key_hash, found[1] if len(found) > 1 else None)


def remember_token(token_hash: str, user_id: int) -> None:
    """Cache a token hash read from the database (never over a tombstone: ``nx``)."""
    ttl = current_app.config["API_TOKEN_CACHE_TTL"]
    if ttl > 0:
        redis_client.call(
            "token write", lambda r: r.set(_token_key(token_hash), user_id, ex=ttl, nx=True)
        )


def revoke_token(token_hash: str) -> bool:
    """Make a replaced token unusable from the cache at once; False if Redis could not be
    reached (the entry then lives at most API_TOKEN_CACHE_TTL seconds)."""
    ttl = max(current_app.config["API_TOKEN_CACHE_TTL"], 1)
    # Not skipped after a recent failure: revocation is worth one more try.
    try:
        redis_client.client().set(_token_key(token_hash), _REVOKED, ex=ttl)
    except redis.RedisError as exc:
        redis_client.health().failed("token revoke", exc)
        return False
    return True
