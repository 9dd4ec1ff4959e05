"""One payable hosted checkout per payment at the provider, never created inside a transaction.

``hosted_checkout_url`` is what every answer that sends a patient to pay calls (the Pay
form, the API's create, the payment page's "Continue to payment"), after the payment's own
transaction committed:

1. **stored?** A payment whose session is stored answers its URL at once, every time.
2. **claim** (a short transaction under the payment's locks): ``checkout_state`` becomes
   ``creating`` with ``checkout_started_at``. A claim another request holds is not waited
   for: ``CheckoutPreparing`` is raised at once, so a slow provider costs one worker thread
   per payment, not one per click (the patient's page polls until the URL is stored; an API
   client repeats after ``Retry-After``). One older than ``CLAIM_SECONDS`` (its request
   died) may be taken over.
3. **create** (no transaction): ``gateway.start_checkout``.
4. **store** (a short transaction under the locks): the session is stored only if none is
   yet; otherwise the one just made is expired at the provider and the stored one
   answered. So however many clicks, tabs, workers or servers, one session is stored and
   every URL shown is its URL.

A create that times out or fails has an unknown outcome: the provider may have made a
session. Its URL was never stored, so it was never shown to anyone; the claim is released
and the patient reads "try again, it is safe" (``CheckoutUnavailable``, 503). The next try
makes and stores one session, and only that one is ever shown. The unknown one carries our
payment id in its metadata: should it be paid anyway, its notification is applied by the
money-truth rule like any late success (completed, or on the staff attention page).

Cancel and expiry (``expire_dead``) and ``flask payments sync`` (``sync``) expire a
session whose payment can no longer be paid, and apply what a lookup shows through the
webhook's own code (``app.gateway.webhooks.apply``), with its event dedupe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import transaction
from app.extensions import db
from app.models import CheckoutState, Payment, PaymentStatus, money, utcnow
from app.payments import lifecycle
from app.payments.errors import CheckoutPreparing, CheckoutUnavailable, PaymentError
from app.payments.provider import (
    CheckoutRequest,
    PaymentGateway,
    ProviderCallError,
    ProviderEvent,
    ProviderRefused,
    SessionState,
)

log = logging.getLogger("app.payments.checkout")

#: Seconds after which a "creating" claim belongs to a request that died: longer than
#: any provider call may take (PayMongo's connect + write + read bounds).
CLAIM_SECONDS = 60
PAYABLE = (PaymentStatus.PENDING,)

#: ``apply(event, gateway)``: applies a provider event through the webhook's code path
#: (``app.gateway.webhooks.apply``), passed in by the edge so the core imports no edge.
ApplyEvent = Callable[[ProviderEvent, PaymentGateway], object]


@dataclass(frozen=True)
class _Claim:
    """What one request found: the stored URL, a claim it now holds, or neither."""

    url: str | None = None
    request: CheckoutRequest | None = None
    started_at: object = None
    payable: bool = True
    busy: bool = False


def hosted_checkout_url(payment_id: int, gateway: PaymentGateway, *, return_url: str) -> str | None:
    """Where to send the patient to pay ``payment_id``: its one hosted checkout's URL.

    ``return_url``: the payment's page (absolute), where the provider sends the patient
    back whether they paid or cancelled. None when the payment can no longer be paid
    (not pending): the caller shows the payment's page instead.

    :raise CheckoutPreparing: 503 (retry after 1 s), another request is creating the
        session at the provider right now; nothing is shown, ask again shortly.
    :raise CheckoutUnavailable: 503, the provider did not answer; nothing is shown, try again.
    :raise PaymentNotFound: 404.  :raise PaymentsBusy: 503.
    """
    if not gateway.stores_checkouts:
        return gateway.checkout_url(payment_id)
    found = _stored(payment_id)
    if found is None:
        found = lifecycle.run(payment_id, partial(_claim, return_url=return_url))
    if found.url is not None or not found.payable:
        return found.url
    if found.busy:
        raise CheckoutPreparing(payment_id=payment_id)
    try:
        hosted = gateway.start_checkout(found.request)
    except ProviderCallError as error:
        log.warning("checkout.create_failed payment_id=%s error=%s", payment_id, error)
        lifecycle.run(payment_id, partial(_release, started_at=found.started_at))
        raise CheckoutUnavailable(payment_id=payment_id) from None
    stored, payable = lifecycle.run(
        payment_id, partial(_store, session_id=hosted.session_id, url=hosted.url)
    )
    if stored != hosted.url:
        # Another request stored its session first: this one is never shown, and is made
        # unpayable now.
        _expire_quietly(gateway, hosted.session_id, payment_id)
    if not payable:  # closed meanwhile (cancelled, say): its stored session is expired
        expire_dead(payment_id, gateway)
        return None
    return stored


def _stored(payment_id: int) -> _Claim | None:
    """An unlocked look: the stored URL, or a fresh claim to wait for; None: go and lock."""
    row = db.session.execute(
        select(
            Payment.status,
            Payment.checkout_state,
            Payment.checkout_url,
            Payment.checkout_started_at,
        ).where(Payment.id == payment_id)
    ).one_or_none()
    db.session.rollback()
    if row is None:
        return None  # lock_payment answers 404
    if row.status not in PAYABLE:
        return _Claim(payable=False)
    if row.checkout_state == CheckoutState.OPEN and row.checkout_url:
        return _Claim(url=row.checkout_url)
    if row.checkout_state == CheckoutState.CREATING and not _abandoned(row.checkout_started_at):
        return _Claim(busy=True)
    return None


def _abandoned(started_at) -> bool:
    return started_at is None or started_at < utcnow() - timedelta(seconds=CLAIM_SECONDS)


def _claim(session: Session, payment: Payment, *, return_url: str) -> _Claim:
    if payment.status not in PAYABLE:
        return _Claim(payable=False)
    if payment.checkout_url and payment.checkout_state == CheckoutState.OPEN:
        return _Claim(url=payment.checkout_url)
    if payment.checkout_state == CheckoutState.CREATING and not _abandoned(
        payment.checkout_started_at
    ):
        return _Claim(busy=True)
    started_at = utcnow()
    _set(session, payment.id, checkout_state=CheckoutState.CREATING, checkout_started_at=started_at)
    invoice = payment.invoice
    request = CheckoutRequest(
        payment_id=payment.id,
        reference=invoice.invoice_number if invoice is not None else str(payment.id),
        amount=money(payment.amount),
        currency=payment.currency,
        method=payment.payment_method,
        success_url=return_url,
        cancel_url=return_url,
    )
    return _Claim(request=request, started_at=started_at)


def _release(session: Session, payment: Payment, *, started_at) -> None:
    """Give the claim back (only our own: a taker's claim stays)."""
    session.execute(
        update(Payment.__table__)
        .where(
            Payment.__table__.c.id == payment.id,
            Payment.__table__.c.checkout_state == CheckoutState.CREATING,
            Payment.__table__.c.checkout_started_at == started_at,
        )
        .values(checkout_state=None, checkout_started_at=None)
    )


def _store(session: Session, payment: Payment, *, session_id: str, url: str) -> tuple[str, bool]:
    """Store the session unless a payable one is stored; (the stored URL, whether still payable).

    A stored session the provider expired on its own (``checkout_state`` expired) is
    replaced: nobody can pay it any more, so the new one is the only payable one.
    """
    payable = payment.status in PAYABLE
    if payment.checkout_session_id is not None and payment.checkout_state == CheckoutState.OPEN:
        return payment.checkout_url, payable
    _set(
        session,
        payment.id,
        checkout_session_id=session_id,
        checkout_url=url,
        checkout_state=CheckoutState.OPEN,
        checkout_started_at=None,
    )
    return url, payable


def _set(session: Session, payment_id: int, **values) -> None:
    # Core, not the ORM: the session is not a state change, so the payment's version stays.
    table = Payment.__table__
    session.execute(update(table).where(table.c.id == payment_id).values(**values))


def _expire_quietly(gateway: PaymentGateway, session_id: str, payment_id: int) -> bool:
    try:
        gateway.expire_checkout(session_id)
    except ProviderCallError as error:
        log.warning(
            "checkout.expire_failed payment_id=%s session=%s error=%s",
            payment_id,
            session_id,
            error,
        )
        return False
    return True


def expire_dead(payment_id: int, gateway: PaymentGateway) -> bool:
    """Expire the stored session of a payment that can no longer be paid (cancelled,
    expired, declined). True when it is expired (or there was nothing to expire).

    A provider that refuses (the session was paid meanwhile) leaves it for ``sync``, whose
    lookup applies the payment through the money-truth rule; a timeout leaves it for the
    next ``sync`` as well.
    """
    if not gateway.stores_checkouts:
        return True
    row = db.session.execute(
        select(Payment.status, Payment.checkout_session_id, Payment.checkout_state).where(
            Payment.id == payment_id
        )
    ).one_or_none()
    db.session.rollback()
    if row is None or row.checkout_state != CheckoutState.OPEN or row.status in PAYABLE:
        return True
    if not _expire_quietly(gateway, row.checkout_session_id, payment_id):
        return False
    _mark(payment_id, row.checkout_session_id, CheckoutState.EXPIRED)
    return True


def expire_closed(gateway: PaymentGateway) -> int:
    """``expire_dead`` for every payment no longer payable whose session is still open;
    how many are expired now (the rest wait for the next run or ``sync``)."""
    if not gateway.stores_checkouts:
        return 0
    table = Payment.__table__
    ids = db.session.scalars(
        select(table.c.id).where(
            table.c.checkout_state == CheckoutState.OPEN, table.c.status.not_in(PAYABLE)
        )
    ).all()
    db.session.rollback()
    return sum(1 for payment_id in ids if expire_dead(payment_id, gateway))


def _mark(payment_id: int, session_id: str, state: CheckoutState) -> None:
    """Record what the provider said about the stored session (no lock: one column, and
    every writer writes what the provider said)."""
    table = Payment.__table__
    with transaction() as session:
        session.execute(
            update(table)
            .where(table.c.id == payment_id, table.c.checkout_session_id == session_id)
            .values(checkout_state=state)
        )


@dataclass
class SyncReport:
    """What one ``sync`` pass did, by outcome: applied, expired, open, unreachable, refused."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def summary(self) -> str:
        if not self.counts:
            return "No open hosted checkouts."
        return "Hosted checkouts: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))


def sync(gateway: PaymentGateway, apply: ApplyEvent) -> SyncReport:
    """Ask the provider about every stored, still-open hosted checkout and act on it.

    Paid: its ``paid_event`` goes through ``apply`` (the webhook's path and dedupe), so a
    lost notification is recovered. Expired at the provider: recorded. Open while our
    payment can no longer be paid (cancelled, expired, declined): expired at the provider.
    No locks are held across a call, and every step is idempotent, so several copies may
    run at once (from cron, say).
    """
    report = SyncReport()
    if not gateway.stores_checkouts:
        return report
    table = Payment.__table__
    ids = db.session.scalars(
        select(table.c.id).where(table.c.checkout_state == CheckoutState.OPEN).order_by(table.c.id)
    ).all()
    db.session.rollback()
    for payment_id in ids:
        report.add(_sync_one(payment_id, gateway, apply))
    return report


def _sync_one(payment_id: int, gateway: PaymentGateway, apply: ApplyEvent) -> str:
    row = db.session.execute(
        select(Payment.status, Payment.checkout_session_id).where(Payment.id == payment_id)
    ).one()
    db.session.rollback()
    try:
        snapshot = gateway.lookup(row.checkout_session_id)
    except ProviderRefused as error:
        log.warning("checkout.lookup_refused payment_id=%s error=%s", payment_id, error)
        return "refused"
    except ProviderCallError:
        return "unreachable"
    event = snapshot.paid_event()
    if event is not None and snapshot.payment_id == payment_id:
        try:
            apply(event, gateway)
        except PaymentError as error:
            log.warning("checkout.apply_failed payment_id=%s error=%s", payment_id, error)
            return "unreachable"
        _mark(payment_id, row.checkout_session_id, CheckoutState.PAID)
        return "applied"
    if snapshot.state is SessionState.EXPIRED:
        _mark(payment_id, row.checkout_session_id, CheckoutState.EXPIRED)
        return "expired"
    if row.status not in PAYABLE:
        return "expired" if expire_dead(payment_id, gateway) else "unreachable"
    return "open"
