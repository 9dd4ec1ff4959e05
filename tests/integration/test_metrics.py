"""/metrics (Prometheus): off by default, counts what the checkout did, and is never public."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import ConfigError
from tests.support.api import ApiClient
from tests.support.auth import AuthActions
from tests.support.factory import Factory
from tests.support.lifecycle import WEBHOOK_URL, deliver, provider_event, signed_headers
from tests.support.live import ROOT, LiveServer
from tests.support.pg import hold_claim, raw_connection
from tests.support.services import free_port

PAYMENTS_ROUTE = "/api/v1/payments"


def parse(text: str) -> dict[tuple, float]:
    """``{(sample name, (label, value)...): value}`` from a text exposition."""
    return {
        (s.name, *sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def read(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"].startswith("text/plain")
    return parse(response.get_data(as_text=True))


class Delta:
    """How much each sample moved between two reads of /metrics (the registry is per process,
    so other tests' counts are already in it)."""

    def __init__(self, client) -> None:
        self.client = client
        self.before = read(client)

    def __call__(self, name: str, **labels: str) -> float:
        after = read(self.client)
        key = (name, *sorted(labels.items()))
        return after.get(key, 0.0) - self.before.get(key, 0.0)


@pytest.fixture
def metrics_app(make_app):
    return make_app(METRICS_ENABLED=True, PAYMENT_LOCK_TIMEOUT_MS=300)


def test_metrics_are_off_by_default(app, client):
    assert app.config["METRICS_ENABLED"] is False
    assert client.get("/metrics").status_code == 404


def test_payment_outcomes_replays_and_latency_move_with_each_request(metrics_app):
    factory, api = Factory(metrics_app), ApiClient(metrics_app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    delta = Delta(metrics_app.test_client())
    # when a payment is created, repeated (Redis answers), repeated again with Redis emptied
    # (the database answers), and a second key asks for the same consultation
    assert api.pay(patient, consultation, key="k1").status_code == 201
    assert api.pay(patient, consultation, key="k1").status_code == 201
    metrics_app.extensions["redis"].flushdb()
    assert api.pay(patient, consultation, key="k1").status_code == 201
    assert api.pay(patient, consultation, key="k2").status_code == 409
    # then each moved its own counter, labelled with the guard in force
    outcomes = "checkout_payment_outcomes_total"
    assert delta(outcomes, outcome="created", guard="hybrid") == 1
    assert delta(outcomes, outcome="replayed", guard="hybrid") == 2
    assert delta(outcomes, outcome="conflict", guard="hybrid") == 1
    assert delta("checkout_payment_replays_total", source="redis") == 1
    assert delta("checkout_payment_replays_total", source="database") == 1
    assert delta("checkout_payment_lock_wait_seconds_count", result="replayed") == 1
    # and the request latency is labelled by URL rule, never by path
    latency = "checkout_http_request_duration_seconds_count"
    assert delta(latency, route=PAYMENTS_ROUTE, method="POST", status="201") == 3
    assert delta(latency, route=PAYMENTS_ROUTE, method="POST", status="409") == 1


def test_requests_refused_before_the_view_are_timed_too(make_app):
    app = make_app(METRICS_ENABLED=True, WTF_CSRF_ENABLED=True)
    client = AuthActions(app).session_for(Factory(app).patient())
    delta = Delta(client)
    # a signed-in form POST without its CSRF token is refused by a hook before any view
    assert client.post("/payments/1/cancel", data={}).status_code == 400
    assert client.get("/no/such/page").status_code == 404
    latency = "checkout_http_request_duration_seconds_count"
    route = "/payments/<int:payment_id>/cancel"
    assert delta(latency, route=route, method="POST", status="400") == 1
    assert delta(latency, route="unmatched", method="GET", status="404") == 1


def test_lock_timeout_refusals_are_counted_with_how_long_they_waited(metrics_app, database_url):
    factory, api = Factory(metrics_app), ApiClient(metrics_app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    delta = Delta(metrics_app.test_client())
    with raw_connection(database_url) as conn:
        # given another request holds the key, then the consultation's lock
        hold_claim(conn, patient.id, "busy")
        assert api.pay(patient, consultation, key="busy").status_code == 409
        conn.execute("SELECT id FROM consultations WHERE id = %s FOR UPDATE", (consultation.id,))
        assert api.pay(patient, consultation, key="locked").status_code == 503
        conn.rollback()
    outcomes = "checkout_payment_outcomes_total"
    assert delta(outcomes, outcome="in_progress", guard="hybrid") == 1
    assert delta(outcomes, outcome="lock_timeout", guard="hybrid") == 1
    for result in ("in_progress", "lock_timeout"):
        assert delta("checkout_payment_lock_wait_seconds_count", result=result) == 1
        # waited at least the 300 ms bound
        assert delta("checkout_payment_lock_wait_seconds_sum", result=result) >= 0.3
    assert delta("checkout_payment_outcomes_total", outcome="created", guard="hybrid") == 0


def test_webhook_outcomes_are_counted_applied_duplicate_and_refused(metrics_app):
    factory = Factory(metrics_app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    payment = ApiClient(metrics_app).pay(patient, consultation, key="w").json["data"]["payment"]
    client = metrics_app.test_client()
    delta = Delta(client)
    body = provider_event(payment["id"], event_id="evt_metrics")
    assert deliver(client, metrics_app, body).status_code == 200
    assert deliver(client, metrics_app, body).status_code == 200
    tampered = body.replace(b"evt_metrics", b"evt_metrics2")
    signed_for_another = signed_headers(metrics_app, body)
    assert client.post(WEBHOOK_URL, data=tampered, headers=signed_for_another).status_code == 401
    assert delta("checkout_webhook_outcomes_total", outcome="confirmed") == 1
    assert delta("checkout_webhook_outcomes_total", outcome="already_processed") == 1
    assert delta("checkout_webhook_outcomes_total", outcome="bad_signature") == 1


def test_redis_failures_are_counted_and_the_payment_still_happens(make_app):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    app = make_app(METRICS_ENABLED=True, REDIS_URL=closed)
    factory = Factory(app)
    patient = factory.patient()
    delta = Delta(app.test_client())
    assert ApiClient(app).pay(patient, factory.consultation(patient), key="r").status_code == 201
    # the API's first Redis call reads its token and the key's answer together; after that
    # failure Redis is skipped for a while (one failure counted, not one per call)
    assert delta("checkout_redis_failures_total", operation="token and cache read") == 1


FORWARDED = {"REMOTE_ADDR": "127.0.0.1"}  # the proxy on this host


def _get(app, forwarded_for: str, **headers: str):
    return app.test_client().get(
        "/metrics", headers={"X-Forwarded-For": forwarded_for, **headers}, environ_base=FORWARDED
    )


def test_behind_a_proxy_a_client_outside_the_allowed_networks_is_refused(make_app):
    app = make_app(METRICS_ENABLED=True, TRUSTED_PROXY_HOPS=1)
    refused = _get(app, "203.0.113.7")
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    assert b"checkout_" not in refused.data
    # a client on the proxy's own host is loopback, hence allowed
    assert _get(app, "127.0.0.1").status_code == 200
    # the allowed networks are a setting
    monitoring = make_app(METRICS_ENABLED=True, TRUSTED_PROXY_HOPS=1, METRICS_ALLOW="10.0.0.0/8")
    assert _get(monitoring, "10.1.2.3").status_code == 200
    assert _get(monitoring, "127.0.0.1").status_code == 403


def test_through_a_proxy_the_app_was_not_told_about_loopback_is_not_trusted(make_app):
    # given nginx on the same host forwards every client, and TRUSTED_PROXY_HOPS was left at 0:
    # every request reaches the app from 127.0.0.1
    app = make_app(METRICS_ENABLED=True)
    assert _get(app, "203.0.113.7").status_code == 403
    assert app.test_client().get("/metrics", environ_base=FORWARDED).status_code == 200
    with_token = make_app(METRICS_ENABLED=True, METRICS_TOKEN="scrape-secret")
    assert _get(with_token, "203.0.113.7", Authorization="Bearer scrape-secret").status_code == 200


def test_the_metrics_token_lets_a_scraper_in_from_anywhere_and_only_that_token(make_app):
    app = make_app(METRICS_ENABLED=True, TRUSTED_PROXY_HOPS=1, METRICS_TOKEN="scrape-secret")
    assert _get(app, "203.0.113.7", Authorization="Bearer scrape-secret").status_code == 200
    assert _get(app, "203.0.113.7", Authorization="Bearer wrong").status_code == 403
    assert _get(app, "203.0.113.7").status_code == 403


def test_a_malformed_allow_list_stops_the_app_at_start(make_app):
    with pytest.raises(ConfigError, match="METRICS_ALLOW"):
        make_app(METRICS_ENABLED=True, METRICS_ALLOW="127.0.0.1/8,localhost")


def _stale_counts(directory) -> None:
    """What a previous run left behind: 100 /readyz requests in a dead process's file."""
    code = (
        "from app.metrics import REQUEST_DURATION as r\n"
        "for _ in range(100): r.labels('/readyz', 'GET', '200').observe(0.01)\n"
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory), "PATH": ""}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def test_under_gunicorn_metrics_add_up_every_worker_including_recycled_ones(
    app, database_url, redis_url, tmp_path
):
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    _stale_counts(multiproc)
    server = LiveServer(
        database_url=database_url,
        redis_url=redis_url,
        workers=2,
        config_file=str(ROOT / "gunicorn.conf.py"),
        env={
            "METRICS_ENABLED": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
            # each worker is replaced after 4 requests: several processes serve the 20
            "GUNICORN_CMD_ARGS": "--max-requests 4 --max-requests-jitter 0",
        },
    ).start()
    try:
        for _ in range(20):
            with urllib.request.urlopen(server.url + "/readyz", timeout=5) as response:
                assert response.status == 200
        with urllib.request.urlopen(server.url + "/metrics", timeout=5) as response:
            samples = parse(response.read().decode())
    finally:
        server.stop()
    served_by = {path.stem.rsplit("_", 1)[-1] for path in multiproc.glob("histogram_*.db")}
    assert len(served_by) >= 3, served_by
    # then /metrics counts all 20, from live and exited workers, and none of the last run's
    key = (
        "checkout_http_request_duration_seconds_count",
        *sorted({"route": "/readyz", "method": "GET", "status": "200"}.items()),
    )
    assert samples[key] == 20
