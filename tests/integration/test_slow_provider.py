"""A slow provider holds no worker per press: while the first press's hosted checkout is being
created at PayMongo (the loopback fake answering ``create_latency`` seconds late), every other
press on the same consultation is answered at once from the claim and calls nobody; the
patient's page then moves on to the one checkout by itself.

Real PostgreSQL, Redis and gunicorn; only PayMongo is the fake.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.checkout import (
    PAYMENT_LINK,
    open_form,
    payment_row,
    payments_for,
    submit,
)
from tests.support.factory import Factory
from tests.support.live import LiveServer
from tests.support.paymongo_fake import SECRET_KEY, WEBHOOK_SECRET, PayMongoFake
from tests.support.storm import pay_over_http, storm

SESSIONS = "/v1/checkout_sessions"
#: The provider's create takes this long. Every other press must be answered before it ends
#: (a press that waited for the create, or made one itself, cannot be): long enough that a
#: busy CI machine answers 40 presses inside it.
CREATE_SECONDS = 4.0
PRESSES = 40


@pytest.fixture
def slow_fake():
    fake = PayMongoFake(create_latency=CREATE_SECONDS).start()
    yield fake
    fake.stop()


def _paymongo(fake: PayMongoFake) -> dict[str, str]:
    return {
        "PAYMENT_PROVIDER": "paymongo",
        "PAYMONGO_SECRET_KEY": SECRET_KEY,
        "PAYMONGO_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PAYMONGO_API_URL": fake.base_url,
        # Longer than the slow create: this is a slow provider, not a dead one.
        "PAYMONGO_TIMEOUT_SECONDS": "10",
    }


@pytest.fixture
def app(make_app, slow_fake):
    return make_app(**{**_paymongo(slow_fake), "PAYMONGO_TIMEOUT_SECONDS": 10.0})


def _wait_for_create(fake: PayMongoFake, after: int = 0) -> None:
    """Until the fake has received its next session create (``after`` were made before)."""
    deadline = time.monotonic() + 10
    while fake.calls("POST", SESSIONS) == after:
        assert time.monotonic() < deadline, "the first press never asked PayMongo"
        time.sleep(0.01)


def test_a_storm_over_gunicorn_during_a_slow_create_calls_paymongo_once_and_answers_at_once(
    app, database_url, redis_url, slow_fake
):
    factory = Factory(app)
    patient = factory.patient()
    consultation = factory.consultation(patient)
    # 2 × 4 threads for 40 presses: presses that waited for the create would queue behind it.
    server = LiveServer(
        database_url=database_url,
        redis_url=redis_url,
        workers=2,
        threads=4,
        env=_paymongo(slow_fake),
    ).start()
    try:
        # Every worker imports, connects and compiles first (one slow create each, at once).
        others = [factory.consultation(patient) for _ in range(4)]
        storm(4, lambda i: pay_over_http(server.url, patient, others[i].id, key=f"warm-{i}"))

        # The first press starts the slow create; the storm arrives while it is in flight.
        first: list = []
        creator = threading.Thread(
            target=lambda: first.append(
                pay_over_http(server.url, patient, consultation.id, key="one-press")
            )
        )
        creator.start()
        _wait_for_create(slow_fake, after=4)

        def press(i: int):
            # The client's retries of that press (its key) and other tabs (keys of their own).
            key = "one-press" if i % 2 else f"tab-{i}"
            answer = pay_over_http(server.url, patient, consultation.id, key=key)
            return answer, time.monotonic()

        answers = storm(PRESSES, press)
        creator.join(30)
        [winner] = first
        create_answered = slow_fake.creates_answered_at[-1]
        assert winner.status == 201 and "Link" in winner.headers
        statuses = {a.status for a, _ in answers}
        # Retries of the key: "being prepared, repeat in a second"; other keys: "already started".
        assert statuses == {409, 503}, statuses
        assert all(a.headers["Retry-After"] == "1" for a, _ in answers if a.status == 503)
        assert not any("Link" in a.headers for a, _ in answers)
        last = max(t for _, t in answers)
        assert last < create_answered, f"a press waited {last - create_answered:.2f} s past it"
        assert slow_fake.calls("POST", SESSIONS) == 4 + 1
        # A repeat of the key a second later links the same, one checkout.
        again = pay_over_http(server.url, patient, consultation.id, key="one-press")
        assert again.status == 201
        assert again.headers["Link"] == winner.headers["Link"]
        assert slow_fake.calls("POST", SESSIONS) == 4 + 1
        [payment] = payments_for(app, consultation)
        stored = payment_row(app, payment.id).checkout_url
        assert PAYMENT_LINK.match(again.headers["Link"])["url"] == stored
    finally:
        server.stop()


def test_presses_during_a_slow_create_get_the_preparing_page_which_moves_on_by_itself(
    app, auth_actions, patient, consultation, slow_fake
):
    tab = auth_actions.session_for(patient)
    fields = open_form(tab, consultation)
    first: list = []
    creator = threading.Thread(
        target=lambda: first.append(submit(tab, consultation, fields, method="gcash"))
    )
    creator.start()
    _wait_for_create(slow_fake)
    presses = storm(10, lambda i: submit(tab, consultation, fields, method="gcash"))
    assert not slow_fake.creates_answered_at, "the presses were answered only after the create"
    [payment] = payments_for(app, consultation)
    preparing = f"/payments/{payment.id}/continue"
    assert {p.status_code for p in presses} == {303}
    assert {p.headers["Location"] for p in presses} == {preparing}
    page = tab.get(preparing)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Your payment page is being prepared" in text
    assert f'hx-get="{preparing}"' in text and 'hx-trigger="every 1s"' in text
    indonesian = tab.get(preparing, headers={"Accept-Language": "id"}).get_data(as_text=True)
    assert "Halaman pembayaran Anda sedang disiapkan" in indonesian
    # The page's poll: nothing to do yet (204), then straight to the one checkout.
    poll = {"HX-Request": "true"}
    assert tab.get(preparing, headers=poll).status_code == 204
    creator.join(10)
    stored = payment_row(app, payment.id).checkout_url
    assert first[0].headers["Location"] == stored
    moved = tab.get(preparing, headers=poll)
    assert moved.status_code == 200 and moved.headers["HX-Redirect"] == stored
    assert slow_fake.calls("POST", SESSIONS) == 1
