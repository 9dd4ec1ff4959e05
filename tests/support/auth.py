"""Logging in to the HTML pages from the Flask test client: the one place tests do it.

Modelled on the ``auth`` fixture of Flask's tutorial (``AuthActions``); the ``auth_actions``
fixture in tests/conftest.py is one for the test's ``app``, and ``AuthActions(other_app)``
serves an app a test builds itself. (The browser tests log in through
``tests/support/browser.log_in``.)
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.factory import PASSWORD

LOGIN = "/login"


class AuthActions:
    """Log people in to ``app``: through its login form, or straight into a session.

    ``attempt`` and ``log_in`` act on the client they are given; ``client_for`` and
    ``session_for`` make a new client of ``app``.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def attempt(
        self, client: FlaskClient, email: str, password: str = PASSWORD, **request
    ) -> TestResponse:
        """POST the login form from ``client``; the answer, unchecked, for tests of the login
        itself. ``request`` is passed to the test client (``headers=``, ``environ_base=``).

        :return: the ``TestResponse`` (302 on success, 200 or 422 with the form otherwise).
        """
        data = {"email": email, "password": password}
        return client.post(LOGIN, data=data, **request)

    def log_in(self, client: FlaskClient, user, password: str = PASSWORD) -> TestResponse:
        """Log ``user`` in on ``client`` through the form, and check it worked (a 302).

        The login form carries no CSRF token (a visitor has no session to bind one to; the
        view refuses cross-site posts instead), so this works with CSRF checks on or off.
        """
        data = {"email": user.email, "password": password}
        response = client.post(LOGIN, data=data)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    def client_for(self, user) -> FlaskClient:
        """A new client (a fresh browser) logged in as ``user`` through the form."""
        client = self.app.test_client()
        self.log_in(client, user)
        return client

    def session_for(self, user) -> FlaskClient:
        """A new client whose session cookie already names ``user``, with no login request:
        for tests that count requests, queries or rate-limit hits.

        Every app's client is tests/support/openapi.py's CheckedClient, a FlaskLoginClient.
        """
        return self.app.test_client(user=user)
