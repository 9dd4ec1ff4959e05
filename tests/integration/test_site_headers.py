"""The headers and transport of a payment site: production defaults, no cookie for a visitor,
API answers nobody caches, static files cached for a year under their content's digest and
sent compressed, and a meta description on every page."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import pytest

from app.config import DEMO_CLINIC
from tests.support.access import ROLES, ROUTES, World, send
from tests.support.factory import PASSWORD, auth
from tests.support.live import ROOT

ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')
COMPRESSING = {"Accept-Encoding": "gzip, deflate, br, zstd"}


def production_environment(monkeypatch) -> None:
    """What an operator must set for production to start, and nothing else."""
    for name in ("SESSION_COOKIE_SECURE", "HSTS_MAX_AGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "a-production-secret")
    monkeypatch.setenv("GATEWAY_WEBHOOK_SECRET", "a-webhook-secret")
    for name, value in DEMO_CLINIC.items():
        monkeypatch.setenv(name, value)


# ---------------------------------------------------------------- production defaults


def test_production_sends_secure_cookies_and_hsts_without_being_told(
    make_app, factory, monkeypatch
):
    production_environment(monkeypatch)
    app = make_app(APP_ENV="production")
    patient = factory.patient()
    client = app.test_client()
    response = client.post("/login", data={"email": patient.email, "password": PASSWORD})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"] == ("max-age=63072000; includeSubDomains")


@pytest.mark.parametrize("env", ["development", "testing"])
def test_development_and_tests_on_plain_http_keep_both_off(make_app, factory, monkeypatch, env):
    production_environment(monkeypatch)
    app = make_app(APP_ENV=env)
    patient = factory.patient()
    response = app.test_client().post("/login", data={"email": patient.email, "password": PASSWORD})
    assert "Secure" not in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in response.headers


def test_the_environment_can_turn_hsts_off_in_production(make_app, monkeypatch):
    production_environment(monkeypatch)
    monkeypatch.setenv("HSTS_MAX_AGE", "0")
    response = make_app(APP_ENV="production").test_client().get("/login")
    assert "Strict-Transport-Security" not in response.headers


# ---------------------------------------------------------------- no cookie for a visitor


@pytest.mark.parametrize("route", [r for r in ROUTES if r[0] == "GET"], ids=" ".join)
def test_no_page_sets_a_cookie_for_a_visitor(app, route):
    response = send(World(app), "anon", *route)
    assert "Set-Cookie" not in response.headers, response.headers["Set-Cookie"]


def test_a_visitor_s_error_page_sets_no_cookie(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers


CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
]
SAME_SITE = [
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    {"Sec-Fetch-Site": "none"},
    {"Origin": "http://localhost"},
    {},  # not a browser: nobody is tricked into sending it
]


@pytest.mark.parametrize("headers", CROSS_SITE, ids=str)
def test_a_login_posted_from_another_site_is_refused_and_starts_no_session(
    client, factory, headers
):
    patient = factory.patient()
    form = {"email": patient.email, "password": PASSWORD}
    response = client.post("/login", data=form, headers=headers)
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers
    assert client.get("/").status_code == 302  # still logged out


@pytest.mark.parametrize("headers", SAME_SITE, ids=str)
def test_a_login_from_the_app_s_own_page_works_with_csrf_on(make_app, factory, headers):
    app = make_app(WTF_CSRF_ENABLED=True)
    patient = factory.patient()
    client = app.test_client()
    assert "csrf_token" not in client.get("/login").get_data(as_text=True)
    form = {"email": patient.email, "password": PASSWORD}
    assert client.post("/login", data=form, headers=headers).status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("headers", CROSS_SITE, ids=str)
def test_a_language_chosen_from_another_site_is_refused(client, headers):
    response = client.post("/language", data={"locale": "id", "next": "/"}, headers=headers)
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers


def test_a_visitor_chooses_a_language_without_a_token_and_a_user_s_form_has_one(make_app, factory):
    app = make_app(WTF_CSRF_ENABLED=True)
    visitor = app.test_client()
    page = visitor.get("/login").get_data(as_text=True)
    assert 'name="csrf_token"' not in page
    answer = visitor.post("/language", data={"locale": "id", "next": "/login"})
    assert answer.status_code == 303
    assert 'lang="id"' in visitor.get("/login").get_data(as_text=True)
    # a signed-in user's switch carries the session's token (test_locales.py: refused without)
    user = app.test_client(user=factory.patient())
    assert 'name="csrf_token"' in user.get("/").get_data(as_text=True)


# ---------------------------------------------------------------- API answers


@pytest.mark.parametrize("signed_in", [True, False], ids=["token", "no-token"])
def test_api_answers_are_never_stored_and_vary_on_the_token_only(client, factory, signed_in):
    patient = factory.patient()
    consultation = factory.consultation(patient)
    headers = auth(patient) if signed_in else {}
    body = {"consultation_id": consultation.id, "payment_method": "gcash"}
    for response in (
        client.post("/api/v1/payments", json=body, headers=headers),
        client.get("/api/v1/payments/1", headers=headers),
    ):
        assert response.headers["Cache-Control"] == "no-store"
        vary = {v.strip().lower() for v in response.headers["Vary"].split(",")}
        assert "authorization" in vary and "cookie" not in vary, vary


# ---------------------------------------------------------------- static files


def assets_of(client, path="/login") -> list[str]:
    return ASSET.findall(client.get(path).get_data(as_text=True))


def test_pages_name_every_static_file_by_its_content_digest(client):
    import hashlib

    assets = assets_of(client)
    assert len(assets) == 5  # icon, stylesheet, three scripts
    for url in assets:
        stem, digest, suffix = re.fullmatch(r"/static/(.+)\.([0-9a-f]{12})(\.\w+)", url).groups()
        content = (ROOT / "static" / (stem + suffix)).read_bytes()
        assert hashlib.sha256(content).hexdigest()[:12] == digest


def test_a_fingerprinted_file_is_cached_a_year_and_not_per_cookie(client):
    client.get("/login")  # whatever the session holds, the file's answer is the same
    for url in assets_of(client):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "cookie" not in response.headers.get("Vary", "").lower()
        assert "Set-Cookie" not in response.headers


def test_a_plain_name_is_revalidated_and_a_stale_digest_is_not_found(client):
    plain = client.get("/static/css/app.css")
    assert plain.status_code == 200
    assert plain.headers["Cache-Control"] == "no-cache"
    assert client.get("/static/css/app.000000000000.css").status_code == 404
    assert client.get("/static/css/nothing.css").status_code == 404


def test_an_edited_file_gets_a_new_address(app, tmp_path):
    from app.assets import Fingerprints

    (tmp_path / "a.css").write_text("p{}")
    prints = Fingerprints(tmp_path)
    before = prints.fingerprinted("a.css")
    (tmp_path / "a.css").write_text("p{color:red}")
    after = prints.fingerprinted("a.css")
    assert before != after
    assert prints.original(after) == "a.css"
    assert prints.original(before) is None


def test_templates_name_static_files_only_through_static_url():
    templates = list(Path(ROOT / "templates").rglob("*.html"))
    offenders = [t.name for t in templates if "url_for('static'" in t.read_text()]
    offenders += [t.name for t in templates if '"/static/' in t.read_text()]
    assert offenders == []


def test_the_browser_s_own_favicon_request_is_cached_a_day_without_no_cache(client):
    response = client.get("/favicon.ico")
    assert response.headers["Cache-Control"] == "public, max-age=86400"


@pytest.mark.parametrize(
    ("encoding", "decode"), [("gzip", gzip.decompress), ("br", brotli.decompress)]
)
def test_static_text_is_sent_compressed_and_pages_are_not(client, encoding, decode):
    htmx = next(url for url in assets_of(client) if "htmx" in url)
    raw = (ROOT / "static/vendor/htmx-2.0.11.min.js").read_bytes()
    response = client.get(htmx, headers={"Accept-Encoding": encoding})
    assert response.headers["Content-Encoding"] == encoding
    assert decode(response.get_data()) == raw
    assert int(response.headers["Content-Length"]) < len(raw) / 2
    # pages carry a CSRF token beside what the visitor typed: never compressed (BREACH)
    page = client.get("/login", headers=COMPRESSING)
    assert "Content-Encoding" not in page.headers


def test_an_edited_file_is_never_sent_with_its_old_compressed_bytes(app, client, tmp_path):
    from app.assets import Fingerprints

    # given a static folder whose file changes while the server runs (make dev)
    app.extensions["fingerprints"] = Fingerprints(tmp_path)
    for content in ("p { color: black; }" * 40, "p { color: red; }" * 40):
        (tmp_path / "a.css").write_text(content)
        for path in ("/static/a.css", "/static/" + Fingerprints(tmp_path).fingerprinted("a.css")):
            response = client.get(path, headers={"Accept-Encoding": "br"})
            assert response.headers["Content-Encoding"] == "br"
            assert brotli.decompress(response.get_data()).decode() == content


def test_a_cached_compressed_file_is_answered_304(client):
    htmx = next(url for url in assets_of(client) if "htmx" in url)
    first = client.get(htmx, headers={"Accept-Encoding": "gzip"})
    again = client.get(
        htmx, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]}
    )
    assert again.status_code == 304


# ---------------------------------------------------------------- meta descriptions


@pytest.mark.parametrize("role", ROLES)
def test_every_page_has_a_meta_description(app, role):
    world = World(app)
    pages = 0
    for method, rule in ROUTES:
        response = send(world, role, method, rule)
        if method != "GET" or response.status_code != 200 or response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        if "<html" not in html:
            continue  # an htmx fragment
        pages += 1
        found = re.search(r'<meta name="description" content="([^"]+)">', html)
        assert found and len(found.group(1)) > 40, f"{rule} as {role}"
    assert pages >= 1


def test_an_error_page_has_a_meta_description(client):
    html = client.get("/no-such-page").get_data(as_text=True)
    assert re.search(r'<meta name="description" content="[^"]{40,}">', html)
