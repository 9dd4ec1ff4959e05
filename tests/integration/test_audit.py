"""The audit trail: one row per staff view, export, refund and sign-in, written in the
action's own transaction; the manager's page and one patient's CSV."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from app.extensions import db
from app.models import AuditAction, AuditEvent
from app.payments import refunds
from tests.support.auth import AuthActions
from tests.support.factory import PASSWORD
from tests.support.lifecycle import state


def rows(app, action: AuditAction | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        found = list(db.session.scalars(query))
        db.session.expunge_all()
        return found


def test_a_refund_writes_exactly_one_audit_row_naming_who_whose_and_from_where(app, paid, staff):
    # given a completed payment and a signed-in manager
    payment_id, number, staff_client, patient = paid
    # when they refund it
    response = staff_client.post(
        f"/staff/invoices/{number}/refund",
        data={"reason": "Doctor unavailable"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    # then one row says who refunded whose payment, from which address
    assert response.status_code == 303
    (row,) = rows(app, AuditAction.REFUNDED)
    assert row.payment_id == payment_id
    assert row.patient_id == patient.id
    assert row.actor_label.startswith("user:") and row.actor_id is not None
    assert row.address == "192.0.2.7"
    assert row.detail["reason"] == "Doctor unavailable"
    # and refunding again adds no second row
    staff_client.post(f"/staff/invoices/{number}/refund", data={"reason": "again"})
    assert len(rows(app, AuditAction.REFUNDED)) == 1


def test_a_refund_that_fails_after_its_audit_row_leaves_neither(app, paid, monkeypatch):
    # given a refund whose transaction fails after every row was added
    payment_id, number, staff_client, _ = paid

    def fail(session, payment, outcome):
        raise RuntimeError("the database went away before commit")

    monkeypatch.setattr(refunds, "snapshot", fail)
    # when it is attempted
    failed = staff_client.post(f"/staff/invoices/{number}/refund", data={"reason": "x"})
    assert failed.status_code == 500
    # then no "refunded" row exists, and the payment is still completed
    assert rows(app, AuditAction.REFUNDED) == []
    assert state(app, payment_id)["status"] == "completed"


def test_a_cashier_cannot_refund_and_leaves_no_refunded_row(app, paid, factory):
    payment_id, number, _, _ = paid
    cashier = AuthActions(app).client_for(factory.cashier())
    response = cashier.post(f"/staff/invoices/{number}/refund", data={"reason": "x"})
    assert response.status_code == 403
    assert rows(app, AuditAction.REFUNDED) == []
    assert state(app, payment_id)["status"] == "completed"


def test_each_staff_view_of_an_invoice_is_one_row_from_the_forwarded_client_address(
    make_app, factory
):
    # given one trusted proxy in front of the app
    app = make_app(TRUSTED_PROXY_HOPS=1)
    from tests.support.api import ApiClient
    from tests.support.factory import Factory
    from tests.support.invoices import invoice_number_of

    maker = Factory(app)
    patient, cashier, manager = maker.patient(), maker.cashier(), maker.staff()
    payment_id = ApiClient(app).new_payment(patient, maker.consultation(patient))
    number = invoice_number_of(app, payment_id)
    client = AuthActions(app).client_for(cashier)
    # when the cashier opens the invoice twice through the proxy
    for _ in range(2):
        page = client.get(
            f"/staff/invoices/{number}",
            headers={"X-Forwarded-For": "198.51.100.9"},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        )
        assert page.status_code == 200
    # then two rows name the cashier, the patient, the payment and the client's address
    viewed = rows(app, AuditAction.INVOICE_VIEWED)
    assert [(r.actor_id, r.patient_id, r.payment_id) for r in viewed] == [
        (cashier.id, patient.id, payment_id)
    ] * 2
    assert {r.address for r in viewed} == {"198.51.100.9"}
    # and the manager's page lists them; the patient's CSV says who saw their data
    manager_client = AuthActions(app).client_for(manager)
    trail = manager_client.get("/staff/audit?action=invoice.viewed")
    assert trail.status_code == 200
    assert trail.text.count("<td>Opened an invoice") == 2
    download = manager_client.get(f"/staff/audit/patients/{patient.id}.csv")
    lines = list(csv.DictReader(io.StringIO(download.text)))
    # (the download is itself a look at the patient's data, and the last line)
    assert [(line["who"], line["action"]) for line in lines] == [
        (cashier.name, "invoice.viewed"),
        (cashier.name, "invoice.viewed"),
        (manager.name, "audit.exported"),
    ]
    assert len(rows(app, AuditAction.AUDIT_EXPORTED)) == 1


def test_an_export_records_its_filter_and_row_count(app, paid, factory):
    _, _, staff_client, _ = paid
    response = staff_client.get("/staff/invoices.csv?status=paid")
    assert response.status_code == 200
    exported = len(response.text.strip().splitlines()) - 1
    (row,) = rows(app, AuditAction.INVOICES_EXPORTED)
    assert row.detail == {"filter": {"status": "paid"}, "rows": exported}
    assert exported == 1


def test_sign_in_failures_and_successes_are_rows(app, factory):
    cashier = factory.cashier()
    client = app.test_client()
    client.post("/login", data={"email": cashier.email, "password": "wrong-password"})
    client.post("/login", data={"email": "nobody@example.test", "password": "wrong-password"})
    client.post("/login", data={"email": cashier.email, "password": PASSWORD})
    failed = rows(app, AuditAction.SIGN_IN_FAILED)
    assert [r.actor_id for r in failed] == [cashier.id, None]
    assert failed[1].actor_label.startswith("email:")
    assert "nobody" not in failed[1].actor_label
    assert [r.actor_id for r in rows(app, AuditAction.SIGN_IN)] == [cashier.id]


def test_the_audit_filter_refuses_bad_values_with_400_and_a_cashier_with_403(app, paid, factory):
    _, _, manager_client, _ = paid
    for query in ("action=nope", "patient=abc", "since=2026-13-01", "actor=-1"):
        assert manager_client.get(f"/staff/audit?{query}").status_code == 400
    cashier = AuthActions(app).client_for(factory.cashier())
    assert cashier.get("/staff/audit").status_code == 403
    assert manager_client.get("/staff/audit/patients/2147483647.csv").status_code == 404
