"""The production gunicorn.conf.py: preloaded app, forked workers, each with its own pools."""

from __future__ import annotations

import urllib.request

from tests.support.factory import Factory
from tests.support.invariants import check_invariants
from tests.support.live import ROOT, LiveServer
from tests.support.storm import (
    assert_many_keys_storm,
    assert_one_key_storm,
    http_storm,
)


def production_server(database_url: str, redis_url: str, workers: int) -> LiveServer:
    return LiveServer(
        database_url=database_url,
        redis_url=redis_url,
        workers=workers,
        config_file=str(ROOT / "gunicorn.conf.py"),
    ).start()


def test_the_production_config_preloads_forks_and_still_makes_one_payment_per_storm(
    app, database_url, redis_url
):
    factory = Factory(app)
    patient = factory.patient()
    one, many = factory.consultation(patient), factory.consultation(patient)
    server = production_server(database_url, redis_url, workers=2)
    try:
        assert len(server.worker_pids()) == 2
        assert_one_key_storm(http_storm([server.url], patient, one.id, lambda i: "k", n=20))
        assert_many_keys_storm(http_storm([server.url], patient, many.id, lambda i: f"k{i}", n=20))
        log = server.log_path.read_text()
        assert "Traceback" not in log
    finally:
        server.stop()
    assert check_invariants(app)["payments"] == 2


def test_gunicorn_names_no_server_and_keeps_its_other_headers(database_url, redis_url):
    server = production_server(database_url, redis_url, workers=1)
    try:
        with urllib.request.urlopen(server.url + "/login") as answer:
            assert answer.status == 200
            assert answer.headers.get("Server") is None
            assert answer.headers.get("Date") and answer.headers.get("Connection")
    finally:
        server.stop()
