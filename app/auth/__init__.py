"""Who is signed in: login, logout and the language switch (``routes``), the second factor
(``two_factor``, ``two_factor_routes``), roles (``roles``), session cookies
(``sessions``), API bearer tokens (``tokens``) and their Redis copy (``token_cache``)."""

from flask import Blueprint, Flask

from app.extensions import login_manager

bp = Blueprint("auth", __name__)

from app.auth import (  # noqa: E402,F401  (the routes attach themselves to bp)
    roles,
    routes,
    sessions,
    sign_in,
    two_factor_routes,
)


def init_app(app: Flask) -> None:
    """The pages, Flask-Login's user loader, and the revocation of ended sessions' cache."""
    app.register_blueprint(bp)
    app.add_template_global(roles.allowed)
    login_manager.user_loader(routes.load_user)
    sessions.listen_for_ended_sessions()
    sign_in.init_app(app)
