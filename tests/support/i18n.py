"""Catalog helpers for the translation tests: compile, extract, and find English left on a page.

``english_leftovers`` is the check the browser tests run on an ``id`` or ``fil`` page: it
takes the page's visible text nodes and flags each one that is still English, by two
independent signs:

- the node *is* one of our English msgids (a string the catalog should have replaced), or
- it reads as an English sentence: at least two English function words ("the", "your",
  "please"...), making up a good share of its words.

Names and numbers (the clinic's name and address, a doctor, an email, an amount) carry no
function words and are not msgids, so they pass; ``allowed`` lists any other text a page
may show as it is. Words that are also Filipino or Indonesian ("at", "di", "sa", "ang",
"na") are not in the English list.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
POT = TRANSLATIONS / "messages.pot"
TRANSLATED = ("id", "fil")
# The keywords `make messages` gives pybabel (besides its defaults: _, gettext, N_...).
EXTRACT_KEYWORDS = ("lazy_gettext",)


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def read_catalog(path: Path, locale: str | None = None):
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def compile_if_stale() -> None:
    """Write each ``.mo`` older than its ``.po`` (what ``make translations`` does), so a bare
    ``pytest`` run after editing a catalog tests the new words."""
    for locale in TRANSLATED:
        po = po_path(locale)
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        catalog = read_catalog(po, locale)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        mo.write_bytes(buffer.getvalue())


def translated_words(app, language: str, msgids: list[str]) -> list[str]:
    """Each English ``msgid`` as ``app``'s catalog of ``language`` says it (placeholders left)."""
    with app.test_request_context(), force_locale(language):
        return [gettext(m) for m in msgids]


def extract_msgids(tmp_dir: Path) -> set[str]:
    """The msgids the code has now: ``pybabel extract`` as ``make messages`` runs it."""
    out = tmp_dir / "current.pot"
    command = [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg"]
    for keyword in EXTRACT_KEYWORDS:
        command += ["-k", keyword]
    command += ["--no-location", "--omit-header", "-o", str(out), "."]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return {m.id for m in read_catalog(out) if m.id}


def pot_ids() -> set[str | tuple[str, ...]]:
    """The template's message ids: a string, or (singular, plural) for an ngettext."""
    return {m.id for m in read_catalog(POT) if m.id}


def english_msgids() -> set[str]:
    """Every English text of the template, a plural's forms each on their own."""
    texts = set()
    for msgid in pot_ids():
        texts.update(msgid if isinstance(msgid, tuple) else (msgid,))
    return texts


def untranslated(message) -> bool:
    """No translation, or a plural with a form left empty."""
    forms = message.string if isinstance(message.string, tuple) else (message.string,)
    return not all(forms)


# English function words that are not also common Filipino or Indonesian words.
ENGLISH_WORDS = frozenset(
    """
    the a an and or but if of to in on for with from by about into than then
    is are was were be been being has have had do does did not no nothing
    this that these those it its there here what which who when where how
    you your yours we our us they their he she his her i my me
    please can could cannot will would should may must again now
    """.split()  # noqa: SIM905 (a word list reads better as words)
)
_WORD = re.compile(r"[A-Za-z]+(?:[-'][A-Za-z]+)*")  # E-wallet, patient's: one word
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def looks_english(text: str) -> bool:
    """Two or more English function words, a third or more of the text's words."""
    words = [w.lower() for w in _WORD.findall(text)]
    hits = [w for w in words if w in ENGLISH_WORDS]
    return len(hits) >= 2 and len(hits) * 3 >= len(words)


def _msgid_pattern(msgid: str) -> re.Pattern:
    parts = _PLACEHOLDER.split(msgid)
    return re.compile(r"\s*" + r".+?".join(re.escape(p.strip()) for p in parts) + r"\s*", re.S)


def english_leftovers(texts: list[str], allowed: set[str] = frozenset()) -> list[str]:
    """The visible text nodes that are still English (see the module docstring)."""
    msgids = english_msgids()
    # Single-word msgids ("Amount", "Email") are too easily a name; sentences are checked whole.
    patterns = [
        _msgid_pattern(m) for m in msgids if len(_WORD.findall(_PLACEHOLDER.sub("", m))) >= 2
    ]
    flagged = []
    for text in texts:
        text = " ".join(text.split())
        if not text or text in allowed:
            continue
        if looks_english(text) or any(p.fullmatch(text) for p in patterns):
            flagged.append(text)
    return flagged


# The visible text nodes of a page, for Playwright's page.evaluate.
VISIBLE_TEXT_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || ['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(el.tagName)) continue;
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    if (node.textContent.trim()) out.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll('input[type=submit], input[type=button], button')) {
    if (el.value && el.tagName === 'INPUT') out.push(el.value);
  }
  out.push(document.title);
  return out;
}"""
