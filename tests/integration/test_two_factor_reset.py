"""A staff member who lost their phone: ``flask users reset-2fa EMAIL`` and the manager's
button on /staff/accounts forget the second factor, end the sessions and write one audit
row in the same transaction."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import func, select

from app.auth import two_factor
from app.extensions import db
from app.models import AuditAction, AuditEvent, RecoveryCode, User
from tests.support.auth import AuthActions

STAFF_PAGE = "/staff/invoices"


def enrol(app, user) -> None:
    secret = two_factor.new_secret()
    with app.app_context():
        assert two_factor.enrol(user.id, secret, pyotp.TOTP(secret).now())


def second_factor(app, user) -> tuple[str | None, int]:
    """(TOTP secret, recovery codes) of ``user``."""
    with app.app_context():
        secret = db.session.get(User, user.id).totp_secret
        codes = db.session.scalar(
            select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == user.id)
        )
        db.session.rollback()
    return secret, codes


def reset_rows(app, user) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == AuditAction.TWO_FACTOR_RESET)
        ).all()
        db.session.expunge_all()
    return [row for row in found if row.detail.get("account") == user.id]


def test_flask_users_reset_2fa_forgets_the_factor_ends_sessions_and_audits(app, factory, runner):
    cashier = factory.cashier(name="Ana Cashier")
    their_browser = AuthActions(app).client_for(cashier)
    enrol(app, cashier)
    assert second_factor(app, cashier)[0] is not None and second_factor(app, cashier)[1] > 0
    # when the operator resets it
    result = runner.invoke(args=["users", "reset-2fa", cashier.email.upper()])
    # then
    assert result.exit_code == 0, result.output
    assert "Two-factor sign-in reset" in result.output
    assert second_factor(app, cashier) == (None, 0)
    assert their_browser.get(STAFF_PAGE).status_code == 302  # signed out
    (row,) = reset_rows(app, cashier)
    assert row.actor_label == "system:cli" and row.detail["was_enrolled"] is True


def test_flask_users_reset_2fa_refuses_an_unknown_email_or_a_patient(app, patient, runner):
    assert runner.invoke(args=["users", "reset-2fa", "nobody@example.test"]).exit_code != 0
    refused = runner.invoke(args=["users", "reset-2fa", patient.email])
    assert refused.exit_code != 0 and "not a staff account" in refused.output


def test_a_manager_resets_a_cashier_s_second_factor_after_a_confirmation(app, factory, staff):
    cashier = factory.cashier(name="Ana Cashier")
    their_browser = AuthActions(app).client_for(cashier)
    enrol(app, cashier)
    manager = AuthActions(app).client_for(staff)
    # the accounts page links to a confirmation, which changes nothing
    listed = manager.get("/staff/accounts").text
    assert f'href="/staff/accounts/{cashier.id}/reset-2fa"' in listed
    page = manager.get(f"/staff/accounts/{cashier.id}/reset-2fa")
    assert page.status_code == 200
    assert "Reset two-factor sign-in of Ana Cashier?" in page.text and "Warning:" in page.text
    assert second_factor(app, cashier)[0] is not None
    # its button resets, writes the audit row, and goes back to the list
    # (CSRF is off in these tests; tests/integration/test_access.py checks it on this route)
    assert 'name="csrf_token"' in page.text
    done = manager.post(f"/staff/accounts/{cashier.id}/reset-2fa")
    assert done.status_code == 303 and done.headers["Location"] == "/staff/accounts"
    assert second_factor(app, cashier) == (None, 0)
    assert their_browser.get(STAFF_PAGE).status_code == 302
    (row,) = reset_rows(app, cashier)
    assert row.actor_id == staff.id
    assert "Two-factor sign-in reset for Ana Cashier" in manager.get("/staff/accounts").text


@pytest.mark.parametrize("case", ["patient", "missing"])
def test_only_a_staff_account_s_second_factor_can_be_reset_from_the_page(app, staff, patient, case):
    manager = AuthActions(app).client_for(staff)
    user_id = patient.id if case == "patient" else 2**31 - 1
    assert manager.get(f"/staff/accounts/{user_id}/reset-2fa").status_code == 404
    assert manager.post(f"/staff/accounts/{user_id}/reset-2fa").status_code == 404
    assert reset_rows(app, patient) == []
