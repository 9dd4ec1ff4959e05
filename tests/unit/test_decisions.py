"""The payment rules as tables: every payment status against every provider report, and
every kind of key and payment a checkout can meet. Pure functions: no database."""

from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest

from app.invoices.attention import DUPLICATE_REASONS
from app.models import PaymentStatus
from app.payments.decisions import (
    CheckoutFacts,
    CheckoutVerdict,
    ConfirmationFacts,
    KeyFacts,
    KeyVerdict,
    Reported,
    Verdict,
    decide_checkout,
    decide_confirmation,
    decide_decline,
    decide_key,
)
from app.payments.events import DuplicateChargeReason as Why
from app.payments.events import PaymentEventType

AMOUNT = Decimal("1250.00")
RECORDED = "txn_recorded"  # the transaction id the payment holds (set once it completed)

P, R, C = PaymentStatus, Verdict, Why

# A provider's success report, in the ways it can reach a payment.
NEW_CHARGE = "a new charge"
SAME_CHARGE = "the payment's own charge again"
OTHER_AMOUNT = "a new charge of another amount"
OTHER_CURRENCY = "a new charge in another currency"
USED_CHARGE = "a charge that completed another payment"
OLD_VERSION = "a staff confirmation of an older version"
REPORTS = (NEW_CHARGE, SAME_CHARGE, OTHER_AMOUNT, OTHER_CURRENCY, USED_CHARGE, OLD_VERSION)

# What else holds the consultation: matters only to a payment that ended uncharged.
ALONE, OTHER_ACTIVE, REFUNDED_ONE, BOTH = "alone", "other active", "one refunded", "both"


def _facts(status: PaymentStatus, report: str, around: str = ALONE) -> ConfirmationFacts:
    charged = status in (P.COMPLETED, P.REFUNDED)
    return ConfirmationFacts(
        status=status,
        amount=AMOUNT,
        currency="PHP",
        version=3,
        recorded_transaction_id=RECORDED if charged else None,
        transaction_id=RECORDED if report == SAME_CHARGE else "txn_new",
        expected_version=2 if report == OLD_VERSION else None,
        reported=Reported(
            amount="1000.00" if report == OTHER_AMOUNT else "1250.00",
            currency="USD" if report == OTHER_CURRENCY else "PHP",
        ),
        transaction_owner_id=77 if report == USED_CHARGE else None,
        other_active_payment_id=8 if around in (OTHER_ACTIVE, BOTH) else None,
        refunded_payment_id=5 if around in (REFUNDED_ONE, BOTH) else None,
    )


def _late(status: PaymentStatus) -> list[tuple]:
    """A payment that ended uncharged (failed, expired, cancelled)."""
    after = {P.FAILED: C.LATE_SUCCESS_AFTER_FAILED, P.EXPIRED: C.LATE_SUCCESS_AFTER_EXPIRED}
    after[P.CANCELLED] = C.LATE_SUCCESS_AFTER_CANCELLED
    return [
        # the provider took the money after all: it completes the payment if nothing else
        # holds the consultation, else staff refund it
        (status, NEW_CHARGE, ALONE, R.COMPLETE, None),
        (status, NEW_CHARGE, OTHER_ACTIVE, R.DUPLICATE_CHARGE, after[status]),
        (status, NEW_CHARGE, REFUNDED_ONE, R.DUPLICATE_CHARGE, C.CONSULTATION_REFUNDED),
        (status, NEW_CHARGE, BOTH, R.DUPLICATE_CHARGE, after[status]),
        (status, SAME_CHARGE, ALONE, R.COMPLETE, None),
        (status, SAME_CHARGE, OTHER_ACTIVE, R.DUPLICATE_CHARGE, after[status]),
        (status, OTHER_AMOUNT, ALONE, R.AMOUNT_MISMATCH, None),
        (status, OTHER_AMOUNT, OTHER_ACTIVE, R.AMOUNT_MISMATCH, None),
        (status, OTHER_CURRENCY, ALONE, R.AMOUNT_MISMATCH, None),
        (status, USED_CHARGE, ALONE, R.TRANSACTION_IN_USE, None),
        (status, USED_CHARGE, OTHER_ACTIVE, R.TRANSACTION_IN_USE, None),
        (status, OLD_VERSION, ALONE, R.STALE_VERSION, None),
        (status, OLD_VERSION, OTHER_ACTIVE, R.STALE_VERSION, None),
    ]


