"""Which language a request reads, and the footer's switch that saves the choice.

Locales: ``en`` (the msgids themselves), ``id`` (Indonesian), ``fil`` (Filipino); the
catalogs are ``translations/<locale>/LC_MESSAGES/messages.po`` (docs/translations.md).

A page's locale, first match wins (``select_locale``):

1. the signed-in user's saved choice (``users.locale``);
2. the choice saved in the session by the switch (visitors not signed in);
3. the browser's ``Accept-Language`` (``tl``, Tagalog, reads Filipino);
4. ``DEFAULT_LOCALE`` (``en``).

The JSON API (``/api/``, ``/webhooks/``) follows ``Accept-Language`` only: a client says
its language on each request, and its ``title`` stays English (a stable identifier).
"""

from __future__ import annotations

import logging
from typing import Any

from babel import Locale
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    has_app_context,
    has_request_context,
    redirect,
    request,
    session,
)
from flask_babel import Babel, LazyString, gettext
from flask_babel import get_locale as babel_locale
from flask_login import current_user

from app.config import LOCALES as LOCALE_CODES
from app.config import ROOT
from app.extensions import csrf
from app.security import same_origin_only

#: Each locale and its name in its own language (the switch shows these).
LOCALES: dict[str, str] = {"en": "English", "id": "Bahasa Indonesia", "fil": "Filipino"}
assert tuple(LOCALES) == LOCALE_CODES
DEFAULT_LOCALE = "en"
TRANSLATIONS = ROOT / "translations"
#: Accept-Language tags that mean one of ours.
ALIASES = {"tl": "fil"}
SESSION_KEY = "locale"
_MACHINE_PREFIXES = ("/api/", "/webhooks/")

log = logging.getLogger("app.i18n")
babel = Babel()
bp = Blueprint("i18n", __name__)


def N_(msgid: str) -> str:
    """Mark ``msgid`` for extraction (pybabel's default ``N_`` keyword); translated later,
    where it is shown (``translated``)."""
    return msgid


class Phrase(str):
    """An English sentence that remembers its msgid and parameters, so the page or API answer
    that shows it can translate it (``translated``). It *is* the English text: logs, flashes
    (stored in the session as a plain string) and comparisons see a normal ``str``.

    ``Phrase(N_("Payment %(id)s does not exist."), id=7)`` reads "Payment 7 does not exist."
    """

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, **params: Any) -> Phrase:
        self = super().__new__(cls, msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params
        return self

    def __reduce__(self):  # copy/pickle keep the msgid and parameters
        return (_phrase, (self.msgid, self.params))


def _phrase(msgid: str, params: dict[str, Any]) -> Phrase:
    return Phrase(msgid, **params)


def translated(text: str | LazyString | None) -> str:
    """``text`` in the request's language: a ``Phrase`` by its msgid and parameters, a lazy
    string as it renders, a plain string by catalog lookup (unchanged when the catalog has
    no entry: a detail built at run time stays English rather than failing)."""
    if not text:
        return "" if text is None else str(text)
    if isinstance(text, Phrase):
        return gettext(text.msgid, **text.params)
    if isinstance(text, LazyString):
        return str(text)
    return gettext(text)


def known(tag: str | None) -> str | None:
    """``tag`` if it names one of our locales (or an alias of one), else None."""
    tag = ALIASES.get(tag or "", tag)
    return tag if tag in LOCALES else None


def select_locale() -> str:
    """The request's locale code (see the module docstring for the order)."""
    if has_request_context():
        if not request.path.startswith(_MACHINE_PREFIXES):
            if current_user and current_user.is_authenticated:
                saved = known(getattr(current_user, "locale", None))
                if saved:
                    return saved
            chosen = known(session.get(SESSION_KEY))
            if chosen:
                return chosen
        best = accepted(request.accept_languages)
        if best:
            return best
    return current_app.config.get("DEFAULT_LOCALE", DEFAULT_LOCALE)


def accepted(languages) -> str | None:
    """The browser's most preferred language we have, by primary subtag: ``id-ID,en;q=0.5``
    reads ``id`` (Werkzeug's ``best_match`` would pick the exact ``en`` over ``id-ID``)."""
    for tag, quality in languages:  # highest quality first
        if quality > 0:
            locale = known(tag.replace("_", "-").split("-")[0].lower())
            if locale:
                return locale
    return None


def current_locale() -> Locale:
    """The Babel ``Locale`` formatting uses: the request's, or ``DEFAULT_LOCALE`` outside one
    (a CLI command, a unit test without the app)."""
    if has_app_context() and "babel" in current_app.extensions:
        locale = babel_locale()
        if locale is not None:
            return locale
    return Locale.parse(DEFAULT_LOCALE)


def html_lang() -> str:
    """The BCP 47 tag for ``<html lang>``: ``en``, ``id`` or ``fil``."""
    return str(current_locale()).replace("_", "-")


@bp.post("/language")
@csrf.exempt
@same_origin_only
def choose_language():
    """The footer's switch (a plain form; no JavaScript): save the choice on the signed-in
    user, else in the session, and go back to the page it was sent from.

    Cross-site posts are refused by their Fetch Metadata; a signed-in user's form also
    carries the session's CSRF token (a visitor has no session to bind one to).

    :raise 400: a locale we do not have, or a signed-in user's missing CSRF token (nothing
        is saved).
    :raise 403: sent from another site.
    """
    from app.auth.routes import safe_next
    from app.db import transaction

    if current_user.is_authenticated and current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect()
    locale = known(request.form.get("locale"))
    if locale is None:
        abort(400)
    if current_user.is_authenticated:
        with transaction():
            current_user.locale = locale
    session[SESSION_KEY] = locale
    return redirect(safe_next(request.form.get("next")) or "/", 303)


def init_app(app: Flask) -> None:
    for code in LOCALES:
        mo = TRANSLATIONS / code / "LC_MESSAGES" / "messages.mo"
        if code != "en" and not mo.exists():
            log.warning(
                "translations: %s is not compiled; %s pages read English "
                "(run `make translations` or `pybabel compile -d translations`)",
                mo.relative_to(ROOT),
                code,
            )
    app.config.setdefault("DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["DEFAULT_LOCALE"]
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    babel.init_app(app, locale_selector=select_locale)
    app.register_blueprint(bp)

    app.jinja_env.globals["translated"] = translated

    @app.context_processor
    def languages():
        return {"locales": LOCALES, "html_lang": html_lang, "current_path": _current_path}


def _current_path() -> str:
    """Where the switch sends the reader back: this page, with its query string."""
    return request.full_path if request.query_string else request.path
