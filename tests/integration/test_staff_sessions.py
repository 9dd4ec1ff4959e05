"""Staff sessions end after STAFF_IDLE_MINUTES without a request and STAFF_MAX_SESSION_HOURS
after sign-in; patients' sessions are not timed."""

from __future__ import annotations

import time

from app.auth.sign_in import SEEN_AT, SIGNED_IN_AT
from tests.support.auth import AuthActions

STAFF_PAGE = "/staff/invoices"


def shift(client, key: str, seconds_ago: int) -> None:
    with client.session_transaction() as session:
        session[key] = int(time.time()) - seconds_ago


def test_a_staff_session_idle_past_the_limit_is_ended(app, staff):
    client = AuthActions(app).client_for(staff)
    idle = app.config["STAFF_IDLE_MINUTES"] * 60
    # a request just inside the limit keeps it going, and counts as activity
    shift(client, SEEN_AT, idle - 5)
    assert client.get(STAFF_PAGE).status_code == 200
    with client.session_transaction() as session:
        assert time.time() - session[SEEN_AT] < 5
    # past the limit the next request is anonymous
    shift(client, SEEN_AT, idle + 1)
    ended = client.get(STAFF_PAGE)
    assert ended.status_code == 302 and "/login" in ended.headers["Location"]
    assert client.get(STAFF_PAGE).status_code == 302


def test_a_busy_staff_session_still_ends_hours_after_sign_in(app, staff):
    client = AuthActions(app).client_for(staff)
    shift(client, SIGNED_IN_AT, app.config["STAFF_MAX_SESSION_HOURS"] * 3600 + 1)
    ended = client.get(STAFF_PAGE)
    assert ended.status_code == 302 and "/login" in ended.headers["Location"]


def test_a_staff_session_made_without_the_clock_starts_it_on_its_first_staff_page(app, staff):
    client = AuthActions(app).session_for(staff)
    assert client.get(STAFF_PAGE).status_code == 200
    shift(client, SEEN_AT, app.config["STAFF_IDLE_MINUTES"] * 60 + 1)
    assert client.get(STAFF_PAGE).status_code == 302


def test_a_patients_session_is_not_timed(app, patient):
    client = AuthActions(app).client_for(patient)
    shift(client, SEEN_AT, 10 * 3600)
    shift(client, SIGNED_IN_AT, 30 * 3600)
    assert client.get("/").status_code == 200
