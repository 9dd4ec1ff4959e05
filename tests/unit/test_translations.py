"""The catalogs are complete and current; money stays pesos and times clinic time in every locale.

Pure: no database. The catalog tests read translations/ as committed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from babel.messages.catalog import TranslationError
from babel.messages.checkers import python_format
from flask import Flask
from flask_babel import Babel, force_locale

from app import formatting
from app.i18n import LOCALES, N_, Phrase, translated
from tests.support.i18n import (
    POT,
    TRANSLATED,
    TRANSLATIONS,
    english_leftovers,
    english_msgids,
    extract_msgids,
    looks_english,
    po_path,
    pot_ids,
    read_catalog,
    untranslated,
)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(locale):
    catalog = read_catalog(po_path(locale), locale)
    messages = [m for m in catalog if m.id]
    missing = [m.id for m in messages if untranslated(m)]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert len(messages) >= 100  # the catalog was read, not an empty file
    assert missing == [], f"{locale}: translate these (docs/translations.md)"
    assert fuzzy == [], f"{locale}: review these, then remove the fuzzy flag"
    assert list(catalog.obsolete) == [], f"{locale}: obsolete entries; run make messages"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_each_translation_keeps_its_placeholders(locale):
    catalog = read_catalog(po_path(locale), locale)
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        try:
            python_format(catalog, message)
        except TranslationError as error:
            wrong.append((message.id, str(error)))
    assert wrong == []


@pytest.mark.parametrize("locale", TRANSLATED)
def test_each_catalog_has_exactly_the_templates_messages(locale):
    catalog_ids = {m.id for m in read_catalog(po_path(locale), locale) if m.id}
    assert catalog_ids == pot_ids(), f"{locale}: run make messages"


def test_the_template_is_current_with_the_code(tmp_path):
    current = extract_msgids(tmp_path)
    committed = pot_ids()
    assert current - committed == set(), "strings in the code missing from messages.pot"
    assert committed - current == set(), "messages.pot lists strings the code no longer has"


def test_the_configured_locales_have_catalogs():
    assert set(LOCALES) == {"en", *TRANSLATED}
    assert POT.exists() and all(po_path(locale).exists() for locale in TRANSLATED)


# --- the English detector the browser tests use ---------------------------------------


def test_the_detector_flags_every_english_sentence_of_the_catalog():
    sentences = [m for m in english_msgids() if len(m.split()) >= 4]
    assert len(sentences) >= 40
    assert english_leftovers(sentences) == sentences


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_detector_passes_every_translation(locale):
    translations = []
    for m in read_catalog(po_path(locale), locale):
        if m.id:
            translations += m.string if isinstance(m.string, tuple) else [m.string]
    assert english_leftovers(translations) == []


def test_the_detector_passes_names_and_numbers():
    texts = [
        "Demo Family Clinic",
        "123 Demo Street, Barangay Sample, Quezon City 1100, Philippines",
        "Dr. Ana Cruz",
        "billing@clinic.example",
        "₱5,000.00",
        "English",
        "SandboxPay",
    ]
    assert english_leftovers(texts) == []
    assert looks_english("Please try again in a moment.")
    assert not looks_english("Silakan coba lagi sebentar lagi.")


# --- money and times in each locale ---------------------------------------------------


@pytest.fixture
def babel_app():
    app = Flask(__name__)
    app.config["CLINIC_TIMEZONE"] = "Asia/Manila"
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app)
    with app.test_request_context():
        yield app


@pytest.mark.parametrize(
    ("locale", "amount", "when"),
    [
        ("en", "₱1,250.00", "1 Dec 2026, 10:30 +08:00"),
        ("fil", "₱1,250.00", "1 Dis 2026, 10:30 +08:00"),
        # Indonesian digits (CLDR: . groups, , decimals), the peso sign kept: never Rp or IDR.
        ("id", "₱1.250,00", "1 Des 2026, 10:30 +08:00"),
    ],
)
def test_money_is_pesos_and_times_clinic_time_in_each_locale(babel_app, locale, amount, when):
    with force_locale(locale):
        assert formatting.format_money(Decimal("1250")) == amount
        assert formatting.format_when(datetime(2026, 12, 1, 2, 30, tzinfo=UTC)) == when


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("value", ["1000", "1234567.895", "0.5", "99999999.99"])
def test_no_locale_writes_another_currency(babel_app, locale, value):
    with force_locale(locale):
        text = formatting.format_money(Decimal(value))
    assert text.startswith("₱") and "Rp" not in text and "IDR" not in text and "PHP" not in text
    digits = "".join(c for c in text if c.isdigit())
    assert digits == f"{formatting.money(value):f}".replace(".", "")  # same amount, any grouping


def test_state_words_follow_the_locale(babel_app):
    with force_locale("id"):
        assert formatting.payment_state("completed") == "Lunas"
        assert formatting.amount_label("failed") == "Tidak ditagih"
    with force_locale("fil"):
        assert formatting.payment_state("pending", stale=True) == "Nag-expire ang bayad"
        assert formatting.amount_label("refunded") == "Halagang siningil"
        note = formatting.RefundNote(
            at=datetime(2026, 12, 1, 2, 30, tzinfo=UTC),
            amount=Decimal("1250"),
            method="GCash",
            reason="",
        )
        assert note.sentence == (
            "Na-refund noong 1 Dis 2026, 10:30 +08:00: ibabalik ang ₱1,250.00 "
            "sa pamamagitan ng GCash."
        )


# --- Phrase: English everywhere, translated where shown -------------------------------


def test_a_phrase_is_its_english_text_until_shown(babel_app):
    detail = Phrase(N_("Payment %(id)s does not exist."), id=7)
    assert detail == "Payment 7 does not exist." and isinstance(detail, str)
    with force_locale("id"):
        assert translated(detail) == "Pembayaran 7 tidak ada."
        assert translated("Not found") == "Tidak ditemukan"
        # Text built at run time without a msgid stays as it is rather than failing.
        assert translated("Payment 7 does not exist.") == "Payment 7 does not exist."
        assert translated("") == "" and translated(None) == ""
