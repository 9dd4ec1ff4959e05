"""Redis behind Sentinel: a real master, replica and sentinel; the master fails over mid-storm.

The cache, the ``redis_lock`` guard and the rate limiter all reach Redis through the one
``redis+sentinel://`` URL; PostgreSQL keeps the guarantee while Redis changes hands.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import redis as redis_lib

from tests.support.api import ApiClient
from tests.support.factory import Factory
from tests.support.invariants import check_invariants
from tests.support.services import RedisSentinelGroup
from tests.support.storm import storm

THREADS = 20
DEADLINE_SECONDS = 30  # the loop below ends at the latest then, failover or not


@pytest.fixture
def sentinel_group():
    group = RedisSentinelGroup().start()
    yield group
    group.stop()


def _pay(app, patient, consultation_id, key):
    response = ApiClient(app).pay(patient, consultation_id, key=key)
    return response.status_code, response.get_json() or {}


@pytest.mark.parametrize("guard", ["hybrid", "redis_lock"])
def test_a_master_failover_mid_storm_keeps_one_payment_and_the_app_follows_the_new_master(
    make_app, sentinel_group, guard
):
    # given the app on Sentinel, with every Redis use on: cache, lock guard, rate limits
    app = make_app(
        REDIS_URL=sentinel_group.url,
        PAYMENT_GUARD=guard,
        RATELIMIT_ENABLED=True,
        RATELIMIT_PAYMENTS="100000 per minute",
    )
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    old_master = sentinel_group.master_port()
    assert _pay(app, patient, factory.consultation(patient).id, "warm-up")[0] == 201
    stop = threading.Event()

    def fail_over_then_stop():
        sentinel_group.master.stop()  # the master's host goes away
        sentinel_group.wait_for_new_master()
        time.sleep(1.0)  # and keep paying a while on the new master
        stop.set()

    # when patients keep pressing Pay (half with one key, half with fresh keys) while the
    # master fails over
    def presses(i):
        if i == 0:
            threading.Thread(target=fail_over_then_stop).start()
        answers = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not stop.is_set() and time.monotonic() < deadline:
            key = "one-key" if i % 2 else f"key-{i}-{len(answers)}"
            answers.append((key, *_pay(app, patient, consultation.id, key)))
            time.sleep(0.05)
        return answers

    answers = [a for per_thread in storm(THREADS, presses) for a in per_thread]
    assert stop.is_set(), "the failover did not finish within the deadline"
    # then every answer was a 201 or a 409, and there is one payment
    statuses = Counter(status for _, status, _ in answers)
    assert set(statuses) <= {201, 409}, statuses
    paid = {body["data"]["payment"]["id"] for _, s, body in answers if s == 201}
    assert len(paid) == 1
    # the repeated key got one answer, again and again (created or conflict, never both)
    assert len({s for key, s, _ in answers if key == "one-key"}) == 1
    assert sum(1 for key, _, _ in answers if key == "one-key") > THREADS // 2
    counts = check_invariants(app)
    assert counts["payments"] == 2  # the warm-up's and this consultation's
    # and afterwards the app writes to the promoted replica, not the old master
    new_master = sentinel_group.master_port()
    assert new_master != old_master
    time.sleep(2.5)  # past the skip window that follows a Redis failure

    def sets_on_new_master() -> int:
        stats = redis_lib.Redis(port=new_master).info("commandstats")
        return stats.get("cmdstat_set", {}).get("calls", 0)

    before = sets_on_new_master()
    # the cache's SET ... EX (hybrid) or the lock's SET ... NX PX (redis_lock)
    assert _pay(app, patient, factory.consultation(patient).id, "after-failover")[0] == 201
    assert sets_on_new_master() > before
    print(
        f"sentinel failover storm ({guard}): {len(answers)} requests, {dict(statuses)}, 1 payment"
    )
