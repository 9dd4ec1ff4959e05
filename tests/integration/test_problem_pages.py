"""Every problem ``type`` the code can send resolves to a page (HTML and JSON).

The set of types is read from the code, not listed here: every domain error's
type in ``PROBLEMS``, every ``"/problems/..."`` literal and every literal slug passed to
``problem()`` anywhere under app/, and the app-wide HTTP errors app/errors.py words.
"""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest
from werkzeug.http import HTTP_STATUS_CODES

from app.api.problems import PROBLEM_TYPES, PROBLEMS, http_problem, problem
from app.errors import MESSAGES

APP = Path(__file__).resolve().parents[2] / "app"
REGISTRY = APP / "api" / "problems.py"
_TYPE_LITERAL = re.compile(r"^/problems/([a-z0-9-]+)$")


def _slugs_in_source() -> set[str]:
    slugs = set()
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = _TYPE_LITERAL.match(node.value)
                if match:
                    slugs.add(match.group(1))
            is_problem_call = (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "problem"
            )
            # problems.py itself sends PROBLEMS' slugs (read above) through from_error().
            if is_problem_call and len(node.args) >= 4 and path != REGISTRY:
                slug = node.args[3]
                where = f"{path.relative_to(APP.parent)}:{node.lineno}"
                assert isinstance(slug, ast.Constant), f"{where}: pass problem() a literal slug"
                slugs.add(slug.value)
    return slugs


def emitted_slugs() -> set[str]:
    slugs = {entry.slug for entry in PROBLEMS.values()}
    slugs |= _slugs_in_source()
    slugs |= {HTTP_STATUS_CODES[status].lower().replace(" ", "-") for status in MESSAGES}
    slugs.add("page-expired")  # app/errors.py's CSRF page, titled in its own words
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
        problem(400, "Made up", "A type without a page.", "made-up")


def test_http_errors_without_words_of_their_own_are_about_blank(app):
    with app.test_request_context():
        response = http_problem(418, "I'm a teapot", "Short and stout.")
    assert response.json["type"] == "about:blank"


def test_a_real_refusal_names_a_type_that_resolves(client, patient, consultation):
    from tests.support.factory import auth

    response = client.post("/api/v1/payments", json={}, headers=auth(patient))
    assert response.status_code == 422
    assert client.get(response.json["type"]).status_code == 200
