"""Staff accounts: the manager's page, `flask users create --role`, disabling, and the
migration that makes existing staff accounts managers (PostgreSQL and SQLite)."""

from __future__ import annotations

import uuid

import pyotp
import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from app import create_app
from app.auth import two_factor
from app.config import ROOT
from app.extensions import db
from app.models import User
from tests.conftest import base_config
from tests.support.auth import AuthActions
from tests.support.factory import PASSWORD, auth

MIGRATIONS = str(ROOT / "migrations")
NEW = {"name": "Ana Cashier", "email": "Ana@Clinic.test", "role": "cashier", "password": PASSWORD}


def user_by_email(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def test_a_manager_creates_a_cashier_who_can_sign_in_but_not_refund(app, staff):
    manager = AuthActions(app).client_for(staff)
    created = manager.post("/staff/accounts", data=NEW)
    assert created.status_code == 303
    cashier = user_by_email(app, "ana@clinic.test")
    assert cashier.role == "cashier" and cashier.is_active
    assert "Ana Cashier" in manager.get("/staff/accounts").text
    # the same email again is refused in the page and creates nothing
    again = manager.post("/staff/accounts", data=NEW)
    assert again.status_code == 422
    assert "already exists" in again.text


@pytest.mark.parametrize(
    ("field", "value"),
    [("role", "patient"), ("role", "staff"), ("email", "no-at-sign"), ("password", "short")],
)
def test_bad_account_fields_are_refused_with_422_and_create_nothing(app, staff, field, value):
    manager = AuthActions(app).client_for(staff)
    response = manager.post("/staff/accounts", data={**NEW, field: value})
    assert response.status_code == 422
    assert user_by_email(app, "ana@clinic.test") is None


def test_disabling_ends_the_accounts_sessions_and_api_token_at_once(app, staff, factory):
    cashier = factory.cashier()
    their_browser = AuthActions(app).client_for(cashier)
    assert their_browser.get("/staff/invoices").status_code == 200
    assert app.test_client().get("/api/v1/payments/1", headers=auth(cashier)).status_code == 404
    manager = AuthActions(app).client_for(staff)
    assert manager.post(f"/staff/accounts/{cashier.id}/disable").status_code == 303
    assert their_browser.get("/staff/invoices").status_code == 302
    assert app.test_client().get("/api/v1/payments/1", headers=auth(cashier)).status_code == 401
    assert AuthActions(app).attempt(app.test_client(), cashier.email).status_code == 200
    # a manager cannot disable themselves, nor a patient's account
    assert manager.post(f"/staff/accounts/{staff.id}/disable").status_code == 303
    assert user_by_email(app, staff.email).is_active
    patient = factory.patient()
    assert manager.post(f"/staff/accounts/{patient.id}/disable").status_code == 404


def test_flask_users_create_takes_the_staff_roles(app, runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "m@clinic.test",
            "--password",
            PASSWORD,
            "--role",
            "manager",
        ]
    )
    assert result.exit_code == 0, result.output
    assert user_by_email(app, "m@clinic.test").role == "manager"
    refused = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "s@clinic.test",
            "--password",
            PASSWORD,
            "--role",
            "staff",
        ]
    )
    assert refused.exit_code != 0
    assert user_by_email(app, "s@clinic.test") is None


@pytest.fixture(params=["postgresql", "sqlite"])
def database_at_0010(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    postgres = request.getfixturevalue("postgres")
    name = f"m_{uuid.uuid4().hex[:12]}"
    yield postgres.create(name, template=None)
    postgres.drop(name)


def test_the_migration_makes_staff_accounts_managers_and_back(database_at_0010):
    app = create_app(base_config(database_at_0010, None))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0010_payments_hosted_checkout")
        db.session.execute(
            text(
                "INSERT INTO users (email, name, password_hash, role, session_token, created_at) "
                "VALUES ('s@x.test', 'S', 'x', 'staff', 'tok-s', CURRENT_TIMESTAMP), "
                "('p@x.test', 'P', 'x', 'patient', 'tok-p', CURRENT_TIMESTAMP)"
            )
        )
        db.session.commit()
        upgrade(directory=MIGRATIONS, revision="0013_staff_roles_2fa_audit")
        roles = dict(db.session.execute(text("SELECT email, role FROM users")).all())
        assert roles == {"s@x.test": "manager", "p@x.test": "patient"}
        # the new CHECK refuses the old role and takes the new ones
        with pytest.raises(Exception, match="ck_users_role|CHECK"):
            db.session.execute(text("UPDATE users SET role = 'staff'"))
        db.session.rollback()
        db.session.execute(text("UPDATE users SET role = 'cashier' WHERE email = 'p@x.test'"))
        db.session.commit()
        downgrade(directory=MIGRATIONS, revision="0010_payments_hosted_checkout")
        roles = dict(db.session.execute(text("SELECT email, role FROM users")).all())
        assert roles == {"s@x.test": "staff", "p@x.test": "staff"}
        db.engine.dispose()


@pytest.mark.parametrize(
    ("locale", "manager_word", "cashier_word"),
    [("en", "Manager", "Cashier"), ("id", "Manajer", "Kasir"), ("fil", "Manager", "Kahera")],
)
def test_the_staff_header_names_the_person_and_their_role_in_words(
    app, factory, locale, manager_word, cashier_word
):
    manager = factory.staff(name="Clinic Staff")
    cashier = factory.cashier(name="Ana Cashier")
    for user, word in ((manager, manager_word), (cashier, cashier_word)):
        page = (
            AuthActions(app)
            .client_for(user)
            .get("/staff/attention", headers={"Accept-Language": locale})
            .text
        )
        who = page.split('<span class="who">', 1)[1].split("</span></span>", 1)[0]
        assert who == f'{user.name} <span class="muted">· {word}'
        assert f"{user.name} (" not in page


STAFF_PAGES = ("/staff/invoices", "/staff/attention", "/staff/accounts", "/staff/audit")
PATIENT_SENTENCES = ("Thank you", "quote your invoice number", "Your payment", "your consultation")


def test_staff_pages_carry_no_patient_wording(app, staff):
    client = AuthActions(app).client_for(staff)
    for page in STAFF_PAGES:
        text = client.get(page).text
        for sentence in PATIENT_SENTENCES:
            assert sentence.lower() not in text.lower(), (page, sentence)


@pytest.mark.parametrize("required", [True, False])
def test_creating_an_account_says_what_its_first_sign_in_will_ask(make_app, factory, required):
    # given a server that does, or does not, require staff two-factor sign-in
    app = make_app(STAFF_REQUIRE_2FA=required)
    manager = factory.staff()
    if required:
        with app.app_context():
            secret = two_factor.new_secret()
            two_factor.enrol(manager.id, secret, pyotp.TOTP(secret).now())
    client = AuthActions(app).session_for(manager)
    # when a manager opens the form and creates a cashier
    form = client.get("/staff/accounts").text
    created = client.post("/staff/accounts", data=NEW, follow_redirects=True).text
    # then both say what the cashier's first sign-in will really ask
    promise = "they must set up two-factor sign-in"
    assert (promise in form) is required and (promise in created) is required
    assert ("does not require two-factor sign-in" in created) is not required
    # and the new cashier gets in exactly as said
    cashier = AuthActions(app).client_for(user_by_email(app, "ana@clinic.test"))
    page = cashier.get("/staff/invoices")
    assert page.status_code == (302 if required else 200)
