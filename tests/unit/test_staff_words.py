"""Every code a staff page shows (audit actions, who acted, payment history details, states)
has a word in each language: walks the codes, so a new one without words fails here.

Pure: no database. Reads app/ (its event-writing calls) and translations/ as committed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from app import formatting
from app.invoices import history
from app.models import AuditAction
from app.payments.events import PaymentEventType
from app.staff import audit_log
from tests.support.i18n import TRANSLATIONS

APP = Path(__file__).resolve().parents[2] / "app"
#: The calls that write a payment event: their keyword arguments become the event's details.
EVENT_WRITERS = {
    "record_event",
    "add_event",
    "add_request_event",
    "fail_locked",
    "_close_uncharged",
}
#: Their own parameters, which are not details.
NOT_DETAILS = {"session", "actor", "payment_id", "consultation_id", "reason_code", "kind"}
#: Functions that return a details dict (the created event's, a reported mismatch).
DETAIL_RETURNERS = {"_created_event_data", "reported_mismatch"}


def _dict_keys(node: ast.AST | None) -> set[str]:
    if isinstance(node, ast.IfExp):
        return _dict_keys(node.body) | _dict_keys(node.orelse)
    if not isinstance(node, ast.Dict):
        return set()
    return {k.value for k in node.keys if isinstance(k, ast.Constant)}


def _event_detail_keys() -> set[str]:
    """Every detail name app/ writes into a payment event: the keyword arguments of the
    writers, the ``data = {...}`` dicts handed to them, ``details={...}`` of a decision, and
    what the detail-building functions return."""
    keys: set[str] = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in EVENT_WRITERS:
                    keys |= {k.arg for k in node.keywords if k.arg} - NOT_DETAILS
                keys |= set().union(
                    *(_dict_keys(k.value) for k in node.keywords if k.arg == "details")
                )
                if name == "Decision":
                    keys |= set().union(*(_dict_keys(arg) for arg in node.args))
            elif (
                isinstance(node, ast.Assign)
                and "payments" in path.parts
                and any(getattr(t, "id", "") in ("data", "undeleted") for t in node.targets)
            ):
                keys |= _dict_keys(node.value)
            elif isinstance(node, ast.FunctionDef) and node.name in DETAIL_RETURNERS:
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Return):
                        keys |= _dict_keys(inner.value)
    return keys


def _actions_values() -> set[str]:
    """The ``"action": "..."`` sentences an event stores for staff."""
    found = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    named = isinstance(key, ast.Constant) and key.value == "action"
                    if named and isinstance(value, ast.Constant):
                        found.add(value.value)
    return found


@pytest.fixture
def babel_app():
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app)
    with app.test_request_context():
        yield app


def test_the_walk_finds_the_details_events_carry():
    # a walk that found nothing would pass anything
    assert {"reason", "remaining", "request_id", "refund_id", "other_payment_id", "undeleted"} <= (
        _event_detail_keys()
    )


@pytest.mark.parametrize("locale", ["id", "fil"])
def test_every_event_detail_and_its_codes_read_as_words(babel_app, locale):
    keys = _event_detail_keys()
    with force_locale(locale):
        for key in sorted(keys):
            word = history._detail_name(key)
            assert key in history.DETAIL_WORDS and word != key.replace("_", " "), key
        for action in _actions_values():
            assert history._value("action", action) != action, action


@pytest.mark.parametrize("locale", ["id", "fil"])
def test_every_payment_event_type_has_a_translated_label(babel_app, locale):
    for event_type in PaymentEventType:
        english = history.EVENT_LABELS.get(event_type)
        assert english, f"{event_type} has no label in app/invoices/history.py EVENT_LABELS"
        with force_locale(locale):
            assert history.event_label(event_type) != english, (locale, event_type)


@pytest.mark.parametrize("locale", ["id", "fil"])
def test_every_audit_action_reads_as_words(babel_app, locale):
    with force_locale(locale):
        for action in AuditAction:
            word = audit_log.action_word(action.value)
            assert word != action.value and "." not in word, action
            assert word != audit_log.ACTION_WORDS[action], (locale, action)  # translated


@pytest.mark.parametrize("locale", ["id", "fil"])
def test_who_acted_reads_as_words(babel_app, locale):
    labels = [
        "system:demo",
        "system:checkout",
        "system:expire-stale",
        "system:send-outbox",
        "gateway:sandbox",
        "email:0123456789abcdef",
    ]
    for label in labels:
        with force_locale("en"):
            english = audit_log.actor_word(label)
        with force_locale(locale):
            word = audit_log.actor_word(label)
        assert ":" not in word and word != english, (locale, label, word)


@pytest.mark.parametrize("locale", ["en", "id", "fil"])
def test_a_completed_payment_and_its_paid_invoice_share_one_word(babel_app, locale):
    with force_locale(locale):
        assert formatting.status_word("completed") == formatting.status_word("paid")
