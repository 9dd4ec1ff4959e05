"""Two-factor sign-in: enrolment (QR, recovery codes shown once), the code step, recovery
codes, the per-account lockout, and API tokens that stay separate credentials."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from app.auth import two_factor
from app.extensions import db
from app.models import AuditAction, AuditEvent, RecoveryCode, User, utcnow
from tests.support.auth import AuthActions
from tests.support.factory import PASSWORD, auth

STAFF_PAGE = "/staff/invoices"


@pytest.fixture
def app(make_app):
    return make_app(STAFF_REQUIRE_2FA=True)


def enrolled(app, user) -> tuple[str, list[str]]:
    """Turn on ``user``'s second factor directly: its secret and recovery codes."""
    secret = two_factor.new_secret()
    with app.app_context():
        codes = two_factor.enrol(user.id, secret, pyotp.TOTP(secret).now())
    return secret, codes


def password_step(app, user):
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    return client, response


def audit_count(app, action: AuditAction, user) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.actor_id == user.id)
        )


def test_a_staff_account_without_a_second_factor_is_sent_to_enrol_until_it_has(app, staff):
    # given a signed-in manager with no second factor while STAFF_REQUIRE_2FA is on
    client = AuthActions(app).client_for(staff)
    # when they open a staff page
    refused = client.get(STAFF_PAGE)
    # then they are sent to enrolment instead
    assert refused.status_code == 302
    assert refused.headers["Location"].endswith("/account/two-factor")
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page
    with client.session_transaction() as session:
        secret = session["totp_setup"]
    assert secret in page
    # a wrong code keeps the same secret and turns nothing on
    wrong = client.post("/account/two-factor", data={"code": "000000"})
    assert wrong.status_code == 422
    assert client.get(STAFF_PAGE).status_code == 302
    # the app's current code turns it on and shows ten recovery codes, once
    shown = client.post("/account/two-factor", data={"code": pyotp.TOTP(secret).now()})
    assert shown.status_code == 200
    codes = re.findall(
        r"<code>([a-z2-7]{4}(?:-[a-z2-7]{4}){3})</code>", shown.get_data(as_text=True)
    )
    assert len(codes) == 10
    assert client.get(STAFF_PAGE).status_code == 200
    again = client.get("/account/two-factor").get_data(as_text=True)
    assert not any(code in again for code in codes)
    # stored hashed: no code appears in the table
    with app.app_context():
        stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not {c.replace("-", "") for c in codes} & set(stored)
    assert audit_count(app, AuditAction.TWO_FACTOR_ENROLLED, staff) == 1


def test_without_the_requirement_staff_pages_open_without_enrolment(make_app):
    # given STAFF_REQUIRE_2FA off (the test default)
    app = make_app()
    from tests.support.factory import Factory

    manager = Factory(app).staff()
    # then the same page opens: the requirement alone sends staff to enrol
    assert AuthActions(app).client_for(manager).get(STAFF_PAGE).status_code == 200


def test_sign_in_asks_for_the_code_after_the_password_and_accepts_each_code_once(app, staff):
    secret, _ = enrolled(app, staff)
    # given the right password
    client, response = password_step(app, staff)
    # then the code is asked, and nobody is signed in yet
    assert response.headers["Location"].endswith("/login/code")
    assert client.get(STAFF_PAGE).status_code == 302
    assert "/login" in client.get(STAFF_PAGE).headers["Location"]
    # when the app's next code is typed
    code = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))
    done = client.post("/login/code", data={"code": code})
    # then they are signed in, and the sign-in is audited
    assert done.status_code == 302
    assert client.get(STAFF_PAGE).status_code == 200
    assert audit_count(app, AuditAction.SIGN_IN, staff) == 1
    # the same code cannot sign in a second browser (RFC 6238 section 5.2)
    other, _ = password_step(app, staff)
    assert other.post("/login/code", data={"code": code}).status_code == 422
    assert other.get(STAFF_PAGE).status_code == 302


def test_a_recovery_code_signs_in_once(app, staff):
    _, codes = enrolled(app, staff)
    first, _ = password_step(app, staff)
    assert first.post("/login/code", data={"code": codes[3].upper()}).status_code == 302
    assert first.get(STAFF_PAGE).status_code == 200
    second, _ = password_step(app, staff)
    assert second.post("/login/code", data={"code": codes[3]}).status_code == 422
    assert audit_count(app, AuditAction.RECOVERY_CODE_USED, staff) == 1


def test_wrong_codes_lock_the_account_whatever_the_browser_even_for_the_right_code(app, staff):
    secret, _ = enrolled(app, staff)
    limit = app.config["OTP_MAX_FAILURES"]
    # given limit - 1 wrong codes from several browsers (addresses do not matter)
    for n in range(limit - 1):
        client, _ = password_step(app, staff)
        assert client.post("/login/code", data={"code": f"{n:06d}"[-6:]}).status_code == 422
    # when the last allowed wrong code is sent
    client, _ = password_step(app, staff)
    locked = client.post("/login/code", data={"code": "999999"})
    # then the account refuses codes, even the right one
    assert locked.status_code == 429
    fresh, _ = password_step(app, staff)
    right = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))
    assert fresh.post("/login/code", data={"code": right}).status_code == 429
    assert fresh.get(STAFF_PAGE).status_code == 302
    assert audit_count(app, AuditAction.SECOND_FACTOR_FAILED, staff) == limit + 1
    # and once the lockout has passed, the right code works again
    with app.app_context():
        db.session.get(User, staff.id).otp_locked_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert fresh.post("/login/code", data={"code": right}).status_code == 302


def test_api_tokens_keep_working_for_a_staff_account_that_has_not_enrolled(
    app, staff, api, patient, consultation
):
    # given a staff account without a second factor while STAFF_REQUIRE_2FA is on
    payment_id = api.new_payment(patient, consultation)
    # then its operator-issued API token still reads payments (a separate credential)
    response = app.test_client().get(f"/api/v1/payments/{payment_id}", headers=auth(staff))
    assert response.status_code == 200


def test_a_patient_may_opt_in_and_then_signs_in_with_a_code(app, patient):
    secret, _ = enrolled(app, patient)
    client, response = password_step(app, patient)
    assert response.headers["Location"].endswith("/login/code")
    code = pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30))
    assert client.post("/login/code", data={"code": code}).status_code == 302
    assert client.get("/").status_code == 200


def test_a_stale_or_missing_pending_sign_in_goes_back_to_the_password(app):
    assert app.test_client().get("/login/code").headers["Location"].startswith("/login?")
