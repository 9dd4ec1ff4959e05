"""Staff pages a clinic works in all day: number search, history, refund that asks first,
landing, words for a logged-out 429, and the soft delete of a payment that moved no money."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.formatting import format_when
from app.models import Consultation, Invoice, Payment, PaymentEvent
from app.payments import lifecycle
from app.payments.errors import Forbidden, PaymentNotDeletable
from tests.support.auth import AuthActions
from tests.support.factory import PASSWORD
from tests.support.invariants import check_invariants
from tests.support.invoices import InvoiceSpec, add_invoices, rows
from tests.support.lifecycle import state

NOV = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def payment_id_of(number: str) -> int:
    return int(number.rsplit("-", 1)[1])


def refunded_when(app, payment_id: int) -> str:
    """When the payment's ``refunded`` event was written, as the pages write a time."""
    with app.test_request_context():
        event = db.session.scalars(
            select(PaymentEvent).where(
                PaymentEvent.payment_id == payment_id, PaymentEvent.event_type == "refunded"
            )
        ).one()
        return format_when(event.created_at)


@pytest.fixture
def clinic(app, factory):
    """Staff, a patient and five invoices: paid, paid, pending, void (expired), refunded."""
    staff = factory.staff(name="Clinic Staff")
    patient = factory.patient(name="Maria Santos", email="maria@example.test")
    numbers = add_invoices(
        app,
        patient,
        [
            InvoiceSpec(status="paid", fee="5000", method="gcash", issued_at=NOV),
            InvoiceSpec(status="paid", fee="1500", issued_at=NOV + timedelta(days=1, hours=3)),
            InvoiceSpec(status="pending", fee="2000", issued_at=NOV + timedelta(days=2)),
            InvoiceSpec(status="void", fee="1000", issued_at=NOV + timedelta(days=3)),
            InvoiceSpec(status="refunded", fee="3000", issued_at=NOV + timedelta(days=4)),
        ],
    )
    return staff, patient, numbers, AuthActions(app).client_for(staff)


# --- invoice number: a prefix or the trailing payment number, any case --------------------


def test_the_start_of_an_invoice_number_finds_it_in_any_case(clinic):
    _, _, numbers, client = clinic
    # INV-20261102120000-2: its first 12 characters, lower case, are shared by no other
    prefix = numbers[1][:14].lower()
    assert rows(client.get(f"/staff/invoices?number={prefix}")) == [numbers[1]]
    # all of November's start, in capitals, finds all five
    assert len(rows(client.get("/staff/invoices?number=INV-202611"))) == 5
    # quoted without its "INV-"
    assert rows(client.get(f"/staff/invoices?number={numbers[1][4:]}")) == [numbers[1]]
    # the whole number still finds exactly it
    assert rows(client.get(f"/staff/invoices?number={numbers[3].lower()}")) == [numbers[3]]


def test_the_trailing_payment_number_finds_its_invoice(clinic):
    _, _, numbers, client = clinic
    trailing = numbers[2].rsplit("-", 1)[1]
    assert rows(client.get(f"/staff/invoices?number={trailing}")) == [numbers[2]]
    assert rows(client.get(f"/staff/invoices?number=-{trailing}")) == [numbers[2]]
    assert rows(client.get("/staff/invoices?number=987654")) == []


def test_a_payment_number_out_of_range_is_a_clear_400(clinic):
    *_, client = clinic
    response = client.get("/staff/invoices?number=9999999999")
    assert response.status_code == 400
    assert "A payment number is from 1 to 2,147,483,647." in response.text


# --- history: one entry per finished search, only non-empty filters ---------------------


def test_typing_replaces_the_address_and_a_finished_search_adds_a_history_entry(clinic):
    *_, client = clinic
    hx = {"HX-Request": "true", "HX-Target": "invoice-results"}
    current = {"HX-Current-URL": "http://localhost/staff/invoices"}
    # while typing in a text box
    typing = client.get(
        "/staff/invoices?status=&patient=mar&number=",
        headers={**hx, **current, "X-Filter-Typing": "true"},
    )
    assert typing.headers["HX-Replace-Url"] == "/staff/invoices?patient=mar"
    assert "HX-Push-Url" not in typing.headers
    # a change (select, date, leaving the box) or a submit
    changed = client.get("/staff/invoices?status=paid&patient=mar", headers={**hx, **current})
    assert changed.headers["HX-Push-Url"] == "/staff/invoices?status=paid&patient=mar"
    # the same search again (Enter fires change and submit): no second entry
    again = client.get(
        "/staff/invoices?status=paid&patient=mar",
        headers={**hx, "HX-Current-URL": "http://localhost/staff/invoices?status=paid&patient=mar"},
    )
    assert again.headers["HX-Replace-Url"] == "/staff/invoices?status=paid&patient=mar"
    assert "HX-Push-Url" not in again.headers


