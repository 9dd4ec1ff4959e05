"""One rule for "an abandoned pending payment", read the same by every caller.

``Payment.is_stale_pending`` is the rule; the checkout (``lifecycle.is_stale``), the
expiry run (``lifecycle.expire_stale``) and the staff attention page all use it. If one of
them spelled it again and drifted (forgot the soft-deleted rows, or the status), the sets
below would differ.
"""

from __future__ import annotations

from sqlalchemy import select, update

from app.extensions import db
from app.invoices.attention import needs_attention
from app.models import Payment, utcnow
from app.payments import lifecycle
from tests.support.lifecycle import age_payment

OLD = 31 * 60  # older than the default PAYMENT_PENDING_TTL of 30 minutes


def test_checkout_expiry_and_the_attention_page_agree_on_which_payments_are_stale(
    app, api, factory, patient, staff
):
    # given one payment of each kind that the rule must tell apart
    def made(age: int) -> int:
        payment_id = api.new_payment(patient, factory.consultation(patient))
        age_payment(app, payment_id, age)
        return payment_id

    stale, fresh, deleted, paid = made(OLD), made(60), made(OLD), made(OLD)
    assert api.confirm(staff, paid, transaction_id="txn_paid").status_code == 200
    age_payment(app, paid, OLD)
    with app.app_context():
        # A legacy row: the lifecycle never soft-deletes a pending payment, older data may.
        db.session.execute(update(Payment).where(Payment.id == deleted).values(deleted_at=utcnow()))
        db.session.commit()
    with app.app_context():
        # when each caller says which payments are stale
        cutoff = lifecycle.stale_cutoff()
        by_sql = set(db.session.scalars(select(Payment.id).where(Payment.is_stale_pending(cutoff))))
        by_checkout = {p.id for p in db.session.scalars(select(Payment)) if lifecycle.is_stale(p)}
        ttl = app.config["PAYMENT_PENDING_TTL"]
        on_the_page = {row.payment_id for row in needs_attention(ttl).stale_pending}
        db.session.rollback()
        expired = lifecycle.expire_stale()
    # then they name the same one payment, and expiry expires exactly it
    assert by_sql == by_checkout == on_the_page == {stale}
    assert expired == 1
    with app.app_context():
        statuses = {p.id: p.status for p in db.session.scalars(select(Payment))}
    assert statuses == {stale: "expired", fresh: "pending", deleted: "pending", paid: "completed"}
