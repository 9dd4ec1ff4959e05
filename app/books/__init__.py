"""The day's books: per clinic day, the invoices and credit memos issued, what was
charged by payment method, what is still pending; closed by a manager (then fixed)."""

from flask import Blueprint

bp = Blueprint("books", __name__, url_prefix="/staff")

from app.books import routes  # noqa: E402,F401
