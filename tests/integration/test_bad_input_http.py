"""Bad input over HTTP (real PostgreSQL and Redis): every case is a clear 4xx and changes nothing.

The API is fuzzed field by field (each example spoils one field of an otherwise valid
request, so the refusal is that field's), then by body shape; the login form gets arbitrary
fields and encodings. After every example the row count of every table is compared with
the count before the suite began.
"""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import Headers
from werkzeug.http import parse_options_header

from app.api.keys import MalformedKeyHeader, header_key
from app.payments.requests import MAX_ID
from tests.support import bad_input
from tests.support.factory import PASSWORD, Factory, auth
from tests.support.fuzz import count_case, json_values
from tests.support.invariants import check_invariants, row_counts

FEE = Decimal("5000")


def fuzz(examples: int) -> settings:
    # One database for all of a test's examples: nothing may change, and that is what we check.
    return settings(
        max_examples=examples,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


class Target:
    """A patient with an unpaid consultation (the fuzz target) and a paid one, counted."""

    def __init__(self, app) -> None:
        factory = Factory(app)
        self.app = app
        self.client = app.test_client()
        self.patient = factory.patient()
        self.consultation = factory.consultation(self.patient, fee=str(FEE))
        paid = factory.consultation(self.patient)
        first = self.client.post(
            "/api/v1/payments",
            json={"consultation_id": paid.id, "payment_method": "gcash"},
            headers={**auth(self.patient), "Idempotency-Key": "the-only-payment"},
        )
        assert first.status_code == 201
        self.ids = {self.consultation.id, paid.id}
        self.counts = row_counts(app)

    def valid_fields(self) -> dict:
        return {"consultation_id": self.consultation.id, "payment_method": "gcash"}

    def post(self, data: bytes | str, content_type: str = "application/json", headers=None):
        return self.client.post(
            "/api/v1/payments",
            data=data,
            content_type=content_type,
            headers={**auth(self.patient), **(headers or {})},
        )

    def assert_refused(self, response, status: int, suite: str) -> None:
        """A problem+json 4xx with a detail, and not one row changed anywhere."""
        count_case(suite)
        assert response.status_code == status, response.get_data(as_text=True)[:300]
        assert response.mimetype == "application/problem+json"
        body = response.json
        assert body["status"] == status
        assert isinstance(body["detail"], str) and body["detail"].strip()
        assert row_counts(self.app) == self.counts


@pytest.fixture
def target(app) -> Target:
    target = Target(app)
    yield target
    check_invariants(app)


def fragment(value) -> str:
    """``value`` as JSON text the way a client would type it (Decimals exactly)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 13_000:
        return "1" + "0" * 5000  # past Python's int-to-text limit: a client can still send it
    if isinstance(value, Decimal):
        return str(value)  # NaN and Infinity come out as text JSON does not allow
    return json.dumps(value)


def _reject(name):
    raise ValueError(name)


def decoded(text: str | bytes):
    """What the server will see (it decodes bytes, BOM and all), or ValueError."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject)


def body_with(target: Target, field: str, raw: str) -> str:
    fields = {**target.valid_fields(), field: "__RAW__"}
    return json.dumps(fields).replace('"__RAW__"', raw)


def expected_for(field_value_text: str) -> int | None:
    """400 if the fragment is not JSON; None to decide per field."""
    try:
        decoded(field_value_text)
    except (ValueError, RecursionError):
        return 400
    return None


@given(amount=bad_input.bad_amounts)
@fuzz(300)
def test_bad_amounts_are_refused(target, amount):
    raw = fragment(amount)
    status = expected_for(raw)
    if status is None:
        value = decoded(raw)
        assume(not (bad_input.looks_valid_amount(value) and Decimal(str(value).strip()) == FEE))
        status = 422
    target.assert_refused(target.post(body_with(target, "amount", raw)), status, "api-amount")


@given(method=bad_input.bad_methods)
@fuzz(150)
def test_bad_methods_are_refused(target, method):
    assume(not bad_input.looks_valid_method(method))
    response = target.post(body_with(target, "payment_method", fragment(method)))
    target.assert_refused(response, 422, "api-method")


@given(key=bad_input.bad_keys)
@fuzz(150)
def test_bad_keys_in_the_body_are_refused(target, key):
    assume(not bad_input.looks_valid_key(key))
    response = target.post(body_with(target, "idempotency_key", fragment(key)))
    target.assert_refused(response, 422, "api-key-body")


@given(key=bad_input.bad_header_keys)
@fuzz(150)
def test_bad_keys_in_the_header_are_refused(target, key):
    # Not one key (a list, parameters, broken quoting) is 400; one key that breaks the
    # key's rules is 422 like the body's. tests/unit/test_idempotency_header.py pins the forms.
    try:
        status = 422
        assume(not bad_input.looks_valid_key(header_key(Headers({"Idempotency-Key": key}))))
    except MalformedKeyHeader:
        status = 400
    response = target.post(json.dumps(target.valid_fields()), headers={"Idempotency-Key": key})
    target.assert_refused(response, status, "api-key-header")


def json_integer(value) -> bool:
    """JSON Schema's integer: a number whose fraction is zero (1 and 1.0 alike)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()


@given(consultation_id=bad_input.bad_consultation_ids)
@fuzz(150)
def test_bad_consultation_ids_are_refused_or_not_found(target, consultation_id):
    raw = fragment(consultation_id)
    status = expected_for(raw)
    if status is None:
        value = decoded(raw)
        is_id = json_integer(value) and value >= 1
        assume(not (is_id and value in target.ids))
        status = 404 if is_id and value > MAX_ID else 422
    response = target.post(body_with(target, "consultation_id", raw))
    target.assert_refused(response, status, "api-consultation")


_content_types = st.one_of(
    st.sampled_from(
        [
            "text/plain",
            "text/plain; charset=utf-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            "application/javascript",
            "application/json-seq",
            "application/jsonp",
            "json",
            "",
            "application/octet-stream",
        ]
    ),
    st.from_regex(r"\A[a-z]{1,12}/[a-z0-9.+-]{1,20}\Z"),
)


def _is_json_type(content_type: str) -> bool:
    mimetype = parse_options_header(content_type)[0].lower()
    return mimetype == "application/json" or mimetype.endswith("+json")


@given(content_type=_content_types)
@fuzz(100)
def test_a_valid_body_under_any_other_content_type_is_415(target, content_type):
    assume(not _is_json_type(content_type))
    response = target.post(json.dumps(target.valid_fields()), content_type=content_type)
    target.assert_refused(response, 415, "api-content-type")


@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        json_values.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
        st.integers(min_value=2, max_value=20_000).map(lambda n: "[" * n),
        st.sampled_from(["", "{", '{"a":1', "{'a': 1}", '{"a": NaN}', "null", "[]", "\ufeff{}"]),
    )
)
@fuzz(200)
def test_a_body_that_is_not_a_json_object_is_400(target, data):
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    with contextlib.suppress(ValueError, UnicodeDecodeError, RecursionError):
        assume(not isinstance(decoded(raw), dict))
    target.assert_refused(target.post(raw), 400, "api-malformed")


@given(
    st.dictionaries(
        st.text(max_size=12).filter(
            lambda k: k not in {"consultation_id", "payment_method", "amount", "idempotency_key"}
        ),
        json_values,
        max_size=4,
    )
)
@fuzz(100)
def test_an_object_without_the_required_fields_is_422(target, fields):
    target.assert_refused(target.post(json.dumps(fields)), 422, "api-missing-fields")


@given(extra=st.integers(min_value=1, max_value=64 * 1024))
@fuzz(20)
def test_a_body_over_max_content_length_is_413(target, extra):
    size = target.app.config["MAX_CONTENT_LENGTH"] + extra
    fields = {**target.valid_fields(), "pad": "x" * size}
    target.assert_refused(target.post(json.dumps(fields)), 413, "api-too-large")


@given(token=st.text(st.characters(max_codepoint=0xFF, exclude_characters="\r\n"), max_size=300))
@fuzz(100)
def test_any_other_bearer_token_is_401(target, token):
    assume(token.strip() != target.patient.token)
    response = target.client.post(
        "/api/v1/payments",
        json=target.valid_fields(),
        headers={"Authorization": f"Bearer {token}"},
    )
    target.assert_refused(response, 401, "api-token")


# ---------------------------------------------------------------- the login form

_form_text = st.text(max_size=300)
_login_forms = st.fixed_dictionaries(
    {},
    optional={
        "email": _form_text,
        "password": _form_text,
        "csrf_token": _form_text,
        "next": _form_text,
        "remember": _form_text,
    },
)


@given(form=_login_forms, as_json=st.booleans())
@fuzz(150)
def test_any_login_form_is_refused_clearly_and_logs_nobody_in(app, form, as_json):
    # given a patient whose password the fuzz never sends
    client = app.test_client()
    assume(form.get("password") != PASSWORD)
    before = row_counts(app)
    # when any form (or a JSON body) is posted to /login
    sent = {"json": form} if as_json else {"data": form}
    response = client.post("/login", **sent)
    count_case("login-form")
    # then it is a field error (422) or "wrong email or password" (200), nothing more
    # (a refused password is one audit row, "sign_in.failed"; a field error writes nothing)
    page = response.get_data(as_text=True)
    after = row_counts(app)
    if response.status_code == 200:
        assert "Wrong email or password." in page
        assert after.pop("audit_events") == before.pop("audit_events") + 1
    else:
        assert response.status_code == 422, page[:300]
        assert 'class="field-error"' in page
    assert after == before
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_a_login_body_over_the_limit_is_a_readable_413(client):
    data = {"email": "x@example.test", "password": "x" * (70 * 1024)}
    response = client.post("/login", data=data)
    count_case("login-form")
    assert response.status_code == 413
    assert "The request is too large." in response.get_data(as_text=True)


@pytest.mark.parametrize("huge", [2**31, 2**63, 10**30])
def test_an_id_no_row_can_have_is_404_on_every_route_that_takes_one(sqlite_app, huge):
    """Every ``<int:...>`` route, every method, on SQLite (the ``make dev`` default, which
    raised OverflowError past 2**63: a 500), as a signed-in patient and as staff."""
    factory = Factory(sqlite_app)
    readers = [factory.patient(), factory.staff()]
    routes = [r for r in sqlite_app.url_map.iter_rules() if "<int:" in r.rule]
    assert len(routes) >= 8
    for user in readers:
        client = sqlite_app.test_client(user=user)
        for rule in routes:
            path = rule.rule
            for name in rule.arguments:
                path = path.replace(f"<int:{name}>", str(huge))
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                answer = client.open(path, method=method)
                # 405 where the same path has a GET rule (Werkzeug reports the method first)
                assert answer.status_code in (404, 405), (method, path, answer.status_code)
                assert answer.status_code == 404 or method != "GET"
