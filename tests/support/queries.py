"""Count the SQL statements an app runs, to pin down what a page or a repeat costs."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from app.db import TIMEOUTS_STATEMENT_START
from app.extensions import db


@contextmanager
def counting_queries(app):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        # each transaction's SET LOCAL timeouts (app/db.py) is not the page's work
        if not statement.startswith(TIMEOUTS_STATEMENT_START):
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
