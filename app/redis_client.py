"""The app's one Redis: its client, the ``REDIS_URL`` forms, and the backoff after a failure.

Redis is an accelerator (the answer cache, the token caches, the ``redis_lock`` guard, the
rate limiter), never the guarantee: every call through ``call`` is bounded by
``REDIS_TIMEOUT`` seconds and a failure is swallowed with a warning. After a failure Redis
is skipped for ``SKIP_SECONDS_AFTER_FAILURE`` seconds, so a dead or paused server costs one
timeout per process, not one per request.

Accepted ``REDIS_URL`` forms (anything else stops the app at start with ``ConfigError``):

- ``redis://[:password@]host:port/db`` and ``rediss://...`` (TLS): one server;
- ``redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db]``: Redis Sentinel;
  every new connection asks the sentinels for the current master (redis-py's ``Sentinel``),
  so after a failover the app follows the promoted replica. The password, if any, is the
  data servers'; the sentinels are asked without one.

Without ``REDIS_URL`` the app runs on an in-process stand-in (fakeredis): state per process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import redis
from flask import Flask, current_app
from redis.sentinel import Sentinel

from app import metrics
from app.config import ConfigError

log = logging.getLogger("app.redis")

SKIP_SECONDS_AFTER_FAILURE = 2.0
T = TypeVar("T")

SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True)
class SentinelTarget:
    """A parsed ``redis+sentinel://`` URL."""

    sentinels: list[tuple[str, int]]
    service_name: str
    db: int
    password: str | None


def parse_sentinel_url(url: str) -> SentinelTarget:
    """``redis+sentinel://h1:26379,h2:26379/mymaster/0`` -> its sentinels, service and db."""
    parts = urlsplit(url)
    hosts = parts.netloc.rsplit("@", 1)[-1]
    sentinels = []
    for location in hosts.split(","):
        host, sep, port = location.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"REDIS_URL: sentinel address {location!r} must be host:port")
        sentinels.append((host, int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ConfigError(
            "REDIS_URL: a sentinel URL ends in /service_name or /service_name/db, e.g. "
            "redis+sentinel://127.0.0.1:26379/mymaster/0"
        )
    password = unquote(parts.password) if parts.password else None
    return SentinelTarget(sentinels, path[0], int(path[1]) if len(path) == 2 else 0, password)


def _scheme(url: str) -> str:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in ("redis", "rediss", SENTINEL_SCHEME):
        raise ConfigError(
            f"REDIS_URL must start with redis://, rediss:// or {SENTINEL_SCHEME}://; got {scheme!r}"
        )
    return scheme


def _timeouts(timeout: float) -> dict:
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


def make_client(url: str, timeout: float) -> redis.Redis:
    """A redis-py client for ``url`` (the current master, for a sentinel URL)."""
    if _scheme(url) != SENTINEL_SCHEME:
        return redis.Redis.from_url(url, retry_on_timeout=False, **_timeouts(timeout))
    target = parse_sentinel_url(url)
    sentinel = Sentinel(target.sentinels, sentinel_kwargs=_timeouts(timeout), **_timeouts(timeout))
    return sentinel.master_for(
        target.service_name, db=target.db, password=target.password, retry_on_timeout=False
    )


def limiter_storage(url: str, timeout: float) -> tuple[str, dict]:
    """Flask-Limiter's ``RATELIMIT_STORAGE_URI`` and ``RATELIMIT_STORAGE_OPTIONS`` for ``url``.

    The ``limits`` library takes the sentinel's db as an option, not in the path, and is told
    to count on the master only (a replica's counters lag behind).
    """
    if _scheme(url) != SENTINEL_SCHEME:
        return url, _timeouts(timeout)
    target = parse_sentinel_url(url)
    hosts = ",".join(f"{host}:{port}" for host, port in target.sentinels)
    options = {
        **_timeouts(timeout),
        "db": target.db,
        "use_replicas": False,
        "sentinel_kwargs": _timeouts(timeout),
    }
    if target.password:
        options["password"] = target.password
    return f"{SENTINEL_SCHEME}://{hosts}/{target.service_name}", options


def init_app(app: Flask) -> None:
    """Connect ``app`` to ``REDIS_URL`` (no round trip yet), or to an in-process stand-in."""
    url = app.config.get("REDIS_URL")
    if url:
        redis_client = make_client(url, app.config["REDIS_TIMEOUT"])
    else:
        # fakeredis is a test dependency too: imported only when it is the client.
        import fakeredis

        redis_client = fakeredis.FakeRedis()
        log.warning(
            "REDIS_URL is unset: using an in-process Redis stand-in; its state is per process"
        )
    app.extensions["redis"] = redis_client
    app.extensions["redis_health"] = RedisHealth()


class RedisHealth:
    """Remembers a recent failure so the next requests skip Redis instead of waiting."""

    def __init__(self) -> None:
        self.skip_until = 0.0

    def available(self) -> bool:
        return time.monotonic() >= self.skip_until

    def failed(self, what: str, exc: Exception) -> None:
        self.skip_until = time.monotonic() + SKIP_SECONDS_AFTER_FAILURE
        metrics.redis_failure(what)
        log.warning(
            "redis unavailable during %s: %s; continuing without it",
            what,
            type(exc).__name__,
            extra={"event": "redis_unavailable"},
        )


def client() -> redis.Redis:
    """The current app's client."""
    return current_app.extensions["redis"]


def health() -> RedisHealth:
    """The current app's record of Redis failures."""
    return current_app.extensions["redis_health"]


def call(what: str, command: Callable[[redis.Redis], T]) -> T | None:
    """``command(client)``, or None when Redis is skipped or fails (then skipped a while).

    ``what`` names the operation in the log and in ``checkout_redis_failures_total``.
    """
    recent = health()
    if not recent.available():
        return None
    try:
        return command(client())
    except redis.RedisError as exc:
        recent.failed(what, exc)
        return None
