from flask import Blueprint

bp = Blueprint("gateway", __name__)

from app.gateway import routes  # noqa: E402,F401
