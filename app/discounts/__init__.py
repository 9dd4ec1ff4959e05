from flask import Blueprint

bp = Blueprint("discounts", __name__, url_prefix="/staff")

from app.discounts import cli, routes  # noqa: E402,F401
