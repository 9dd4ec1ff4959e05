from flask import Blueprint

bp = Blueprint("invoices", __name__, url_prefix="/staff")

from app.invoices import pdf, routes  # noqa: E402,F401
