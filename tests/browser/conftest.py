"""Playwright against the app in gunicorn, on PostgreSQL and Redis.

One server per test module (starting gunicorn costs a second or two); each
test makes its own patient and consultation, so tests sharing a server share
nothing else, and each checks the database for exactly one payment.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path

import pytest
import redis as redis_lib
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.models import Payment
from tests.conftest import base_config
from tests.support.axe import assert_accessible  # noqa: F401  (for the browser tests)
from tests.support.factory import PASSWORD, Factory
from tests.support.invariants import check_invariants
from tests.support.live import ROOT, LiveServer

ARTIFACTS = ROOT / "test-artifacts"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


def keep_for_docs(shot: Path, name: str | None = None) -> None:
    """With ``UPDATE_DOCS_SCREENSHOTS=1``, copy the screenshot ``shot`` into docs/screenshots/
    (as ``name``, else its own name): the copies the README and docs/ show."""
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOTS / (name or shot.name))


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, not a downloaded one."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def live_database_url(postgres):
    """Like ``database_url``, but for a module: a fresh copy of the migrated template."""
    name = f"b_{uuid.uuid4().hex[:12]}"
    url = postgres.create(name)
    yield url
    postgres.drop(name)


@pytest.fixture(scope="module")
def live_redis_url(redis_server):
    client = redis_lib.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="module")
def live_server(live_database_url, live_redis_url):
    server = LiveServer(
        database_url=live_database_url, redis_url=live_redis_url, workers=2, threads=4
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_app(live_database_url, live_redis_url):
    """The app on the server's database: for test data and for checking the database."""
    app = create_app(base_config(live_database_url, live_redis_url))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def factory(live_app):
    return Factory(live_app)


@pytest.fixture
def context(new_context, live_server):
    return new_context(base_url=live_server.url)


@pytest.fixture
def patient(factory):
    return factory.patient()


@pytest.fixture
def consultation(factory, patient):
    return factory.consultation(patient, fee="5000", doctor="Dr. Ana Cruz")


def log_in(page: Page, user) -> None:
    """Log in through the login page, as a patient would."""
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My consultations")).to_be_visible()


def checkout_path(consultation) -> str:
    return f"/consultations/{consultation.id}/checkout"


def open_checkout(page: Page, consultation, method: str = "GCash") -> None:
    page.goto(checkout_path(consultation))
    expect(
        page.get_by_role("heading", name=f"Consultation with {consultation.doctor_name}")
    ).to_be_visible()
    page.get_by_label(method).check()


def pay_button(page: Page):
    """The Pay button, which says what happens next and names the amount (₱5,000.00 here)."""
    return page.get_by_role("button", name=re.compile(r"^Continue to payment · ₱[\d,]+\.\d\d$"))


PROVIDER_URL = re.compile(r"/gateway/sandbox/\d+$")


def at_the_provider(page: Page, app, consultation) -> Payment:
    """Pay went straight to the provider's page for the consultation's one payment."""
    expect(page).to_have_url(PROVIDER_URL)
    payment = the_one_payment(app, consultation)
    assert page.url.endswith(f"/gateway/sandbox/{payment.id}")
    expect(page.get_by_text("SandboxPay").first).to_be_visible()
    return payment


def wait_until(page: Page, condition, what: str, timeout_s: float = 10.0) -> None:
    """Let Playwright deliver events (route handlers run then) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        page.wait_for_timeout(20)


def _the_only(app, consultation, *where, what: str) -> Payment:
    with app.app_context():
        found = (
            db.session.execute(
                select(Payment).where(Payment.consultation_id == consultation.id, *where)
            )
            .scalars()
            .all()
        )
        assert len(found) == 1, f"{len(found)} {what} for consultation {consultation.id}"
        db.session.expunge_all()
        db.session.rollback()
    check_invariants(app)
    return found[0]


def the_one_payment(app, consultation) -> Payment:
    """Exactly one payment exists for the consultation, and the invariants hold."""
    return _the_only(app, consultation, what="payments")


def the_one_active_payment(app, consultation) -> Payment:
    """Exactly one active payment for the consultation (others cancelled, say); invariants hold."""
    return _the_only(app, consultation, Payment.is_active, what="active payments")


def payment_count(app, consultation) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count())
            .select_from(Payment)
            .where(Payment.consultation_id == consultation.id)
        )
        db.session.rollback()
        return count
