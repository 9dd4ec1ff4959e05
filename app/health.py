"""What operators and load balancers ask: ``/healthz`` (liveness), ``/readyz``, ``/metrics``.

``/healthz`` answers 200 without touching any dependency (and is the benchmark's ceiling).

``/readyz`` answers 200 while PostgreSQL answers ``SELECT 1`` within ``READINESS_TIMEOUT``
seconds, and 503 problem+json when it does not, so a balancer stops sending patients to an
instance whose database is gone. With ``DATABASE_REQUIRE_SYNC_STANDBY=1`` it also answers
503 while the primary has no synchronous standby (docs/operations.md, "Database failover"). Redis is an accelerator: when it is away the body says
``"redis": "degraded"`` and the answer stays 200.

``/metrics`` (Prometheus text) exists only with ``METRICS_ENABLED=1``; who may read it is
``app.metrics.scrape_allowed`` (module docstring of ``app.metrics``).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import redis
from flask import Blueprint, Flask, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from app import metrics
from app.api.problems import json_response, problem
from app.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger("app.health")

# One probe thread per process: a hung probe is abandoned at the bound, never awaited twice.
_probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz")


def init_app(app: Flask) -> None:
    """Register ``/healthz`` and ``/readyz``; ``/metrics`` too with ``METRICS_ENABLED`` (else
    there is no such route: 404)."""
    app.register_blueprint(bp)
    if app.config["METRICS_ENABLED"]:
        app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])


@bp.get("/healthz")
def healthz():
    """200 ``{"status": "ok"}``: the process answers (no dependency is asked)."""
    return {"status": "ok"}


# The standbys that confirm each commit before it is acknowledged (PostgreSQL's
# "Monitoring" chapter, pg_stat_replication.sync_state). Its details are NULL for a role
# without pg_read_all_stats (pg_monitor has it): then no standby is counted.
_SYNC_STANDBYS = text(
    "SELECT count(*) FILTER (WHERE sync_state IN ('sync', 'quorum')) FROM pg_stat_replication"
)


@dataclass(frozen=True)
class DatabaseState:
    """What the probe saw: whether the database answered, and (asked only with
    ``DATABASE_REQUIRE_SYNC_STANDBY``) how many synchronous standbys the primary has."""

    answered: bool
    sync_standbys: int | None = None


def _probe_database(engine, count_standbys: bool) -> DatabaseState:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        if not count_standbys:
            return DatabaseState(answered=True)
        return DatabaseState(answered=True, sync_standbys=conn.execute(_SYNC_STANDBYS).scalar())


def database_state(timeout: float, *, count_standbys: bool = False) -> DatabaseState:
    """Ask PostgreSQL (or SQLite) ``SELECT 1`` within ``timeout`` seconds, and with
    ``count_standbys`` how many synchronous standbys its pg_stat_replication lists."""
    future = _probes.submit(_probe_database, db.engine, count_standbys)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        log.warning("readyz: database did not answer within %.1fs", timeout)
    except Exception as exc:  # any driver error means "not ready", never a 500
        log.warning("readyz: database unavailable: %s", type(exc).__name__)
    return DatabaseState(answered=False)


def redis_state() -> str:
    """ "ok", "degraded" (configured but not answering) or "in-process" (no REDIS_URL)."""
    if not current_app.config.get("REDIS_URL"):
        return "in-process"
    try:
        current_app.extensions["redis"].ping()
        return "ok"
    except redis.RedisError:
        return "degraded"


@bp.get("/readyz")
def readyz():
    """200 ``{"status": "ready", "database": "ok", "redis": ...}`` or 503 problem+json.

    With ``DATABASE_REQUIRE_SYNC_STANDBY`` the database counts as ready only while its
    primary has a synchronous standby; without one the body says
    ``"database": "no-sync-standby"`` and an error is logged on every probe.
    """
    redis_now = redis_state()
    require_sync = current_app.config["DATABASE_REQUIRE_SYNC_STANDBY"]
    state = database_state(current_app.config["READINESS_TIMEOUT"], count_standbys=require_sync)
    if not state.answered:
        return problem(
            "not-ready",
            "The database did not answer; send requests to another instance.",
            database="unavailable",
            redis=redis_now,
        )
    if require_sync and not state.sync_standbys:
        log.error(
            "readyz: the primary has no synchronous standby (pg_stat_replication); "
            "a payment answered now could be lost in a failover"
        )
        return problem(
            "not-ready",
            "The database primary has no synchronous standby, which "
            "DATABASE_REQUIRE_SYNC_STANDBY requires.",
            database="no-sync-standby",
            redis=redis_now,
        )
    status = "ready" if redis_now != "degraded" else "degraded"
    return json_response({"status": status, "database": "ok", "redis": redis_now}, 200)


def metrics_view():
    """200 text/plain exposition, or 403 problem+json outside ``METRICS_ALLOW`` without the token."""
    if not metrics.scrape_allowed():
        return problem(
            "forbidden",
            "Metrics are served only to allowed networks or with the metrics token.",
        )
    response = Response(metrics.exposition(), 200, mimetype=None)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response