CONFIRMATIONS = [
    *[
        (status, report, ALONE, verdict, None)
        for status in (P.PENDING, P.PROCESSING)
        for report, verdict in (
            (NEW_CHARGE, R.COMPLETE),
            (SAME_CHARGE, R.COMPLETE),
            (OTHER_AMOUNT, R.AMOUNT_MISMATCH),
            (OTHER_CURRENCY, R.AMOUNT_MISMATCH),
            (USED_CHARGE, R.TRANSACTION_IN_USE),
            (OLD_VERSION, R.STALE_VERSION),
        )
    ],
    (P.COMPLETED, NEW_CHARGE, ALONE, R.DUPLICATE_CHARGE, C.ALREADY_COMPLETED),
    (P.COMPLETED, SAME_CHARGE, ALONE, R.UNCHANGED, None),
    (P.COMPLETED, OTHER_AMOUNT, ALONE, R.AMOUNT_MISMATCH, None),
    (P.COMPLETED, OTHER_CURRENCY, ALONE, R.AMOUNT_MISMATCH, None),
    (P.COMPLETED, USED_CHARGE, ALONE, R.TRANSACTION_IN_USE, None),
    (P.COMPLETED, OLD_VERSION, ALONE, R.STALE_VERSION, None),
    (P.REFUNDED, NEW_CHARGE, ALONE, R.DUPLICATE_CHARGE, C.PAYMENT_REFUNDED),
    (P.REFUNDED, SAME_CHARGE, ALONE, R.UNCHANGED, None),
    (P.REFUNDED, OTHER_AMOUNT, ALONE, R.AMOUNT_MISMATCH, None),
    (P.REFUNDED, OTHER_CURRENCY, ALONE, R.AMOUNT_MISMATCH, None),
    (P.REFUNDED, USED_CHARGE, ALONE, R.TRANSACTION_IN_USE, None),
    (P.REFUNDED, OLD_VERSION, ALONE, R.STALE_VERSION, None),
    *_late(P.FAILED),
    *_late(P.EXPIRED),
    *_late(P.CANCELLED),
]


@pytest.mark.parametrize(("status", "report", "around", "verdict", "reason"), CONFIRMATIONS)
def test_a_reported_success_leads_to_one_decision(status, report, around, verdict, reason):
    decision = decide_confirmation(_facts(status, report, around))
    assert (decision.verdict, decision.reason) == (verdict, reason)


def test_the_table_holds_every_status_against_every_success_report():
    assert {(s, r) for s, r, *_ in CONFIRMATIONS} == set(product(PaymentStatus, REPORTS))


def test_money_taken_is_never_dropped():
    # Whatever the payment and its consultation, a real new charge either completes the
    # payment or is recorded for staff: no verdict lets it pass unseen.
    for status, around in product(PaymentStatus, (ALONE, OTHER_ACTIVE, REFUNDED_ONE, BOTH)):
        verdict = decide_confirmation(_facts(status, NEW_CHARGE, around)).verdict
        assert verdict in (R.COMPLETE, R.DUPLICATE_CHARGE), (status, around)


def test_a_duplicate_charge_names_the_payment_that_holds_the_consultation():
    late = decide_confirmation(_facts(P.EXPIRED, NEW_CHARGE, OTHER_ACTIVE))
    assert late.details == {"other_payment_id": 8}
    closed = decide_confirmation(_facts(P.CANCELLED, NEW_CHARGE, REFUNDED_ONE))
    assert closed.details == {"refunded_payment_id": 5}


def test_a_mismatch_carries_the_providers_words_bounded():
    facts = _facts(P.PENDING, NEW_CHARGE)
    words = "9" * 100
    decision = decide_confirmation(
        ConfirmationFacts(**{**facts.__dict__, "reported": Reported(words, None)})
    )
    assert decision.details == {"reported_amount": words[:64], "reported_currency": "PHP"}


