"""Which language a page reads, the footer's switch (no JavaScript), and the API's detail.

Order (app/i18n.py): the signed-in user's saved choice > the session's choice > the
browser's Accept-Language > DEFAULT_LOCALE.
"""

from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.i18n import _current_path
from app.models import User
from tests.support.auth import AuthActions
from tests.support.factory import PASSWORD, auth
from tests.support.html import hidden_inputs


def lang(response) -> str:
    return re.search(r'<html lang="([\w-]+)"', response.get_data(as_text=True)).group(1)


def heading(response) -> str:
    return re.search(r"<h1>(.*?)</h1>", response.get_data(as_text=True)).group(1)


def saved_locale(app, user) -> str | None:
    with app.app_context():
        return db.session.get(User, user.id).locale


def switch(client, locale: str, page: str = "/login", **headers):
    """Press the footer's Change button as a browser without JavaScript would: the form's
    own fields (next, and a signed-in user's CSRF token) plus the chosen option."""
    fields = hidden_inputs(client.get(page, headers=headers).get_data(as_text=True))
    assert "next" in fields, "the page has no language switch"
    return client.post("/language", data={**fields, "locale": locale}, headers=headers)


@pytest.fixture
def csrf_app(make_app):
    return make_app(WTF_CSRF_ENABLED=True)


@pytest.mark.parametrize(
    ("accept", "expected", "title"),
    [
        ("id-ID,id;q=0.9,en;q=0.5", "id", "Masuk"),
        ("fil-PH", "fil", "Mag-log in"),
        ("tl-PH,en;q=0.5", "fil", "Mag-log in"),  # Tagalog reads Filipino
        ("id-ID,en-US;q=0.9", "id", "Masuk"),  # the region does not lose to an exact en
        ("en;q=0.4,fil;q=0.9", "fil", "Mag-log in"),
        ("fr-FR,de;q=0.8", "en", "Log in"),  # none of ours: the default
        ("", "en", "Log in"),
    ],
)
def test_the_browser_language_picks_the_page_language(client, accept, expected, title):
    response = client.get("/login", headers={"Accept-Language": accept})
    assert (lang(response), heading(response)) == (expected, title)


def test_default_locale_applies_when_the_browser_names_none_of_ours(make_app):
    client = make_app(DEFAULT_LOCALE="fil").test_client()
    assert lang(client.get("/login", headers={"Accept-Language": "fr"})) == "fil"
    assert lang(client.get("/login", headers={"Accept-Language": "id"})) == "id"


