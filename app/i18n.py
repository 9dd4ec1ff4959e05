"""Which language a request reads (the footer's switch that saves a choice is ``auth.routes``).

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
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, has_app_context, has_request_context, request, session
from flask_babel import Babel, LazyString, gettext
from flask_babel import get_locale as babel_locale
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from app.config import RESOURCES, ConfigError

#: The languages the pages are translated into, each with its name in its own language (the
#: switch shows these; docs/translations.md).
LOCALES: dict[str, str] = {"en": "English", "id": "Bahasa Indonesia", "fil": "Filipino"}
DEFAULT_LOCALE = "en"
TRANSLATIONS = RESOURCES / "translations"
#: Accept-Language tags that mean one of ours.
ALIASES = {"tl": "fil"}
SESSION_KEY = "locale"
_MACHINE_PREFIXES = ("/api/", "/webhooks/")

log = logging.getLogger("app.i18n")
babel = Babel()


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


def compile_catalogs(directory: Path) -> list[Path]:
    """Compile each translated locale's ``.po`` into the ``.mo`` the app reads, where the
    ``.mo`` is missing or older (what ``pybabel compile -d translations`` does), so a
    checkout that skipped that step still serves every language (a built wheel carries them
    compiled, and no ``.po``: setup.py). The ``.mo`` files written.

    A directory the app may not write (a read-only image) leaves that language in English
    with a warning: compile the catalogs when building the image then.
    """
    written = []
    for code in LOCALES:
        po = directory / code / "LC_MESSAGES" / "messages.po"
        mo = po.with_suffix(".mo")
        if not po.exists():  # English: the msgids themselves
            continue
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as source:
                catalog = read_po(source, locale=code)
            # Written aside, then renamed: workers starting together never read half a file.
            partial = mo.with_suffix(f".mo.{os.getpid()}")
            with partial.open("wb") as target:
                write_mo(target, catalog)
            os.replace(partial, mo)
        except OSError as error:
            log.warning(
                "translations: could not compile %s (%s); %s pages read English "
                "(run `make translations` or `pybabel compile -d translations`)",
                po,
                error.strerror or error,
                code,
            )
            continue
        written.append(mo)
    return written


def init_app(app: Flask) -> None:
    """Flask-Babel with ``select_locale``, and the language switch's template globals.

    :raise ConfigError: ``DEFAULT_LOCALE`` is not one of ``LOCALES``.
    """
    app.config.setdefault("DEFAULT_LOCALE", DEFAULT_LOCALE)
    if app.config["DEFAULT_LOCALE"] not in LOCALES:
        raise ConfigError(
            f"DEFAULT_LOCALE must be one of {', '.join(LOCALES)}; "
            f"got {app.config['DEFAULT_LOCALE']!r}"
        )
    compile_catalogs(TRANSLATIONS)
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["DEFAULT_LOCALE"]
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    babel.init_app(app, locale_selector=select_locale)

    app.jinja_env.globals["translated"] = translated

    @app.context_processor
    def languages():
        return {"locales": LOCALES, "html_lang": html_lang, "current_path": _current_path}


def _current_path() -> str:
    """Where the switch sends the reader back: this page, with its query string.

    The switch's way back is a GET (a 303 redirect). A page a POST answered (a refund's
    confirmation, a form shown again with its errors) may have an address that answers no
    GET (405): its reader goes back to the page the form was sent from (the same site's
    ``Referer``), else to the start page.
    """
    here = request.full_path if request.query_string else request.path
    if request.method == "GET" or _answers_get(request.path):
        return here
    sent_from = urlsplit(request.referrer or "")
    if sent_from.netloc == request.host and _answers_get(sent_from.path or "/"):
        return sent_from.path + (f"?{sent_from.query}" if sent_from.query else "")
    return "/"


def _answers_get(path: str) -> bool:
    """True if some route of the app answers GET at ``path``."""
    try:
        current_app.url_map.bind(request.host).match(path, method="GET")
    except HTTPException:
        return False
    return True
