"""Moving a payment on in tests the way the system does: through ``app.payments.lifecycle``."""

from __future__ import annotations

from app.models import PaymentStatus
from app.payments import lifecycle


def set_status(app, payment_id: int, status: PaymentStatus) -> None:
    """Give the pending payment ``status`` by the transition that leads there.

    completed: the provider's success (transaction id ``sandbox_txn_<id:06d>``), which
    also pays the invoice; failed: the provider's decline, which voids it.

    :raise ValueError: any other status (use the lifecycle call that makes it).
    """
    with app.app_context():
        if status == PaymentStatus.COMPLETED:
            txn = f"sandbox_txn_{payment_id:06d}"
            lifecycle.confirm(payment_id, transaction_id=txn, actor="gateway:test")
        elif status == PaymentStatus.FAILED:
            lifecycle.fail(payment_id, reason="card_declined", actor="gateway:test")
        else:
            raise ValueError(f"no test transition to {status}")