def test_the_switch_works_without_javascript_and_beats_the_browser(csrf_app):
    client = csrf_app.test_client()
    response = switch(client, "fil", "/login?next=%2Fpayments%2F1", **{"Accept-Language": "id"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=%2Fpayments%2F1"  # back where it was
    page = client.get("/login", headers={"Accept-Language": "id"})
    assert (lang(page), heading(page)) == ("fil", "Mag-log in")
    assert '<option value="fil" lang="fil" selected>Filipino</option>' in page.text


def test_a_signed_in_user_s_switch_without_its_csrf_token_changes_nothing(csrf_app, factory):
    patient = factory.patient()
    client = csrf_app.test_client(user=patient)
    response = client.post("/language", data={"locale": "id", "next": "/"})
    assert response.status_code == 400
    assert saved_locale(csrf_app, patient) is None
    assert lang(client.get("/")) == "en"


@pytest.mark.parametrize("locale", ["fr", "", "ID ", "en_US"])
def test_an_unknown_language_is_refused_and_nothing_is_saved(app, factory, locale):
    patient = factory.patient()
    client = app.test_client(user=patient)
    response = client.post("/language", data={"locale": locale, "next": "/"})
    assert response.status_code == 400
    assert saved_locale(app, patient) is None


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_the_switch_never_sends_the_reader_off_site(client, target):
    response = client.post("/language", data={"locale": "id", "next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_a_signed_in_users_choice_is_saved_and_beats_the_browser(app, factory):
    patient = factory.patient()
    client = app.test_client(user=patient)
    assert client.post("/language", data={"locale": "id", "next": "/"}).status_code == 303
    assert saved_locale(app, patient) == "id"
    # A new session (another device, the browser in English) still reads Indonesian.
    other = app.test_client(user=patient)
    page = other.get("/", headers={"Accept-Language": "en-US,en"})
    assert lang(page) == "id" and "Keluar" in page.text


def test_the_choice_made_before_signing_in_is_kept_on_the_account(app, factory):
    patient = factory.patient()
    client = app.test_client()
    client.post("/language", data={"locale": "fil", "next": "/login"})
    response = client.post("/login", data={"email": patient.email, "password": PASSWORD})
    assert response.status_code == 302
    assert saved_locale(app, patient) == "fil"
    assert lang(client.get("/")) == "fil"


def test_a_saved_choice_is_not_overwritten_by_a_visitors_session(app, factory):
    patient = factory.patient()
    app.test_client(user=patient).post("/language", data={"locale": "id", "next": "/"})
    client = app.test_client()
    client.post("/language", data={"locale": "fil", "next": "/login"})
    client.post("/login", data={"email": patient.email, "password": PASSWORD})
    assert saved_locale(app, patient) == "id"
    assert lang(client.get("/")) == "id"


def test_flash_and_form_errors_follow_the_language(client, factory):
    patient = factory.patient()
    headers = {"Accept-Language": "id"}
    wrong = client.post("/login", data={"email": patient.email, "password": "x"}, headers=headers)
    assert "Email atau kata sandi salah." in wrong.text
    empty = client.post("/login", data={"email": "", "password": ""}, headers=headers)
    assert empty.status_code == 422
    assert "Email: Kolom ini wajib diisi." in empty.text
    assert "Kata sandi: Kolom ini wajib diisi." in empty.text
    # Flask-Login's "please log in" flash, in Filipino.
    redirected = client.get("/", headers={"Accept-Language": "fil"}, follow_redirects=True)
    assert "Mag-log in muna para magpatuloy." in redirected.text


@pytest.mark.parametrize(
    ("accept", "heading_text", "detail"),
    [
        ("id", "Tidak ditemukan", "Kami tidak menemukan halaman itu."),
        ("fil", "Hindi nahanap", "Hindi namin nahanap ang pahinang iyan."),
        ("en", "Not found", "We could not find that page."),
    ],
)
def test_error_pages_read_in_the_language(client, accept, heading_text, detail):
    response = client.get("/no-such-page", headers={"Accept-Language": accept})
    assert response.status_code == 404
    assert heading(response) == heading_text and detail in response.text
    assert lang(response) == accept


def test_the_api_keeps_an_english_title_and_translates_the_detail(app, factory):
    patient = factory.patient()
    client = app.test_client()
    missing = 2**31 - 1
    for accept, detail in [
        ("id", f"Pembayaran {missing} tidak ada."),
        ("fil", f"Walang bayad na may numerong {missing}."),
        ("en", f"Payment {missing} does not exist."),
    ]:
        response = client.get(
            f"/api/v1/payments/{missing}", headers={**auth(patient), "Accept-Language": accept}
        )
        body = response.get_json()
        assert response.status_code == 404
        assert (body["title"], body["detail"]) == ("Payment not found", detail)


def test_the_api_follows_accept_language_not_the_saved_choice(app, factory):
    patient = factory.patient()
    app.test_client(user=patient).post("/language", data={"locale": "fil", "next": "/"})
    body = (
        app.test_client()
        .post(
            "/api/v1/payments",
            data="[]",
            content_type="application/json",
            headers={**auth(patient), "Accept-Language": "id"},
        )
        .get_json()
    )
    assert body["title"] == "Bad request body"
    assert body["detail"] == "Isi permintaan harus berupa objek JSON."


# --- the staff pages' refusals and filter errors ------------------------------------------


@pytest.mark.parametrize(
    ("accept", "deleted", "refunded"),
    [
        (
            "fil",
            "Binura ang bayad: hindi na ito lumalabas sa listahan o sa mga kabuuan.",
            "ay bayad na: ang bayad lang na walang nailipat na pera (tinanggihan, nag-expire o "
            "kinansela) ang puwedeng burahin. I-refund na lang ito.",
        ),
        (
            "en",
            "Payment deleted: it no longer appears in the list or the totals.",
            "is paid: only a payment that moved no money (failed, expired or cancelled) "
            "can be deleted. Refund it instead.",
        ),
    ],
)
def test_the_staff_refusals_and_flashes_follow_the_language(
    app, factory, accept, deleted, refunded
):
    """The lifecycle's refusal (English in the service) reaches staff in their language, with
    the status as a word of it; a done delete flashes in it too."""
    from tests.support.invoices import InvoiceSpec, add_invoices

    staff = factory.staff()
    paid, void = add_invoices(
        app, factory.patient(), [InvoiceSpec(status="paid"), InvoiceSpec(status="void")]
    )
    client = AuthActions(app).client_for(staff)
    headers = {"Accept-Language": accept}
    refused = client.post(
        f"/staff/invoices/{paid}/delete",
        data={"reason": "x"},
        headers=headers,
        follow_redirects=True,
    )
    assert refused.status_code == 409
    assert lang(refused) == accept
    assert refunded in refused.text
    done = client.post(
        f"/staff/invoices/{void}/delete",
        data={"reason": "x"},
        headers=headers,
        follow_redirects=True,
    )
    assert deleted in done.text


def test_a_bad_staff_filter_is_explained_in_the_language(app, factory):
    client = AuthActions(app).client_for(factory.staff())
    response = client.get(
        "/staff/invoices?issued_from=2026-13-01", headers={"Accept-Language": "id"}
    )
    assert response.status_code == 400
    assert (
        "Diterbitkan dari: Gunakan tanggal seperti 2026-11-26 (tahun-bulan-hari)." in response.text
    )


def test_the_switch_on_the_refund_confirmation_keeps_the_reader_there(app, factory):
    """The refund's confirmation is reached by a POST that redirects (POST/redirect/GET):
    its address answers GET, so the switch comes back to it, never to a 405."""
    from tests.support.invoices import InvoiceSpec, add_invoices

    [number] = add_invoices(app, factory.patient(), [InvoiceSpec(status="paid")])
    client = AuthActions(app).client_for(factory.staff())
    confirm = client.post(
        f"/staff/invoices/{number}/refund/confirm",
        data={"reason": "Doctor away"},
        follow_redirects=True,
    )
    assert confirm.status_code == 200
    fields = hidden_inputs(confirm.text.split('class="language-switch', 1)[1])
    assert fields["next"] == f"/staff/invoices/{number}/refund/confirm"
    switched = client.post("/language", data={**fields, "locale": "id"})
    assert switched.status_code == 303
    landed = client.get(switched.headers["Location"], follow_redirects=True)
    assert landed.status_code == 200 and lang(landed) == "id"
    assert "Doctor away" in landed.text  # the same confirmation, now in Indonesian


@pytest.mark.parametrize(
    ("referer", "back_to"),
    [
        ("http://localhost/staff/invoices?status=paid", "/staff/invoices?status=paid"),
        ("https://elsewhere.example/staff/invoices", "/"),  # another site: not followed
        (None, "/"),
    ],
)
def test_a_page_a_post_answered_at_a_post_only_address_sends_the_switch_back_to_a_get(
    app, referer, back_to
):
    """For a page answered by a POST at an address that answers no GET, the switch goes back
    to the same site's Referer, else home; never to a 405."""
    headers = {"Referer": referer} if referer else {}
    with app.test_request_context("/staff/invoices/X/refund", method="POST", headers=headers):
        assert _current_path() == back_to
