"""A new payment's rows are the same whichever insert path writes them.

PostgreSQL writes payment, tax record, invoice and "created" event in one statement
(``insert_records_at_once``, for speed); every other database in four inserts
(``insert_records_one_by_one``). Both run here on the same PostgreSQL, for two
consultations of one patient, and every column of every row they wrote must agree but
the ids that name the rows themselves.
"""

from __future__ import annotations

from sqlalchemy import select

from app.db import transaction
from app.models import Invoice, Payment, PaymentEvent, PaymentStatus, TaxRecord, utcnow
from app.payments.records import insert_records_at_once, insert_records_one_by_one
from app.payments.vat import current_vat

# Columns that name a row or the consultation it was written for: they differ by design.
OWN_IDS = {"id", "payment_id", "consultation_id"}


def _new_payment(patient_id: int, consultation_id: int, fee, now) -> Payment:
    return Payment(
        user_id=patient_id,
        consultation_id=consultation_id,
        amount=current_vat(fee).total,
        currency="PHP",
        payment_method="gcash",
        status=PaymentStatus.PENDING,
        version=1,
        idempotency_key_hash="k" * 64,
        created_at=now,
        updated_at=now,
    )


def _rows(session, payment_id: int) -> dict[str, list[dict]]:
    def plain(model, column):
        found = session.scalars(select(model).where(column == payment_id)).all()
        return [
            {c.key: getattr(row, c.key) for c in model.__table__.columns if c.key not in OWN_IDS}
            for row in found
        ]

    return {
        "payment": plain(Payment, Payment.id),
        "tax_record": plain(TaxRecord, TaxRecord.payment_id),
        "invoice": plain(Invoice, Invoice.payment_id),
        "events": plain(PaymentEvent, PaymentEvent.payment_id),
    }


def test_one_statement_and_four_inserts_write_the_same_rows(app, factory, patient):
    # given one patient's two consultations of the same fee, and one moment
    first, second = factory.consultation(patient), factory.consultation(patient)
    now = utcnow()
    with app.app_context():
        vat = current_vat(first.fee)
        # when each path writes a new payment
        with transaction() as session:
            at_once = _new_payment(patient.id, first.id, first.fee, now)
            at_once_invoice = insert_records_at_once(session, at_once, vat, actor="user:1")
            one_by_one = _new_payment(patient.id, second.id, second.fee, now)
            one_by_one_invoice = insert_records_one_by_one(session, one_by_one, vat, actor="user:1")
        # then every row holds the same values, but for the ids in the invoice number
        with transaction() as session:
            written = _rows(session, at_once.id)
            other = _rows(session, one_by_one.id)
    for kind in ("payment", "tax_record", "invoice", "events"):
        assert len(written[kind]) == len(other[kind]) == 1, kind
    assert written["invoice"][0].pop("reference").endswith(f"-{at_once.id}")
    assert other["invoice"][0].pop("reference").endswith(f"-{one_by_one.id}")
    assert written == other
    assert written["events"][0]["event_type"] == "created"
    # and what each returns is the invoice it wrote
    assert (at_once_invoice.payment_id, one_by_one_invoice.payment_id) == (
        at_once.id,
        one_by_one.id,
    )
