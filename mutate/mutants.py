"""The curated mutants of the guarantee's code: each one removes or bends one guard step.

A mutant is one exact snippet of a file, its replacement, what the change breaks in
words, and the tests that must fail when it is applied. ``mutate/run.py`` applies
each in a copy of the tree and runs only its tests; ``tests/unit/test_mutants.py``
checks on every ``make test`` that each snippet is still in its file exactly once,
so this list cannot go stale silently when the code moves.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    original: str
    replacement: str
    description: str
    tests: tuple[str, ...]


GUARD_STEPS = "tests/integration/test_guard_steps.py"
SERVICE = "tests/integration/test_service_idempotency.py"
CONFIRM = "tests/integration/test_confirm.py"
EXPIRY = "tests/integration/test_expiry_refund.py"
WEBHOOKS = "tests/integration/test_webhooks.py"
TOKENS = "tests/unit/test_checkout_tokens.py"
STORMS = "tests/integration/test_storms.py"
SERIALS = "tests/integration/test_serials.py"
PARTIAL_REFUNDS = "tests/integration/test_partial_refunds.py"

MUTANTS: tuple[Mutant, ...] = (
    # --- create_payment: lock and re-check ---------------------------------------------
    Mutant(
        "lock.no_for_update",
        "app/payments/guards.py",
        '    .where(_CONSULTATIONS.c.id == bindparam("consultation_id"))\n    .with_for_update()\n)',
        '    .where(_CONSULTATIONS.c.id == bindparam("consultation_id"))\n)',
        "the checkout's consultation lock statement no longer locks",
        (f"{GUARD_STEPS}::test_the_row_lock_alone_serializes_fifty_checkouts",),
    ),
    Mutant(
        "lock.not_taken",
        "app/payments/service.py",
        "        checkout.guard.serialize(session, consultation.id, after_commit)",
        "        pass",
        "the checkout never takes the consultation lock",
        (f"{GUARD_STEPS}::test_the_row_lock_alone_serializes_fifty_checkouts",),
    ),
    Mutant(
        "lock.hybrid_without_row_lock",
        "app/payments/guards.py",
        '"hybrid": Guard("hybrid", _row_lock, use_cache=True)',
        '"hybrid": Guard("hybrid", _no_lock, use_cache=True)',
        "the default guard forgets its row lock",
        (f"{GUARD_STEPS}::test_the_row_lock_alone_serializes_fifty_checkouts",),
    ),
    Mutant(
        "recheck.skipped",
        "app/payments/service.py",
        "    existing = next((p for p in found if p.is_active), None)",
        "    existing = None",
        "no look for an active payment after the lock",
        (f"{GUARD_STEPS}::test_the_row_lock_alone_serializes_fifty_checkouts",),
    ),
    Mutant(
        "recheck.completed_not_active",
        "app/payments/payable.py",
        "    or_(Payment.is_active, Payment.status == PaymentStatus.REFUNDED),",
        '    or_(Payment.status.in_(("pending", "processing")), Payment.status == PaymentStatus.REFUNDED),',
        "the active-payment query leaves out completed payments",
        (f"{GUARD_STEPS}::test_a_payment_completed_while_a_checkout_waits_for_the_lock_is_named",),
    ),
    Mutant(
        "recheck.stale_not_expired",
        "app/payments/service.py",
        '        and lifecycle.expire(session, existing, actor="system:checkout")',
        "        and False",
        "a checkout no longer expires an abandoned pending payment",
        (f"{EXPIRY}::test_a_checkout_expires_an_abandoned_payment_and_starts_a_new_one",),
    ),
    # --- create_payment: claim, fingerprint, finish -------------------------------------
    Mutant(
        "claim.always_owned",
        "app/payments/idempotency.py",
        "    return _run(session, _CLAIM[dialect_of(session)], params).first() is not None",
        "    _run(session, _CLAIM[dialect_of(session)], params)\n    return True",
        "the claim says 'yours' even when the key's row already exists",
        (f"{SERVICE}::test_the_same_key_replays_the_first_outcome",),
    ),
    Mutant(
        "fingerprint.database_not_compared",
        "app/payments/service.py",
        "            same_fingerprint=record.fingerprint == checkout.fingerprint,",
        "            same_fingerprint=True,",
        "a key reused for another payload is replayed from the database",
        (
            f"{GUARD_STEPS}::test_a_reused_key_with_redis_flushed_is_refused_by_the_database",
            f"{GUARD_STEPS}::test_a_reused_key_with_redis_down_is_refused_by_the_database",
        ),
    ),
    Mutant(
        "fingerprint.cache_not_compared",
        "app/payments/replay.py",
        "    if fingerprint != checkout.fingerprint:\n        raise KeyReuseMismatch(KEY_MISMATCH_DETAIL)",
        "    if False:\n        raise KeyReuseMismatch(KEY_MISMATCH_DETAIL)",
        "a key reused for another payload is replayed from Redis",
        (f"{SERVICE}::test_the_same_key_with_a_different_payload_is_refused_and_writes_nothing",),
    ),
    Mutant(
        "fingerprint.without_method",
        "app/payments/requests.py",
        '        return f"{self.consultation_id}|{self.payment_method}|{amount}"',
        '        return f"{self.consultation_id}|{amount}"',
        "the fingerprint leaves out the payment method",
        (f"{GUARD_STEPS}::test_a_reused_key_with_redis_flushed_is_refused_by_the_database",),
    ),
    Mutant(
        "finish.any_user",
        "app/payments/idempotency.py",
        '        _KEYS.c.user_id == bindparam("match_user_id"),\n        _KEYS.c.key_hash == bindparam("match_key_hash"),\n    )\n    .values(\n        state="completed",',
        '        bindparam("match_user_id") == bindparam("match_user_id"),\n        _KEYS.c.key_hash == bindparam("match_key_hash"),\n    )\n    .values(\n        state="completed",',
        "finishing a key matches its hash only, not its user",
        (f"{GUARD_STEPS}::test_one_key_string_for_two_patients_answers_each_their_own",),
    ),
    Mutant(
        "finish.skipped",
        "app/payments/service.py",
        "            idempotency.finish(\n                session, user_id=checkout.user_id, key_hash=checkout.key_hash, outcome=outcome\n            )",
        "            pass",
        "the final answer is never stored on the key's row",
        (f"{SERVICE}::test_the_same_key_replays_the_first_outcome",),
    ),
    Mutant(
        "scope.load_any_user",
        "app/payments/idempotency.py",
        "        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key_hash == key_hash)",
        "        .where(IdempotencyKey.key_hash == key_hash)",
        "a repeat reads a key's row by its hash only",
        (f"{GUARD_STEPS}::test_one_key_string_for_two_patients_answers_each_their_own",),
    ),
    # --- the Redis copy -----------------------------------------------------------------
    Mutant(
        "cache_key.any_user",
        "app/payments/cache.py",
        '    return f"idem:v3:{user_id}:{key_hash}"',
        '    return f"idem:v3:{key_hash}"',
        "the Redis copy of a key is shared by every user",
        (f"{GUARD_STEPS}::test_one_key_string_for_two_patients_answers_each_their_own",),
    ),
    Mutant(
        "cache.never_written",
        "app/payments/service.py",
        "                cache.put_response(checkout.user_id, checkout.key_hash, text)",
        "                pass",
        "finished keys are never copied to Redis",
        (
            f"{GUARD_STEPS}::test_a_repeat_is_answered_from_redis_and_after_a_flush_from_the_database",
        ),
    ),
    Mutant(
        "expiry.cache_without_ttl",
        "app/payments/cache.py",
        '    redis_client.call("cache write", lambda r: r.set(answer_key(user_id, key_hash), text, ex=ttl))',
        '    redis_client.call("cache write", lambda r: r.set(answer_key(user_id, key_hash), text))',
        "the Redis copy of a key outlives the key",
        (f"{GUARD_STEPS}::test_the_redis_copy_of_a_key_expires_with_the_key",),
    ),
    # --- key expiry ---------------------------------------------------------------------
    Mutant(
        "expiry.key_never_expires",
        "app/payments/service.py",
        "            expired=record.expires_at <= utcnow(),",
        "            expired=False,",
        "a key past its TTL is never forgotten",
        (f"{SERVICE}::test_an_expired_key_starts_a_new_request",),
    ),
    Mutant(
        "expiry.takeover_keeps_old_fingerprint",
        "app/payments/idempotency.py",
        "    record.fingerprint = fingerprint\n",
        "",
        "a key taken over after expiry keeps the old request's fingerprint",
        (f"{GUARD_STEPS}::test_an_expired_key_taken_over_replays_its_new_request",),
    ),
    # --- sales invoice and credit memo serials, partial refunds ----------------------------
    Mutant(
        "serial.counter_not_locked",
        "app/payments/serials.py",
        "        .with_for_update()\n    ).scalar_one()",
        "    ).scalar_one()",
        "two captures read the same last serial and take the same number",
        (
            f"{SERIALS}::test_two_hundred_captures_of_two_hundred_sales_at_once_are_serials_1_to_200",
        ),
    ),
    Mutant(
        "refund.amount_not_capped",
        "app/payments/refunds.py",
        "    if amount > remaining:\n        return refused(session, payment, _too_much(payment, amount, remaining))\n",
        "",
        "refunds add up to more than was captured",
        (f"{PARTIAL_REFUNDS}::test_twenty_concurrent_refunds_never_return_more_than_was_captured",),
    ),
    # --- the lifecycle: locks and re-checks -----------------------------------------------
    Mutant(
        "transition.consultation_not_locked",
        "app/payments/lifecycle.py",
        "        select(Consultation.id).where(Consultation.id == consultation_id).with_for_update()",
        "        select(Consultation.id).where(Consultation.id == consultation_id)",
        "a transition no longer locks the payment's consultation",
        (
            f"{GUARD_STEPS}::"
            "test_a_late_success_waits_for_an_open_checkout_and_records_a_duplicate_charge",
            EXPIRY,
        ),
    ),
    Mutant(
        "transition.payment_not_locked",
        "app/payments/lifecycle.py",
        "        .where(Payment.id == payment_id)\n        .with_for_update()\n",
        "        .where(Payment.id == payment_id)\n",
        "a transition no longer locks the payment row",
        (f"{GUARD_STEPS}::test_a_transition_waits_for_a_writer_holding_only_the_payment_row",),
    ),
    Mutant(
        "transition.expire_not_rechecked",
        "app/payments/lifecycle.py",
        "    if not is_stale(payment):\n        return False\n",
        "",
        "expiry does not re-check the payment after its lock",
        (f"{EXPIRY}::test_expiry_waiting_behind_a_confirmation_finds_the_payment_paid",),
    ),
    Mutant(
        "confirm.same_transaction_not_idempotent",
        "app/payments/decisions.py",
        "    if facts.recorded_transaction_id == facts.transaction_id and facts.status in CHARGED:",
        "    if False and facts.status in CHARGED:",
        "the same transaction id again is treated as a second charge",
        (f"{CONFIRM}::test_the_same_transaction_id_again_answers_200_and_changes_nothing",),
    ),
    Mutant(
        "confirm.second_charge_not_recorded",
        "app/payments/decisions.py",
        "        return Decision(Verdict.DUPLICATE_CHARGE, DuplicateChargeReason.ALREADY_COMPLETED)",
        "        return Decision(Verdict.UNCHANGED)",
        "another charge on a completed payment is answered as seen before, with no record for staff",
        (f"{WEBHOOKS}::test_a_second_charge_reported_by_the_provider_is_recorded_for_staff",),
    ),
    Mutant(
        "confirm.late_success_ignores_other_payment",
        "app/payments/confirmation.py",
        "        other_active_payment_id=_other_active_payment(session, payment) if uncharged else None,",
        "        other_active_payment_id=None,",
        "a late success completes an expired payment beside the patient's new one",
        (f"{EXPIRY}::test_a_late_success_after_the_patient_paid_again_is_a_duplicate_charge",),
    ),
    Mutant(
        "confirm.duplicate_recorded_every_time",
        "app/payments/confirmation.py",
        "    if not _recorded(session, payment.id, kind, transaction_id):",
        "    if True:",
        "the same extra charge reported twice is recorded twice",
        (f"{GUARD_STEPS}::test_one_extra_charge_reported_twice_is_recorded_once",),
    ),
    Mutant(
        "decline.undoes_completed",
        "app/payments/decisions.py",
        "    if status not in CONFIRMABLE:\n        return Decision(Verdict.CANNOT)\n",
        "",
        "a late decline fails a completed payment",
        (f"{WEBHOOKS}::test_a_late_decline_does_not_undo_a_completed_payment",),
    ),
    Mutant(
        "refund.any_status",
        "app/payments/refunds.py",
        '    if payment.status != PaymentStatus.COMPLETED:\n        return refused(session, payment, cannot(payment, "refunded"))',
        "",
        "a payment that was never paid can be refunded",
        (f"{EXPIRY}::test_only_a_completed_payment_can_be_refunded",),
    ),
    Mutant(
        "refund.tax_not_reversed",
        "app/payments/refunds.py",
        '        payment.tax_record.status = "reversed"',
        "        pass",
        "a refund leaves the tax record as if the sale stood",
        (f"{EXPIRY}::test_a_staff_refund_refunds_the_payment_the_invoice_and_reverses_the_tax",),
    ),
    Mutant(
        "actor.patients_allowed",
        "app/payments/lifecycle.py",
        "    if not actor.is_staff:\n        raise Forbidden",
        "    if False:\n        raise Forbidden",
        "a patient may confirm or refund",
        (f"{CONFIRM}::test_the_service_itself_refuses_patients_and_changes_nothing",),
    ),
    # --- the provider's notifications ------------------------------------------------------
    Mutant(
        "webhook.event_not_deduplicated",
        "app/gateway/webhooks.py",
        "    return session.execute(stmt).first() is not None\n\n\ndef _already_processed",
        "    session.execute(stmt)\n    return True\n\n\ndef _already_processed",
        "a redelivered event id is applied again",
        (f"{WEBHOOKS}::test_the_same_webhook_ten_times_in_sequence_makes_one_transition",),
    ),
    Mutant(
        "signature.not_compared",
        "app/gateway/signing.py",
        "    if not any(matches):",
        "    if False:",
        "a notification with a wrong signature is accepted",
        (f"{WEBHOOKS}::test_untrusted_notifications_are_401_and_change_nothing",),
    ),
    Mutant(
        "signature.no_tolerance",
        "app/gateway/signing.py",
        "    if abs(current - timestamp) > tolerance:",
        "    if False:",
        "a captured notification can be replayed any time later",
        (f"{WEBHOOKS}::test_untrusted_notifications_are_401_and_change_nothing",),
    ),
    Mutant(
        "signature.timestamp_unsigned",
        "app/gateway/signing.py",
        '    message = str(timestamp).encode("ascii") + b"." + body',
        "    message = body",
        "the signed message leaves out the timestamp",
        (f"{WEBHOOKS}::test_a_signature_computed_by_hand_from_the_documented_scheme_is_accepted",),
    ),
    # --- the checkout form's token ---------------------------------------------------------
    Mutant(
        "token.any_patient",
        "app/checkout/tokens.py",
        '        if payload.get("u") != user_id or payload.get("c") != consultation_id:',
        '        if payload.get("c") != consultation_id:',
        "a form token works for another patient",
        (f"{TOKENS}::test_a_token_does_not_verify_for_another_patient_or_consultation",),
    ),
    Mutant(
        "token.any_consultation",
        "app/checkout/tokens.py",
        '        if payload.get("u") != user_id or payload.get("c") != consultation_id:',
        '        if payload.get("u") != user_id:',
        "a form token works for another consultation",
        (f"{TOKENS}::test_a_token_does_not_verify_for_another_patient_or_consultation",),
    ),
    Mutant(
        "token.never_expires",
        "app/checkout/tokens.py",
        "            payload = self._serializer().loads(token, max_age=self.max_age)",
        "            payload = self._serializer().loads(token)",
        "a form token never expires",
        (f"{TOKENS}::test_a_token_older_than_max_age_is_expired",),
    ),
    # --- the other guards' serialization, the cache switch, the retry ----------------------
    Mutant(
        "lock.redis_lock_guard_without_lock",
        "app/payments/guards.py",
        '"redis_lock": Guard("redis_lock", _redis_lock)',
        '"redis_lock": Guard("redis_lock", _no_lock)',
        "the redis_lock guard takes no Redis lock",
        (f"{GUARD_STEPS}::test_the_redis_lock_alone_serializes_fifty_checkouts",),
    ),
    Mutant(
        "cache.hybrid_without_cache",
        "app/payments/guards.py",
        '"hybrid": Guard("hybrid", _row_lock, use_cache=True)',
        '"hybrid": Guard("hybrid", _row_lock)',
        "the default guard never answers a repeat from Redis",
        (
            f"{GUARD_STEPS}::test_a_repeat_is_answered_from_redis_and_after_a_flush_from_the_database",
        ),
    ),
    Mutant(
        "retry.lost_race_raised",
        "app/payments/service.py",
        "            if not dberrors.violates(exc, dberrors.ACTIVE_PAYMENT_INDEX):\n                raise",
        "            if True:\n                raise",
        "a race lost on the partial index is not retried into a 409",
        (
            f"{STORMS}::test_fifty_threads_with_fifty_keys_make_one_payment_and_49_conflicts[none-optimistic]",
        ),
    ),
    Mutant(
        "retry.last_attempt_not_answered",
        "app/payments/service.py",
        "            if last:\n                return _conflict_after_race(checkout)",
        "            if last:\n                raise",
        "the last lost race on the index is not answered with the winner",
        (f"{STORMS}::test_the_partial_index_alone_turns_a_lost_race_into_409",),
    ),
    Mutant(
        "scope.any_patients_consultation",
        "app/payments/access.py",
        "    if patient_id is not None and patient_id == user_id:",
        "    if patient_id is not None:",
        "a patient may pay for another patient's consultation",
        (
            "tests/integration/test_api_payments.py::test_another_patients_consultation_is_404_and_staff_get_403",
        ),
    ),
    Mutant(
        "token.key_without_method",
        "app/checkout/tokens.py",
        '    return f"checkout:{nonce}:{payment_method}"',
        '    return f"checkout:{nonce}"',
        "Back and another method reuses the form's key for another payload (a 422)",
        (f"{TOKENS}::test_the_idempotency_key_names_the_nonce_and_the_method",),
    ),
    Mutant(
        "session.cache_not_revoked",
        "app/auth/sessions.py",
        "    ended = owner.info.pop(_ENDED, ())",
        "    ended = ()",
        "a logged-out session's cached user id keeps answering repeated submits",
        (
            "tests/integration/test_caches.py::"
            "test_a_copied_cookie_gets_no_cached_answer_once_its_session_ended",
        ),
    ),
    # --- the index predicate -----------------------------------------------------------------
    Mutant(
        "predicate.completed_not_active",
        "app/models/payments.py",
        "ACTIVE_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.COMPLETED)",
        "ACTIVE_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)",
        "'active' (queries and the index's predicate) leaves out completed payments",
        (
            f"{GUARD_STEPS}::test_paying_again_for_a_completed_consultation_names_the_completed_payment",
        ),
    ),
)
