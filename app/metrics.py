"""Prometheus metrics at ``/metrics`` (prometheus-client), off unless ``METRICS_ENABLED=1``.

What is counted (names as exported; counters gain ``_total``):

- ``checkout_payment_outcomes_total{outcome, guard}``: one per create request, ``outcome`` as in
  the ``payment.outcome`` log line (created, replayed, conflict, key_mismatch, in_progress,
  lock_timeout, refused), ``guard`` the ``PAYMENT_GUARD`` in force.
- ``checkout_payment_replays_total{source}``: repeats answered from ``redis`` or ``database``.
- ``checkout_payment_lock_wait_seconds{result}``: seconds a request waited on a lock.
  ``replayed``: a repeat waited for its key's first request, then replayed its answer;
  ``in_progress`` / ``lock_timeout``: the request was refused (409 / 503) after waiting that
  long. The ``_count`` of the refusal results is the number of lock-timeout refusals.
- ``checkout_webhook_outcomes_total{outcome}``: provider notifications by what they did
  (confirmed, failed, already_processed, ignored...) or why they were refused
  (bad_signature, malformed_webhook, payment_not_found, payments_busy...).
- ``checkout_redis_failures_total{operation}``: Redis calls that failed or timed out (the app
  went on without Redis).
- ``checkout_http_request_duration_seconds{route, method, status}``: request latency, ``route``
  being the URL rule (``/checkout/<int:consultation_id>``), never the path, so ids do not
  multiply the series; requests matching no rule are ``route="unmatched"``.

Under gunicorn, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory: each worker writes its
numbers there and ``/metrics`` adds up all workers, dead ones included (gunicorn.conf.py wipes
the directory at start and marks exited workers).

Access: only from ``METRICS_ALLOW`` networks (default loopback), judged on the client address
after ``TRUSTED_PROXY_HOPS``, or with ``Authorization: Bearer <METRICS_TOKEN>`` when that is set.
A request carrying forwarding headers while ``TRUSTED_PROXY_HOPS`` is 0 came through a proxy the
app was not told about (whose address may well be loopback): only the token lets it in.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

DEFAULT_ALLOW = "127.0.0.1/8,::1"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PAYMENT_OUTCOMES = Counter(
    "checkout_payment_outcomes",
    "Payment create requests by outcome and guard.",
    ["outcome", "guard"],
)
PAYMENT_REPLAYS = Counter(
    "checkout_payment_replays",
    "Repeated payment requests answered with the stored outcome, by where it was found.",
    ["source"],
)
LOCK_WAIT = Histogram(
    "checkout_payment_lock_wait_seconds",
    "Seconds a payment request waited on a lock: replayed after the wait, or refused.",
    ["result"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
)
WEBHOOK_OUTCOMES = Counter(
    "checkout_webhook_outcomes",
    "Provider notifications by outcome (applied, duplicate, ignored or refused).",
    ["outcome"],
)
REDIS_FAILURES = Counter(
    "checkout_redis_failures",
    "Redis calls that failed or timed out; the app continued without Redis.",
    ["operation"],
)
REQUEST_DURATION = Histogram(
    "checkout_http_request_duration_seconds",
    "HTTP request latency by URL rule, method and status code.",
    ["route", "method", "status"],
)

_LOCK_REFUSALS = ("in_progress", "lock_timeout")


def payment_outcome(outcome: str, source: str | None, duration_ms: float, waited_ms: float) -> None:
    """Count one create request (called where the service logs ``payment.outcome``).
    ``duration_ms``: the whole request; ``waited_ms``: the wait for the key's first request
    (replays from the database); both in milliseconds, exported in seconds."""
    PAYMENT_OUTCOMES.labels(outcome, current_app.config["PAYMENT_GUARD"]).inc()
    if outcome == "replayed" and source:
        PAYMENT_REPLAYS.labels(source).inc()
        if source == "database":
            LOCK_WAIT.labels("replayed").observe(waited_ms / 1000)
    elif outcome in _LOCK_REFUSALS:
        LOCK_WAIT.labels(outcome).observe(duration_ms / 1000)


def webhook_outcome(outcome: str | Exception) -> None:
    """Count one notification: the receipt's outcome, or the error that refused it."""
    if isinstance(outcome, Exception):
        outcome = _snake(type(outcome).__name__)
    WEBHOOK_OUTCOMES.labels(outcome).inc()


def redis_failure(operation: str) -> None:
    """Count one failed Redis call (``operation``: a fixed phrase such as "cache read")."""
    REDIS_FAILURES.labels(operation).inc()


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def parse_networks(raw: str) -> tuple[Network, ...]:
    """``"127.0.0.1/8, ::1"`` -> networks. :raise ValueError: an entry is not a network."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip()
    )


def init_metrics(app: Flask) -> None:
    """With ``METRICS_ENABLED``: time every request and serve ``/metrics``. Without it there
    is no route at all (404). :raise ConfigError: METRICS_ALLOW is not a list of networks."""
    if not app.config["METRICS_ENABLED"]:
        return
    from app.config import ConfigError

    try:
        app.extensions["metrics_allow"] = parse_networks(app.config["METRICS_ALLOW"])
    except ValueError as exc:
        raise ConfigError(
            f"METRICS_ALLOW must be comma-separated networks such as {DEFAULT_ALLOW}: {exc}"
        ) from exc
    # First of all: a request refused by an earlier hook (CSRF, rate limit) is timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_observe_request)
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe_request(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        REQUEST_DURATION.labels(rule, request.method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response


def _allowed() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if (
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    ):
        return True
    if not current_app.config["TRUSTED_PROXY_HOPS"] and (
        "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    ):
        # A proxy we were not told about: its address (often loopback) is not the client's.
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in current_app.extensions["metrics_allow"])


def exposition() -> bytes:
    """The text exposition: this process's registry, or every worker's files in
    multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _metrics_view():
    """200 text/plain exposition, or 403 problem+json outside ``METRICS_ALLOW`` without the token."""
    if not _allowed():
        # Imported here: the payments package counts into this module, and the API
        # package (which defines problem answers) imports the payments service.
        from app.api.problems import problem

        return problem(
            "forbidden",
            "Metrics are served only to allowed networks or with the metrics token.",
        )
    response = Response(exposition(), 200, mimetype=None)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response
