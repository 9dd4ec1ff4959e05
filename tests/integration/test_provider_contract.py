"""What every payment provider adapter promises (the port, app/payments/provider.py).

One suite, run against each adapter: the sandbox (inside the app), PayMongo and Xendit
(against the loopback fakes in tests/support/paymongo_fake.py and xendit_fake.py). A new
adapter joins by adding a ``Side``: how its hosted page is paid, how its refunds are
counted, how it is made to fail after acting, and how a notification it did not send is
forged (a changed body where the provider signs the body; a wrong token where, as with
Xendit, only a static token proves the sender).
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from app.extensions import db
from app.gateway.paymongo import PayMongoGateway
from app.gateway.sandbox import Decision, SandboxGateway, simulate
from app.gateway.xendit import CALLBACK_TOKEN_HEADER, XenditGateway
from app.models import Payment, PaymentStatus, SandboxRefund
from app.payments.errors import BadSignature
from app.payments.provider import (
    PAYMENT_SUCCEEDED,
    CheckoutRequest,
    HostedCheckout,
    PaymentGateway,
    ProviderCallError,
    ProviderRefused,
    SessionState,
)
from tests.support.payments import set_status
from tests.support.paymongo_fake import FaultKind

AMOUNT = Decimal("5000.00")


class Side:
    """One adapter and the provider behind it, as the contract drives them."""

    gateway: PaymentGateway

    def __init__(self, app) -> None:
        self.app = app

    def start(self, request: CheckoutRequest) -> HostedCheckout:
        with self.app.test_request_context():
            return self.gateway.start_checkout(request)

    def forged(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """A notification the provider did not send: its signed body changed."""
        return body.replace(b"5000", b"5001"), headers

    def loaded(self, payment_id: int) -> Payment:
        """Our payment, detached, as the outbox hands it to ``refund``."""
        with self.app.app_context():
            payment = db.session.get(Payment, payment_id)
            db.session.expunge(payment)
            db.session.rollback()
            return payment


class SandboxSide(Side):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.gateway = SandboxGateway(app.config["GATEWAY_WEBHOOK_SECRET"])
        self.notes: list[tuple[bytes, dict[str, str]]] = []

    def pay(self, hosted: HostedCheckout, payment_id: int) -> None:
        with self.app.test_request_context():
            payment = self.loaded(payment_id)
            self.notes.append(_note(self.gateway.notification(payment, Decision.APPROVE)))
            simulate(payment, Decision.APPROVE)

    def paid_notification(self) -> tuple[bytes, dict[str, str]]:
        return self.notes[-1]

    def refunds_at_provider(self, payment: Payment) -> int:
        with self.app.app_context():
            count = db.session.query(SandboxRefund).filter_by(payment_id=payment.id).count()
            db.session.rollback()
            return count

    def refund_failing_after_acting(self, payment: Payment, key: str) -> None:
        self.app.config["SANDBOX_REFUND_FAULT"] = "unavailable_after"
        try:
            with self.app.app_context():
                self.gateway.refund_once(payment, AMOUNT, key, retry=False)
        finally:
            self.app.config["SANDBOX_REFUND_FAULT"] = None

    def refund_again(self, payment: Payment, key: str):
        with self.app.app_context():
            return self.gateway.refund_once(payment, AMOUNT, key, retry=True)

    def unknown_session(self) -> str:
        return "sbx_cs_999999999"


class PayMongoSide(Side):
    def __init__(self, app, fake) -> None:
        super().__init__(app)
        self.fake = fake
        self.gateway = PayMongoGateway(
            fake.secret_key, fake.webhook_secret, fake.base_url, timeout=httpx.Timeout(2.0)
        )
        self.notes: list[tuple[bytes, dict[str, str]]] = []
        fake.webhook_sink = lambda body, headers: self.notes.append((body, headers))

    def pay(self, hosted: HostedCheckout, payment_id: int) -> None:
        self.fake.pay(hosted.session_id)

    def paid_notification(self) -> tuple[bytes, dict[str, str]]:
        return self.notes[0]  # checkout_session.payment.paid

    def loaded(self, payment_id: int) -> Payment:
        payment = super().loaded(payment_id)
        # Our payment as the wiring will keep it: PayMongo's payment id as the transaction id.
        charge = next(p for s in self.fake.sessions.values() for p in s["attributes"]["payments"])
        payment.transaction_id = charge["id"]
        return payment

    def refunds_at_provider(self, payment: Payment) -> int:
        return len(self.fake.refunds_of(payment.transaction_id))

    def refund_failing_after_acting(self, payment: Payment, key: str) -> None:
        self.fake.fail_next("POST", "/v1/refunds", FaultKind.ERROR_AFTER)
        self.gateway.refund_once(payment, AMOUNT, key, retry=False)

    def refund_again(self, payment: Payment, key: str):
        return self.gateway.refund_once(payment, AMOUNT, key, retry=True)

    def unknown_session(self) -> str:
        return "cs_unknown0000"


class XenditSide(Side):
    def __init__(self, app, fake) -> None:
        super().__init__(app)
        self.fake = fake
        self.gateway = XenditGateway(
            fake.secret_key, fake.callback_token, fake.base_url, timeout=httpx.Timeout(2.0)
        )
        self.notes: list[tuple[bytes, dict[str, str]]] = []
        fake.webhook_sink = lambda body, headers: self.notes.append((body, headers))

    def pay(self, hosted: HostedCheckout, payment_id: int) -> None:
        self.fake.pay(hosted.session_id)

    def paid_notification(self) -> tuple[bytes, dict[str, str]]:
        return next(n for n in self.notes if b'"payment_session.completed"' in n[0])

    def forged(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        # Xendit's token covers no body: a forgery is a request without the token.
        return body, {**headers, CALLBACK_TOKEN_HEADER: "guessed-token"}

    def loaded(self, payment_id: int) -> Payment:
        payment = super().loaded(payment_id)
        # As the wiring keeps it: the session's payment request id as the transaction id.
        [request_id] = self.fake.payments
        payment.transaction_id = request_id
        return payment

    def refunds_at_provider(self, payment: Payment) -> int:
        return len(self.fake.refunds_of(payment.transaction_id))

    def refund_failing_after_acting(self, payment: Payment, key: str) -> None:
        self.fake.fail_next("POST", "/refunds", FaultKind.ERROR_AFTER)
        self.gateway.refund_once(payment, AMOUNT, key, retry=False)

    def refund_again(self, payment: Payment, key: str):
        return self.gateway.refund_once(payment, AMOUNT, key, retry=True)

    def unknown_session(self) -> str:
        return "ps-000000000000000000000000"


def _note(notification) -> tuple[bytes, dict[str, str]]:
    return notification.body, notification.headers


@pytest.fixture(params=["sandbox", "paymongo", "xendit"])
def side(request, app):
    """The adapter under test, called inside an app context (the sandbox reads its config)."""
    if request.param == "sandbox":
        chosen: Side = SandboxSide(app)
    elif request.param == "paymongo":
        chosen = PayMongoSide(app, request.getfixturevalue("paymongo_fake"))
    else:
        chosen = XenditSide(app, request.getfixturevalue("xendit_fake"))
    with app.app_context():
        yield chosen


@pytest.fixture
def payment_id(api, factory, patient) -> int:
    return api.new_payment(patient, factory.consultation(patient, fee=str(AMOUNT)).id)


def checkout_for(payment_id: int) -> CheckoutRequest:
    return CheckoutRequest(
        payment_id=payment_id,
        reference=f"PAY-{payment_id:06d}",
        amount=AMOUNT,
        currency="PHP",
        method="gcash",
        success_url=f"https://clinic.example/payments/{payment_id}",
        cancel_url=f"https://clinic.example/payments/{payment_id}",
    )


def test_a_started_checkout_has_a_session_and_a_url_and_is_open(side, payment_id):
    hosted = side.start(checkout_for(payment_id))

    found = side.gateway.lookup(hosted.session_id)

    assert hosted.session_id and hosted.url
    assert found.session_id == hosted.session_id
    assert (found.state, found.payment_id, found.paid_charge) == (
        SessionState.OPEN,
        payment_id,
        None,
    )


def test_a_paid_checkout_is_looked_up_as_paid_with_its_charge_in_pesos(side, payment_id):
    hosted = side.start(checkout_for(payment_id))
    side.pay(hosted, payment_id)

    found = side.gateway.lookup(hosted.session_id)

    assert found.state is SessionState.PAID and found.payment_id == payment_id
    assert found.paid_charge.charge_id
    assert (found.paid_charge.amount, found.paid_charge.currency) == (AMOUNT, "PHP")


def test_the_paid_notification_reads_as_our_payment_succeeding_with_that_charge(side, payment_id):
    hosted = side.start(checkout_for(payment_id))
    side.pay(hosted, payment_id)
    body, headers = side.paid_notification()

    event = side.gateway.read_notification(body, headers)

    assert (event.kind, event.payment_id) == (PAYMENT_SUCCEEDED, payment_id)
    assert event.transaction_id == side.gateway.lookup(hosted.session_id).paid_charge.charge_id
    assert Decimal(event.amount) == AMOUNT and event.currency == "PHP"


def test_a_paid_lookup_carries_the_same_success_as_the_notification(side, payment_id):
    hosted = side.start(checkout_for(payment_id))
    side.pay(hosted, payment_id)
    notified = side.gateway.read_notification(*side.paid_notification())

    recovered = side.gateway.lookup(hosted.session_id).paid_event()

    assert (recovered.kind, recovered.payment_id) == (notified.kind, notified.payment_id)
    assert recovered.transaction_id == notified.transaction_id
    assert Decimal(recovered.amount) == Decimal(notified.amount)
    assert recovered.event_id == side.gateway.lookup(hosted.session_id).paid_event().event_id


def test_an_open_lookup_carries_no_success(side, payment_id):
    hosted = side.start(checkout_for(payment_id))
    assert side.gateway.lookup(hosted.session_id).paid_event() is None


def test_a_forged_notification_is_refused(side, payment_id):
    side.pay(side.start(checkout_for(payment_id)), payment_id)
    body, headers = side.paid_notification()

    with pytest.raises(BadSignature):
        side.gateway.read_notification(*side.forged(body, headers))


def test_a_closed_payments_session_once_expired_is_expired(app, side, payment_id):
    hosted = side.start(checkout_for(payment_id))
    set_status(app, payment_id, PaymentStatus.FAILED)

    side.gateway.expire_checkout(hosted.session_id)

    assert side.gateway.lookup(hosted.session_id).state is SessionState.EXPIRED


def test_a_refund_sent_again_after_a_failure_after_acting_is_made_once(side, payment_id):
    hosted = side.start(checkout_for(payment_id))
    side.pay(hosted, payment_id)
    payment = side.loaded(payment_id)

    with pytest.raises(ProviderCallError):
        side.refund_failing_after_acting(payment, "refund-payment-1-1-abc")
    result = side.refund_again(payment, "refund-payment-1-1-abc")

    assert side.refunds_at_provider(payment) == 1
    assert result.refund_id and result.amount == AMOUNT


def test_an_unknown_session_is_refused(side):
    with pytest.raises(ProviderRefused):
        side.gateway.lookup(side.unknown_session())
