"""Staff refund part of a payment from its invoice page: amount, confirmation, credit memo,
the sheet's refunded total and net, and errors summarised at the top of the page."""

from __future__ import annotations

import re

from tests.support.invariants import check_invariants, serial_runs
from tests.support.lifecycle import state


def _confirm_page(client, number, **form):
    return client.post(f"/staff/invoices/{number}/refund/confirm", data=form, follow_redirects=True)


def _hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def test_a_partial_refund_from_the_page_issues_a_credit_memo_and_the_sheet_shows_the_net(app, paid):
    payment_id, number, client, _ = paid
    page = client.get(f"/staff/invoices/{number}").text
    assert 'value="5000.00"' in page  # the amount field offers all that is left
    assert "The patient sees this reason" in page

    asked = _confirm_page(client, number, amount="1,120.00", reason="Shortened visit")
    assert asked.status_code == 200
    assert "Refund part of this payment?" in asked.text
    assert _hidden(asked.text, "amount") == "1120.00"
    form = {k: _hidden(asked.text, k) for k in ("amount", "reason", "version")}
    done = client.post(f"/staff/invoices/{number}/refund", data=form)
    assert done.status_code == 303

    sheet = client.get(f"/staff/invoices/{number}").text.split("</article>")[0]
    assert "Sales invoice No. 000001" in sheet
    assert "Credit memo CM-000001" in sheet
    assert re.search(r'class="invoice-refunded">.*−₱1,120\.00', sheet)
    assert re.search(r'class="invoice-net">.*₱3,880\.00', sheet)
    assert state(app, payment_id)["status"] == "completed"

    # the same confirmation page posted again refunds nothing more
    again = client.post(f"/staff/invoices/{number}/refund", data=form)
    assert again.status_code == 303  # post/redirect/get, also for a refusal
    again = client.get(again.headers["Location"])
    assert again.status_code == 409
    assert "changed since the page was shown" in again.text
    assert serial_runs(app)[("credit_memo", app.config["CLINIC_BRANCH_CODE"])] == [1]
    check_invariants(app)


def test_asking_more_than_is_left_is_an_error_summarised_at_the_top(app, paid):
    _, number, client, _ = paid
    answer = _confirm_page(client, number, amount="5000.01", reason="Too much")
    assert answer.status_code == 422
    html = answer.text
    summary = html.index("data-error-summary")
    assert summary < html.index('class="page-head')  # before the invoice, at the top
    assert '<a href="#amount">' in html[summary:]
    assert "At most ₱5,000.00 is left to refund." in html[summary:]


def test_a_blank_reason_and_a_bad_amount_are_both_listed_with_links(app, paid):
    _, number, client, _ = paid
    html = _confirm_page(client, number, amount="abc", reason=" ").text
    summary = html[html.index("data-error-summary") :]
    assert '<a href="#amount">' in summary and '<a href="#reason">' in summary
    assert 'tabindex="-1"' in html  # focusable, so static/js/print.js can focus it


def test_the_confirmation_page_is_a_get_that_reloads_and_switches_language_safely(app, paid):
    payment_id, number, client, _ = paid
    asked = client.post(
        f"/staff/invoices/{number}/refund/confirm", data={"amount": "100", "reason": "Part"}
    )
    assert asked.status_code == 303
    url = asked.headers["Location"]
    before = state(app, payment_id)
    for _ in range(2):
        assert "Refund part of this payment?" in client.get(url).text
    assert "I-refund ang bahagi" in client.get(url, headers={"Accept-Language": "fil"}).text
    assert state(app, payment_id) == before


def test_a_refused_form_shows_once_then_the_page_is_clean_again(app, paid):
    _, number, client, _ = paid
    refused = client.post(f"/staff/invoices/{number}/refund/confirm", data={"reason": ""})
    page = client.get(refused.headers["Location"])
    assert page.status_code == 422 and "data-error-summary" in page.text
    again = client.get(refused.headers["Location"])  # a reload: nothing is posted, no errors
    assert again.status_code == 200 and "data-error-summary" not in again.text


def test_a_refunded_invoice_says_its_refund_once_and_its_reason_once(app, paid):
    _, number, client, _ = paid
    client.post(f"/staff/invoices/{number}/refund", data={"reason": "Doctor unavailable"})
    html = client.get(f"/staff/invoices/{number}").text
    main = html.split("<main", 1)[1]
    assert main.count("refund-sentence") == 1
    # once on the sheet (which staff are told the patient sees), once in the audit history
    assert main.count("Doctor unavailable") == 2
    assert "none yet" not in main.split("Receipt", 1)[1].split("</dd>", 1)[0]
