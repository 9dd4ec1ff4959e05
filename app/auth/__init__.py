"""Who is signed in: login, logout and the language switch (``routes``), session cookies
(``sessions``), API bearer tokens (``tokens``) and their Redis copy (``token_cache``)."""

from flask import Blueprint, Flask

from app.extensions import login_manager

bp = Blueprint("auth", __name__)

from app.auth import routes, sessions  # noqa: E402  (the routes attach themselves to bp)


def init_app(app: Flask) -> None:
    """The pages, Flask-Login's user loader, and the revocation of ended sessions' cache."""
    app.register_blueprint(bp)
    login_manager.user_loader(routes.load_user)
    sessions.listen_for_ended_sessions()
