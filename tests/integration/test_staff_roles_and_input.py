"""A cashier is offered only what a cashier may do; refund amounts and reasons that are not
ones get a sentence saying what is wrong, on the staff form and in the API."""

from __future__ import annotations

import re

import pytest

from app.auth.roles import required_role
from app.models import Role
from tests.support.auth import AuthActions
from tests.support.lifecycle import state

_ACTION = re.compile(
    r'<form[^>]*\baction="([^"]+)"[^>]*\bmethod="post"|<form[^>]*\bmethod="post"[^>]*\baction="([^"]+)"'
)
_LINK = re.compile(r'<a [^>]*href="(/staff[^"?#]*)')


def _endpoint(app, path: str, method: str) -> str:
    adapter = app.url_map.bind("localhost")
    return adapter.match(path, method=method)[0]


def _manager_only(app, path: str, method: str) -> bool:
    view = app.view_functions[_endpoint(app, path, method)]
    return required_role(view) == Role.MANAGER


def test_a_cashier_is_offered_no_manager_s_form_or_link_on_any_staff_page(app, paid, factory):
    # given a cashier, and pages holding every kind of action (a paid invoice, a failed one)
    payment_id, number, manager_client, _ = paid
    cashier = AuthActions(app).client_for(factory.cashier())
    pages = [
        "/staff/invoices",
        f"/staff/invoices/{number}",
        "/staff/attention",
        "/staff/books",
        "/staff/discounts/log",
    ]
    # when the cashier opens each, then no form posts to, and no link opens, a manager's page
    for page in pages:
        response = cashier.get(page)
        assert response.status_code == 200, page
        with app.app_context():
            for match in _ACTION.finditer(response.text):
                action = (match[1] or match[2]).replace("&amp;", "&").split("?")[0]
                if action.startswith("/staff"):
                    assert not _manager_only(app, action, "POST"), (page, action)
            for link in _LINK.findall(response.text):
                assert not _manager_only(app, link, "GET"), (page, link)
    # and the manager still gets the refund form on the same invoice
    assert (
        f"/staff/invoices/{number}/refund/confirm"
        in manager_client.get(f"/staff/invoices/{number}").text
    )


def test_a_cashier_who_reaches_a_manager_s_form_is_told_to_ask_a_manager(app, paid, factory):
    payment_id, number, _, _ = paid
    before = state(app, payment_id)
    cashier = AuthActions(app).client_for(factory.cashier())
    response = cashier.post(
        f"/staff/invoices/{number}/refund/confirm",
        data={"reason": "Doctor ill"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 403
    assert "Only a manager can do this" in response.text
    assert "You are signed in as a cashier" in response.text
    assert state(app, payment_id) == before


def _refund_error(staff_client, number: str, amount: str, reason: str = "Doctor ill") -> str:
    response = staff_client.post(
        f"/staff/invoices/{number}/refund/confirm",
        data={"amount": amount, "reason": reason},
        follow_redirects=True,
    )
    assert response.status_code == 422, response.text[-800:]
    return " ".join(re.findall(r'<p class="field-error">([^<]*)</p>', response.text))


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("999.999", "Use at most two decimals (centavos): 999.999 has 3."),
        ("99999999999999999999", "At most ₱"),
        ("1,00,0", "Use “,” only between groups of three digits, as in 1,120.00."),
        ("abc", "Enter the amount in digits"),
        ("0.00", "Enter an amount more than ₱0.00."),
        ("-5", "Enter an amount more than ₱0.00."),
    ],
)
def test_a_refund_amount_that_is_not_one_says_what_is_wrong(app, paid, amount, words):
    payment_id, number, staff_client, _ = paid
    before = state(app, payment_id)
    assert words in _refund_error(staff_client, number, amount)
    assert state(app, payment_id) == before


@pytest.mark.parametrize("amount", ["₱1,000.00", "1,000.00", "１０００", "₱ 1000"])
def test_an_amount_typed_as_the_page_shows_it_is_taken(app, paid, amount):
    payment_id, number, staff_client, _ = paid
    response = staff_client.post(
        f"/staff/invoices/{number}/refund/confirm",
        data={"amount": amount, "reason": "Doctor ill"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "₱1,000.00" in response.text  # the confirmation page


@pytest.mark.parametrize(
    ("amount", "shown"),
    [("₱1.000,00", "₱1.000,00"), ("2.750,50", "₱2.750,50"), ("1000.00", "₱1.000,00")],
)
def test_in_indonesian_an_amount_is_read_as_the_indonesian_page_shows_it(app, paid, amount, shown):
    # "1.000,00" is one thousand on an Indonesian page; the form's own plain "1000.00" too
    payment_id, number, staff_client, _ = paid
    response = staff_client.post(
        f"/staff/invoices/{number}/refund/confirm",
        data={"amount": amount, "reason": "Dokter sakit"},
        headers={"Accept-Language": "id"},
        follow_redirects=True,
    )
    assert response.status_code == 200, response.text[-500:]
    assert shown in response.text  # the confirmation page, in Indonesian


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("Tab refund \u202eevil\u202c test", "Remove the invisible character U+202E"),
        ("\u202e", "Remove the invisible character U+202E"),
        ("Refund\u200b", "Remove the invisible character U+200B"),
        ("\u200d\u200d ", "Give a reason: this one is empty or only spaces."),
        ("x" * 5000, "Shorten the reason to at most 500 characters: this one has 5000."),
    ],
)
@pytest.mark.parametrize("form", ["refund", "delete"])
def test_a_reason_with_invisible_or_reordering_characters_is_refused_clearly(
    app, paid, reason, words, form
):
    # the reason is checked before anything else, so the paid invoice serves both forms
    _, number, staff_client, _ = paid
    response = staff_client.post(
        f"/staff/invoices/{number}/{form}/confirm", data={"reason": reason}, follow_redirects=True
    )
    assert words in response.text
    assert response.status_code == 422


def test_a_reason_with_an_emoji_joined_by_zwj_is_taken(app, paid):
    payment_id, number, staff_client, _ = paid
    response = staff_client.post(
        f"/staff/invoices/{number}/refund/confirm",
        data={"reason": "Doctor \U0001f469\u200d\u2695\ufe0f ill"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "Refund this payment?" in response.text


def test_the_reason_limit_is_said_next_to_the_field_and_nothing_cuts_it(app, paid):
    _, number, staff_client, _ = paid
    page = staff_client.get(f"/staff/invoices/{number}").text
    assert "At most 500 characters." in page
    assert "maxlength" not in page.split('id="refund"')[1].split("</section>")[0]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"reason": "ok", "amount": "999.999"}, "amount", "at most two decimals"),
        ({"reason": "ok", "amount": "1,000"}, "amount", "Enter the amount in digits"),
        ({"reason": "a \u202eb"}, "reason", "U+202E"),
        ({"reason": "x" * 501}, "reason", "at most 500 characters"),
    ],
)
def test_the_api_refuses_a_bad_refund_with_422_saying_why(
    app, paid, api, factory, body, field, words
):
    payment_id, _, _, _ = paid
    before = state(app, payment_id)
    response = api.refund(factory.staff(), payment_id, **body)
    assert response.status_code == 422, response.get_json()
    assert words in str(response.get_json())
    assert state(app, payment_id) == before


def test_the_api_says_how_much_is_left_for_a_huge_amount(app, paid, api, factory):
    payment_id, _, _, _ = paid
    response = api.refund(factory.staff(), payment_id, amount="99999999999999999999")
    assert response.status_code in (409, 422)
    assert "5000.00" in str(response.get_json())
