"""Every problem ``type`` the code can send resolves to a page (HTML and JSON).

The set of types is read from the code, not listed here: every domain error's
problem in ``ERRORS``, every ``"/problems/..."`` literal and every literal slug passed to
``problem()`` or looked up in ``PROBLEM_TYPES`` anywhere under app/, and the app-wide HTTP errors of ``HTTP_ERRORS``.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest

from app.api.problems import from_error, http_problem, problem
from app.problem_types import ERRORS, HTTP_ERRORS, PROBLEM_TYPES

APP = Path(__file__).resolve().parents[2] / "app"
_TYPE_LITERAL = re.compile(r"^/problems/([a-z0-9-]+)$")


def _slugs_in_source() -> set[str]:
    slugs = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = _TYPE_LITERAL.match(node.value)
                if match:
                    slugs.add(match.group(1))
            is_registry_lookup = (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Name)
                and node.value.id == "PROBLEM_TYPES"
                and isinstance(node.slice, ast.Constant)
            )
            if is_registry_lookup:
                slugs.add(node.slice.value)
            is_problem_call = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "problem"
            )
            # problems.py itself sends ERRORS' and HTTP_ERRORS' slugs (read below).
            if is_problem_call and node.args and isinstance(node.args[0], ast.Constant):
                slug = node.args[0]
                where = f"{path.relative_to(APP.parent)}:{node.lineno}"
                assert isinstance(slug.value, str), f"{where}: pass problem() a literal slug"
                slugs.add(slug.value)
    return slugs


def emitted_slugs() -> set[str]:
    slugs = set(ERRORS.values()) | set(HTTP_ERRORS.values())
    slugs |= _slugs_in_source()
    slugs.add("page-expired")  # app/http_errors.py's CSRF answer
    return slugs


def test_every_type_the_code_can_send_has_a_page_and_every_page_a_sender():
    emitted = emitted_slugs()
    assert len(emitted) >= 20  # the scan found the code's types, not an empty set
    assert emitted - PROBLEM_TYPES.keys() == set(), "types sent without a page"
    assert PROBLEM_TYPES.keys() - emitted == set(), "pages for types nothing sends"


def test_each_problem_page_answers_a_person_and_a_client(client):
    # One app for all pages (a database per slug would cost a second each).
    for slug in sorted(emitted_slugs()):
        kind = PROBLEM_TYPES[slug]
        page = client.get(kind.uri, headers={"Accept": "text/html,*/*;q=0.8"})
        assert page.status_code == 200 and page.mimetype == "text/html", slug
        words = html.unescape(page.get_data(as_text=True))
        for part in (kind.title, "What happened", "Will retrying help?", "What to do"):
            assert part in words, (slug, part)
        assert "Accept" in page.headers["Vary"]
        data = client.get(kind.uri, headers={"Accept": "application/json"})
        assert data.status_code == 200 and data.mimetype == "application/json", slug
        assert data.json["type"] == kind.uri and data.json["status"] == kind.status
        assert all(data.json[f].strip() for f in ("title", "happened", "retry", "action")), slug


def test_an_unknown_problem_type_is_404(client):
    assert client.get("/problems/no-such-problem").status_code == 404


def test_sending_an_unregistered_type_fails_loudly(app):
    with app.test_request_context(), pytest.raises(KeyError):
        problem("made-up", "A type without a page.")


def test_every_domain_error_is_sent_with_its_registered_status_and_title(app):
    # RFC 9457: a type's title is the same on every occurrence.
    with app.test_request_context():
        for error, slug in ERRORS.items():
            kind = PROBLEM_TYPES[slug]
            body = from_error(error("Some detail.")).json
            assert (body["type"], body["title"], body["status"]) == (
                kind.uri,
                kind.title,
                kind.status,
            )
            assert kind.page_message, f"{slug}: an HTML page has no words for it"


def test_an_http_error_is_sent_with_its_registered_title_in_the_api_and_on_a_page(client):
    kind = PROBLEM_TYPES["not-found"]
    api = client.get("/api/v1/no-such-thing")
    assert (api.status_code, api.json["type"], api.json["title"]) == (404, kind.uri, kind.title)
    page = client.get("/no-such-page").get_data(as_text=True)
    assert kind.page_title in page and kind.page_message in page


def test_problem_types_and_domain_errors_are_one_table(app):
    # The statuses and titles live in app/problem_types.py alone: no other table repeats them.
    for path in APP.rglob("*.py"):
        if path.name == "problem_types.py":
            continue
        source = path.read_text()
        for kind in PROBLEM_TYPES.values():
            assert f'"{kind.title}"' not in source, (path, kind.title)


def test_http_errors_without_words_of_their_own_are_about_blank(app):
    with app.test_request_context():
        response = http_problem(418, "I'm a teapot", "Short and stout.")
    assert response.json["type"] == "about:blank"


def test_a_real_refusal_names_a_type_that_resolves(client, patient, consultation):
    from tests.support.factory import auth

    response = client.post("/api/v1/payments", json={}, headers=auth(patient))
    assert response.status_code == 422
    assert client.get(response.json["type"]).status_code == 200
