"""Money the provider took after a cancel (the patient cancelled, paid again, then approved the
first payment in a tab still open): every staff page and export shows it as money taken, to
be refunded, with its transaction id; none offers to delete the payment."""

from __future__ import annotations

import csv
import io

import pytest

from app.books.figures import clinic_today
from app.extensions import db
from app.models import Invoice, User
from app.payments import lifecycle
from tests.support.auth import AuthActions

TXN = "sbx_txn_late"


@pytest.fixture
def manager(staff):
    """The suite's staff user: a manager."""
    return staff


@pytest.fixture
def manager_client(app, manager):
    return AuthActions(app).session_for(manager)


@pytest.fixture
def charged_after_cancel(app, api, factory, manager):
    """A ₱2,750.50 payment cancelled, paid again by a second payment, then approved at the
    provider: ``(first payment id, its invoice number)``."""
    patient = factory.patient(name="Jose Reyes")
    consultation = factory.consultation(patient, fee="2750.50")
    first = api.new_payment(patient, consultation, key="first")
    with app.app_context():
        lifecycle.cancel(first, user=db.session.get(User, patient.id))
    api.new_payment(patient, consultation, key="second")
    late = api.confirm(manager, first, transaction_id=TXN)
    assert late.status_code == 409, late.json  # recorded for staff to refund
    with app.app_context():
        number = db.session.query(Invoice).filter_by(payment_id=first).one().invoice_number
    return first, number


def test_the_invoice_shows_the_transaction_and_offers_no_delete(
    manager_client, charged_after_cancel
):
    _, number = charged_after_cancel
    page = manager_client.get(f"/staff/invoices/{number}").text
    assert f"<code>{TXN}</code>" in page
    assert "none yet" not in page.split("Transaction id", 1)[1].split("</dd>", 1)[0]
    assert "Delete this payment" not in page
    assert f"/staff/invoices/{number}/delete/confirm" not in page
    assert "None" not in page


def test_asking_to_delete_it_is_refused_before_the_confirmation(
    app, manager_client, charged_after_cancel
):
    first, number = charged_after_cancel
    asked = manager_client.post(
        f"/staff/invoices/{number}/delete/confirm", data={"reason": "Test booking"}
    )
    assert asked.status_code == 303
    assert asked.headers["Location"] == f"/staff/invoices/{number}"
    page = manager_client.get(asked.headers["Location"])
    assert page.status_code == 409
    assert "took money for payment" in page.text
    # nor can the confirmation page be opened
    confirm = manager_client.get(f"/staff/invoices/{number}/delete/confirm")
    assert confirm.status_code == 302


def _csv(answer) -> list[dict[str, str]]:
    assert answer.status_code == 200
    return list(csv.DictReader(io.StringIO(answer.data.decode("utf-8-sig"))))


def test_the_days_books_show_the_charge_to_refund(app, manager_client, charged_after_cancel):
    with app.app_context():
        today = clinic_today().isoformat()
    books = {
        (r["section"], r["item"]): r
        for r in _csv(manager_client.get(f"/staff/books.csv?day={today}"))
    }
    line = books[("charges_to_refund", "taken")]
    assert (line["count"], line["amount"]) == ("1", "2750.50")
    # it is no sale: the second payment is still pending, nothing was captured as a sale
    assert books[("sales", "net")]["amount"] == "0.00"
    page = manager_client.get(f"/staff/books?day={today}").text
    assert "Charges to refund" in page and "₱2,750.50" in page


def test_the_invoice_csv_names_the_charge_and_refunds(
    app, api, factory, manager, manager_client, charged_after_cancel
):
    _, number = charged_after_cancel
    patient = factory.patient()
    paid = api.new_payment(patient, factory.consultation(patient, fee="5000"))
    assert api.confirm(manager, paid, transaction_id="txn_partial").status_code == 200
    assert api.refund(manager, paid, amount="500.00").status_code == 200
    rows = {r["invoice_number"]: r for r in _csv(manager_client.get("/staff/invoices.csv"))}
    charged = rows[number]
    assert charged["invoice_status"] == "void"
    assert charged["transaction_id"] == TXN
    assert charged["charge_transaction_id"] == TXN
    assert charged["charges_to_refund"] == "2750.50"
    partly = next(r for r in rows.values() if r["transaction_id"] == "txn_partial")
    assert (partly["invoice_status"], partly["amount"]) == ("paid", "5000.00")
    assert (partly["refunded_amount"], partly["charges_to_refund"]) == ("500.00", "")