def test_the_plain_form_s_empty_fields_are_dropped_from_the_address(clinic):
    *_, client = clinic
    response = client.get(
        "/staff/invoices?status=paid&method=&issued_from=&issued_to=&patient=&number="
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/invoices?status=paid"


def test_the_date_boxes_refuse_years_outside_what_the_server_accepts(clinic):
    *_, client = clinic
    html = client.get("/staff/invoices").text
    assert 'name="issued_from" min="2000-01-01" max="2999-12-31"' in html


# --- refund: ask first, without JavaScript, then do it ----------------------------------


def test_a_refund_asks_first_showing_amount_patient_and_method_then_does_it(app, clinic):
    _, _, numbers, client = clinic
    number = numbers[0]
    payment_id = payment_id_of(number)
    before = state(app, payment_id)
    # when staff press Refund on the invoice page
    asked = client.post(f"/staff/invoices/{number}/refund/confirm", data={"reason": "Ill"})
    assert asked.status_code == 303  # to the confirmation page, a GET a reload repeats safely
    asked = client.get(asked.headers["Location"])
    # then a confirmation page, and nothing has changed
    assert asked.status_code == 200
    assert state(app, payment_id) == before
    page = asked.text
    assert "<h1" in page and "Refund this payment?" in page
    assert "₱5,000.00" in page and "Maria Santos" in page and "GCash" in page
    button = re.search(r"<button[^>]*>[^<]*</button>", page.split('class="confirm-actions"')[1])
    assert button is not None and 'class="danger"' in button.group(0)
    assert "Refund ₱5,000.00 to Maria Santos" in button.group(0)
    assert f'action="/staff/invoices/{number}/refund"' in page
    assert 'name="reason" value="Ill"' in page
    assert "Cancel, keep the payment" in page
    # when they confirm
    done = client.post(f"/staff/invoices/{number}/refund", data={"reason": "Ill"})
    # then it is refunded, and the invoice sheet itself says when and by whom
    assert done.status_code == 303
    assert state(app, payment_id)["status"] == "refunded"
    sheet = client.get(f"/staff/invoices/{number}").text.split('class="card invoice-sheet"')[1]
    sheet = sheet.split("</article>")[0]
    # (the expected date is the refund's own, in clinic time, from the app's clock: any day)
    assert f"Refunded on {refunded_when(app, payment_id)} by Clinic Staff:" in sheet, sheet
    check_invariants(app)


def test_the_refund_form_is_a_destructive_button_not_an_unstyled_input(clinic):
    _, _, numbers, client = clinic
    html = client.get(f"/staff/invoices/{numbers[0]}").text
    form = html.split('action="/staff/invoices/', 1)[1].split("</form>", 1)[0]
    assert '<button type="submit" class="danger">Refund…</button>' in form
    assert 'type="submit"' not in form.replace('<button type="submit"', "")  # no <input> submit
    assert 'type="submit" class="primary"' not in form and 'input class="primary"' not in html


def test_confirming_a_refund_of_a_payment_that_is_not_paid_is_refused_in_words(app, clinic):
    _, _, numbers, client = clinic
    before = state(app, payment_id_of(numbers[2]))
    response = client.post(
        f"/staff/invoices/{numbers[2]}/refund/confirm", data={"reason": "x"}, follow_redirects=True
    )
    assert response.status_code == 409
    assert "This payment is pending and cannot be refunded." in response.text
    assert state(app, payment_id_of(numbers[2])) == before


def test_the_invoice_page_has_one_h1(clinic):
    _, _, numbers, client = clinic
    html = client.get(f"/staff/invoices/{numbers[0]}").text
    assert len(re.findall(r"<h1[ >]", html)) == 1
    # a paid invoice is headed by its sales invoice serial (the first sale: 000001)
    assert re.search(r"<h1 [^>]*>Sales invoice No. 000001</h1>", html)
    assert f"<dd>{numbers[0]}</dd>" in html  # the payment reference, a fact of the sheet


# --- landing ---------------------------------------------------------------------------


def test_staff_land_on_the_invoice_list_and_patients_on_their_consultations(app, factory):
    staff, patient = factory.staff(), factory.patient()
    client = app.test_client()
    response = client.post("/login", data={"email": staff.email, "password": PASSWORD})
    assert response.headers["Location"] == "/staff/invoices"
    assert client.get("/").headers["Location"] == "/staff/invoices"
    assert client.get("/login").headers["Location"] == "/staff/invoices"
    response = app.test_client().post("/login", data={"email": patient.email, "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_staff_viewing_a_patient_s_payment_get_a_link_to_its_invoice(app, clinic):
    staff, _, numbers, client = clinic
    html = client.get(f"/payments/{payment_id_of(numbers[0])}").text
    assert f'href="/staff/invoices/{numbers[0]}">Open invoice {numbers[0]}</a>' in html
    assert "Back to my consultations" not in html


def test_error_pages_offer_a_way_on_that_fits_who_is_reading(app, clinic):
    staff, patient, _, client = clinic
    assert "Back to the invoices" in client.get("/staff/invoices/INV-1-1").text
    patient_page = AuthActions(app).client_for(patient).get("/staff/invoices").text
    assert "Back to my consultations" in patient_page
    # the checkout's in-place refusal (htmx) too: staff do not pay, and go back to the invoices
    with app.app_context():
        consultation_id = db.session.scalar(select(Consultation.id).limit(1))
    fragment = client.post(
        f"/consultations/{consultation_id}/checkout", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 403, fragment.text
    assert "Back to the invoices" in fragment.text
    assert "Back to my consultations" not in fragment.text


def test_the_429_page_offers_a_logged_out_person_the_login(make_app, factory):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute")
    client = app.test_client()
    for _ in range(2):
        client.post("/login", data={"email": "someone@example.test", "password": "wrong"})
    response = client.post("/login", data={"email": "someone@example.test", "password": "x"})
    assert response.status_code == 429
    assert '<a href="/login">Log in</a>' in response.text
    assert "Back to my consultations" not in response.text


# --- soft delete: only what moved no money -----------------------------------------------


def test_staff_delete_a_payment_that_moved_no_money_and_it_leaves_lists_and_totals(app, clinic):
    staff, _, numbers, client = clinic
    void = numbers[3]
    payment_id = payment_id_of(void)
    # when staff delete the expired payment with a reason
    response = client.post(f"/staff/invoices/{void}/delete", data={"reason": "Test booking"})
    # then its rows stay, it has an event, and it left the list and the totals
    assert response.status_code == 303
    with app.app_context():
        payment = db.session.get(Payment, payment_id)
        assert payment.deleted_at is not None and payment.status == "expired"
        assert db.session.scalar(select(func.count()).where(Invoice.payment_id == payment_id))
        event = db.session.scalars(
            select(PaymentEvent).where(
                PaymentEvent.payment_id == payment_id, PaymentEvent.event_type == "deleted"
            )
        ).one()
        assert event.data["reason"] == "Test booking" and event.actor == f"user:{staff.id}"
        db.session.rollback()
    listed = client.get("/staff/invoices")
    assert void not in rows(listed) and len(rows(listed)) == 4
    assert 'data-total-count="4"' in listed.text
    assert '<span class="count">0</span> <span class="muted small">not collected' in listed.text
    assert void not in client.get("/staff/invoices.csv").text
    # and it shows again under the "deleted" filter, and its page says who and why
    assert rows(client.get("/staff/invoices?status=deleted")) == [void]
    page = client.get(f"/staff/invoices/{void}").text
    assert "Deleted on" in page and "by Clinic Staff" in page and "Test booking" in page
    assert "Deleted by staff (it moved no money)" in page  # the history
    check_invariants(app)


def test_deleting_asks_first_on_a_page_of_its_own_and_changes_nothing_until_confirmed(app, clinic):
    _, _, numbers, client = clinic
    void = numbers[3]
    payment_id = payment_id_of(void)
    before = state(app, payment_id)
    # the invoice's form asks for confirmation, not the deletion
    invoice_page = client.get(f"/staff/invoices/{void}").text
    assert f'action="/staff/invoices/{void}/delete/confirm"' in invoice_page
    asked = client.post(f"/staff/invoices/{void}/delete/confirm", data={"reason": "Test booking"})
    assert asked.status_code == 303
    assert asked.headers["Location"] == f"/staff/invoices/{void}/delete/confirm"
    # the confirmation page (a GET: reloading it changes nothing) says what, why, and warns
    for _ in range(2):
        page = client.get(asked.headers["Location"])
        assert page.status_code == 200
        assert "Delete this payment?" in page.text and "Nothing has been deleted yet." in page.text
        assert "Maria Santos" in page.text and "Test booking" in page.text
        assert "Warning:" in page.text and "cannot be put back" in page.text
        assert f'action="/staff/invoices/{void}/delete"' in page.text
    assert state(app, payment_id) == before
    with app.app_context():
        assert db.session.get(Payment, payment_id).deleted_at is None
        db.session.rollback()
    # its button deletes, then back to the invoice (post/redirect/get)
    done = client.post(f"/staff/invoices/{void}/delete", data={"reason": "Test booking"})
    assert done.status_code == 303 and done.headers["Location"] == f"/staff/invoices/{void}"
    with app.app_context():
        assert db.session.get(Payment, payment_id).deleted_at is not None
        db.session.rollback()
    # and the confirmation page, once done, leads back to the invoice
    assert client.get(f"/staff/invoices/{void}/delete/confirm").status_code == 302


def test_a_deletion_without_a_reason_is_summarised_at_the_top_and_nothing_changes(app, clinic):
    _, _, numbers, client = clinic
    void = numbers[3]
    before = state(app, payment_id_of(void))
    response = client.post(f"/staff/invoices/{void}/delete/confirm", data={"reason": " "})
    assert response.status_code == 303 and response.headers["Location"] == f"/staff/invoices/{void}"
    page = client.get(response.headers["Location"])
    assert page.status_code == 422
    summary = page.text.index("There is a problem")
    assert summary < page.text.index("<h1")
    assert (
        '<a href="#reason">Reason for deleting it: Give a reason: this one is empty or only spaces.</a>'
        in page.text
    )
    assert state(app, payment_id_of(void)) == before
    # shown once: a reload is the plain page
    assert client.get(f"/staff/invoices/{void}").status_code == 200


@pytest.mark.parametrize("index", [0, 2, 4], ids=["paid", "pending", "refunded"])
def test_asking_to_delete_a_payment_that_moved_money_is_refused_before_the_confirmation(
    app, clinic, index
):
    _, _, numbers, client = clinic
    response = client.post(
        f"/staff/invoices/{numbers[index]}/delete/confirm",
        data={"reason": "x"},
        follow_redirects=True,
    )
    assert response.status_code == 409
    assert "only a payment that moved no money (failed, expired or cancelled)" in response.text
    assert "Delete this payment?" not in response.text


@pytest.mark.parametrize("index", [0, 2, 4], ids=["paid", "pending", "refunded"])
def test_a_payment_that_moved_or_may_move_money_cannot_be_deleted(app, clinic, index):
    staff, _, numbers, client = clinic
    payment_id = payment_id_of(numbers[index])
    before = state(app, payment_id)
    # the page refuses in words
    response = client.post(
        f"/staff/invoices/{numbers[index]}/delete", data={"reason": "x"}, follow_redirects=True
    )
    assert response.status_code == 409
    assert "only a payment that moved no money (failed, expired or cancelled)" in response.text
    # and so does the service, for every interface
    with app.app_context(), pytest.raises(PaymentNotDeletable):
        lifecycle.delete(payment_id, "x", actor=staff)
    assert state(app, payment_id) == before
    with app.app_context():
        assert db.session.get(Payment, payment_id).deleted_at is None
        db.session.rollback()


def test_only_staff_may_delete_and_deleting_twice_changes_nothing(app, clinic):
    staff, patient, numbers, _ = clinic
    payment_id = payment_id_of(numbers[3])
    with app.app_context():
        with pytest.raises(Forbidden):
            lifecycle.delete(payment_id, "mine", actor=patient)
        assert lifecycle.delete(payment_id, "once", actor=staff).outcome == "deleted"
        assert lifecycle.delete(payment_id, "twice", actor=staff).outcome == "unchanged"
        count = db.session.scalar(
            select(func.count()).where(
                PaymentEvent.payment_id == payment_id, PaymentEvent.event_type == "deleted"
            )
        )
        db.session.rollback()
    assert count == 1


def test_money_arriving_for_a_deleted_payment_brings_it_back(app, clinic):
    staff, _, numbers, client = clinic
    payment_id = payment_id_of(numbers[3])
    with app.app_context():
        lifecycle.delete(payment_id, "abandoned", actor=staff)
        # the provider reports a late success: money is never dropped
        done = lifecycle.confirm(payment_id, transaction_id="txn_late_1", actor="gateway:sandbox")
        db.session.rollback()
    assert done.outcome == "confirmed"
    with app.app_context():
        assert db.session.get(Payment, payment_id).deleted_at is None
        db.session.rollback()
    assert numbers[3] in rows(client.get("/staff/invoices?status=paid"))
    check_invariants(app)
