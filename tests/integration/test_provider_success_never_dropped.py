"""Money a provider reports as captured is never dropped: every (state, provider event) pair.

The rule (docs/lifecycle.md): a success report either completes its payment, or it is a
``duplicate_charge`` / ``amount_mismatch`` on the attention page with its transaction id
and amount, for staff to refund at the provider. Never a silent refusal.

Each pair puts one payment in a state, delivers one provider event through the signed
webhook or through the staff confirmation API, and then checks, in the database and on
the staff attention page, that the reported charge is accounted for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Payment, PaymentEvent, PaymentStatus
from app.payments import lifecycle
from tests.support.api import ApiClient
from tests.support.auth import AuthActions
from tests.support.invariants import check_payment_states
from tests.support.lifecycle import (
    age_payment,
    deliver,
    provider_event,
)

FEE = "5000.00"
RECORDED_TXN = "txn_recorded"  # the charge that completed a payment of this consultation


@dataclass
class World:
    app: object
    client: object
    api: ApiClient
    patient: object
    staff: object
    consultation_id: int
    payment_id: int = 0


def _pay(w: World) -> int:
    return w.api.new_payment(w.patient, w.consultation_id)


def _set(w: World, payment_id: int, status: PaymentStatus) -> None:
    # "processing" is a state no lifecycle call produces yet (a provider's asynchronous
    # step); the rows may hold it, so the test writes it straight.
    with w.app.app_context():
        payment = db.session.get(Payment, payment_id)
        payment.status = status
        db.session.commit()


def _cancel(w: World, payment_id: int) -> None:
    # the patient's own cancel, as the payment page's button does it
    with w.app.app_context():
        assert lifecycle.cancel(payment_id, user=w.patient).outcome == "cancelled"


def _decline(w: World, payment_id: int) -> None:
    with w.app.app_context():
        lifecycle.fail(payment_id, reason="card_declined", actor="gateway:test")


def _expire(w: World, payment_id: int) -> None:
    age_payment(w.app, payment_id, w.app.config["PAYMENT_PENDING_TTL"] + 60)
    with w.app.app_context():
        assert lifecycle.expire_stale() == 1


def _complete(w: World, payment_id: int) -> None:
    assert w.api.confirm(w.staff, payment_id, transaction_id=RECORDED_TXN).status_code == 200


def _refund(w: World, payment_id: int) -> None:
    assert w.api.refund(w.staff, payment_id, reason="Clinic cancelled").status_code == 200


def _then_pay_again(end: Callable[[World, int], None]) -> Callable[[World], None]:
    def setup(w: World) -> None:
        w.payment_id = _pay(w)
        end(w, w.payment_id)
        _pay(w)  # the patient paid again: another active payment holds the consultation

    return setup


def _single(end: Callable[[World, int], None] | None) -> Callable[[World], None]:
    def setup(w: World) -> None:
        w.payment_id = _pay(w)
        if end is not None:
            end(w, w.payment_id)

    return setup


def _refunded_elsewhere(w: World) -> None:
    # this payment was declined; the next one was paid, then refunded: consultation closed
    w.payment_id = _pay(w)
    _decline(w, w.payment_id)
    other = _pay(w)
    _complete(w, other)
    _refund(w, other)


STATES: dict[str, Callable[[World], None]] = {
    "pending": _single(None),
    "pending-stale": _single(
        lambda w, p: age_payment(w.app, p, w.app.config["PAYMENT_PENDING_TTL"] + 60)
    ),
    "processing": _single(lambda w, p: _set(w, p, PaymentStatus.PROCESSING)),
    "completed": _single(_complete),
    "refunded": _single(lambda w, p: (_complete(w, p), _refund(w, p))),
    "failed": _single(_decline),
    "expired": _single(_expire),
    "cancelled": _single(_cancel),
    "failed+paid-again": _then_pay_again(_decline),
    "expired+paid-again": _then_pay_again(_expire),
    "cancelled+paid-again": _then_pay_again(_cancel),
    "failed+consultation-refunded": _refunded_elsewhere,
}


@dataclass(frozen=True)
class Report:
    """One provider report: success (with a transaction id, amount, currency) or decline."""

    kind: str
    transaction_id: str | None = None
    amount: str | None = FEE
    currency: str | None = "PHP"

    @property
    def success(self) -> bool:
        return self.kind == "payment.succeeded"


WEBHOOK_EVENTS = {
    "success-new-charge": Report("payment.succeeded", "txn_new"),
    "success-recorded-charge-again": Report("payment.succeeded", RECORDED_TXN),
    "success-wrong-amount": Report("payment.succeeded", "txn_new", amount="4999.99"),
    "success-wrong-currency": Report("payment.succeeded", "txn_new", currency="USD"),
    "decline": Report("payment.declined", amount=None, currency=None),
}
# Staff confirm with a transaction id only: no amount to compare.
STAFF_EVENTS = {
    "success-new-charge": Report("payment.succeeded", "txn_new", None, None),
    "success-recorded-charge-again": Report("payment.succeeded", RECORDED_TXN, None, None),
}
PAIRS = [("webhook", s, e) for s in STATES for e in WEBHOOK_EVENTS] + [
    ("staff-confirm", s, e) for s in STATES for e in STAFF_EVENTS
]


@pytest.fixture
def world(app, factory):
    patient = factory.patient()
    consultation = factory.consultation(patient, fee=FEE)
    staff = factory.staff()
    return World(app, app.test_client(), ApiClient(app), patient, staff, consultation.id)


@pytest.mark.parametrize(("channel", "state", "event"), PAIRS, ids=["/".join(p) for p in PAIRS])
def test_money_reported_as_captured_is_on_a_completed_payment_or_on_the_attention_page(
    world, channel, state, event
):
    # given a payment in ``state``
    STATES[state](world)
    report = (WEBHOOK_EVENTS if channel == "webhook" else STAFF_EVENTS)[event]
    # when the provider (or staff reading the provider's dashboard) reports ``event``
    if channel == "webhook":
        data = {}
        if report.amount is not None:
            data["amount"] = report.amount
        if report.currency is not None:
            data["currency"] = report.currency
        body = provider_event(
            world.payment_id,
            kind=report.kind,
            event_id=f"evt_{state}_{event}",
            transaction_id=report.transaction_id,
            **data,
        )
        response = deliver(world.client, world.app, body)
        assert response.status_code == 200, response.json
        outcome = response.json["outcome"]
    else:
        response = world.api.confirm(
            world.staff, world.payment_id, transaction_id=report.transaction_id
        )
        assert response.status_code in (200, 409), response.json
        outcome = None if response.status_code == 200 else response.json["type"]
    # then
    check_payment_states(world.app)
    attention = AuthActions(world.app).session_for(world.staff).get("/staff/attention").text
    if report.success:
        _assert_charge_accounted_for(world, report, attention)
    elif outcome == "refused":
        # a decline we could not apply is listed for staff, linked to its invoice
        section = attention.split('id="webhook-failures"', 1)[1].split("</section>", 1)[0]
        assert f'href="/staff/invoices/{_invoice_number(world)}"' in section


def _assert_charge_accounted_for(world: World, report: Report, attention: str) -> None:
    with world.app.app_context():
        holder = db.session.scalars(
            select(Payment).where(Payment.transaction_id == report.transaction_id)
        ).one_or_none()
        alerts = [
            e.event_type
            for e in db.session.scalars(
                select(PaymentEvent).where(
                    PaymentEvent.event_type.in_(("duplicate_charge", "amount_mismatch"))
                )
            )
            if e.data.get("transaction_id") == report.transaction_id
        ]
        amount_matches = report.amount is None or report.amount == FEE
        currency_matches = report.currency in (None, "PHP")
        on_a_payment = (
            holder is not None
            and holder.status in (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED)
            and amount_matches
            and currency_matches
        )
        db.session.rollback()
    if on_a_payment:
        return
    assert alerts, f"charge {report.transaction_id} is on no completed payment and not flagged"
    assert f"<code>{report.transaction_id}</code>" in attention, "flagged but not shown to staff"
    if alerts[0] == "duplicate_charge":
        assert "Refund ₱5,000.00 (transaction" in attention
    else:
        assert f"{report.amount} {report.currency}" in attention


def _invoice_number(world: World) -> str:
    with world.app.app_context():
        number = db.session.get(Payment, world.payment_id).invoice.invoice_number
        db.session.rollback()
    return number


def test_the_pairs_cover_every_payment_status():
    statuses = {s.split("+")[0].removesuffix("-stale") for s in STATES}
    assert statuses == {s.value for s in PaymentStatus}
