"""The production gunicorn.conf.py: preloaded app, forked workers, each with its own pools."""

from __future__ import annotations

from tests.support.factory import Factory
from tests.support.invariants import check_invariants
from tests.support.live import ROOT, LiveServer
from tests.support.storm import (
    assert_many_keys_storm,
    assert_one_key_storm,
    http_storm,
)


def test_the_production_config_preloads_forks_and_still_makes_one_payment_per_storm(
    app, database_url, redis_url
):
    factory = Factory(app)
    patient = factory.patient()
    one, many = factory.consultation(patient), factory.consultation(patient)
    server = LiveServer(
        database_url=database_url,
        redis_url=redis_url,
        workers=2,
        config_file=str(ROOT / "gunicorn.conf.py"),
    ).start()
    try:
        assert len(server.worker_pids()) == 2
        assert_one_key_storm(http_storm([server.url], patient, one.id, lambda i: "k", n=20))
        assert_many_keys_storm(http_storm([server.url], patient, many.id, lambda i: f"k{i}", n=20))
        log = server.log_path.read_text()
        assert "Traceback" not in log
    finally:
        server.stop()
    assert check_invariants(app)["payments"] == 2