@pytest.mark.parametrize(
    ("amount", "currency", "verdict"),
    [
        (None, None, R.COMPLETE),  # the report named neither: nothing to compare
        ("1250", None, R.COMPLETE),  # the same number, written shorter
        (1250, "PHP", R.COMPLETE),
        ("1250.01", None, R.AMOUNT_MISMATCH),
        (True, None, R.AMOUNT_MISMATCH),  # not a number, though 1 == True in Python
        (1250.0, None, R.AMOUNT_MISMATCH),  # a float is never money
        ("NaN", None, R.AMOUNT_MISMATCH),
        ("abc", None, R.AMOUNT_MISMATCH),
        (None, "php", R.AMOUNT_MISMATCH),
    ],
)
def test_a_reported_amount_is_compared_as_money(amount, currency, verdict):
    facts = ConfirmationFacts(
        status=P.PENDING,
        amount=AMOUNT,
        currency="PHP",
        version=1,
        recorded_transaction_id=None,
        transaction_id="txn_1",
        reported=Reported(amount, currency),
    )
    assert decide_confirmation(facts).verdict == verdict


DECLINES = [
    (P.PENDING, R.FAIL),
    (P.PROCESSING, R.FAIL),
    (P.COMPLETED, R.CANNOT),  # a late decline never undoes a charge
    (P.REFUNDED, R.CANNOT),
    (P.FAILED, R.UNCHANGED),
    (P.EXPIRED, R.UNCHANGED),
    (P.CANCELLED, R.UNCHANGED),
]


@pytest.mark.parametrize(("status", "verdict"), DECLINES)
def test_a_reported_decline_leads_to_one_decision(status, verdict):
    assert decide_decline(status).verdict == verdict


def test_the_decline_table_holds_every_status():
    assert {s for s, _ in DECLINES} == set(PaymentStatus)


# --- the checkout ---------------------------------------------------------------------------

KEYS = [
    # claimed, expired, same request: what the key's row leads to
    (True, False, True, KeyVerdict.OWNED),
    (True, False, False, KeyVerdict.OWNED),  # a fresh claim has nothing to compare
    (False, False, True, KeyVerdict.REPLAY),
    (False, False, False, KeyVerdict.MISMATCH),
    (False, True, True, KeyVerdict.TAKE_OVER),
    (False, True, False, KeyVerdict.TAKE_OVER),  # past its TTL the key is forgotten
]


@pytest.mark.parametrize(("claimed", "expired", "same", "verdict"), KEYS)
def test_a_key_leads_to_one_decision(claimed, expired, same, verdict):
    facts = KeyFacts(claimed=claimed, expired=expired, same_fingerprint=same)
    assert decide_key(facts) == verdict


CHECKOUTS = [
    (None, False, CheckoutVerdict.CREATE),
    (None, True, CheckoutVerdict.REFUNDED),
    (7, False, CheckoutVerdict.CONFLICT),
    (7, True, CheckoutVerdict.CONFLICT),  # the active payment is what the patient must see
]


@pytest.mark.parametrize(("active", "refunded", "verdict"), CHECKOUTS)
def test_a_checkout_under_the_guard_leads_to_one_decision(active, refunded, verdict):
    facts = CheckoutFacts(active_payment_id=active, refunded=refunded)
    assert decide_checkout(facts) == verdict


# --- the names the pages read ---------------------------------------------------------------


def test_every_duplicate_charge_reason_has_words_for_staff():
    assert set(DUPLICATE_REASONS) == set(Why)


def test_a_late_success_is_named_for_each_uncharged_end_and_nothing_else():
    for status in PaymentStatus:
        if status in (P.FAILED, P.EXPIRED, P.CANCELLED):
            assert Why.late_success_after(status) == f"late_success_after_{status}"
        else:
            with pytest.raises(ValueError):
                Why.late_success_after(status)


def test_the_stored_event_names_stay_the_strings_already_in_the_database():
    # Renaming a member's value would orphan every row written before: no migration does it.
    assert sorted(PaymentEventType) == sorted(
        ["created", "confirmed", "failed", "expired", "cancelled", "refunded", "deleted"]
        + ["duplicate_charge", "amount_mismatch", "refunded_at_provider", "refund_refused"]
        + ["replayed", "refused"]
    )
