"""An install that skipped ``pybabel compile`` still serves every language: the app compiles
the catalogs it finds missing or stale when it starts (app/i18n.py ``compile_catalogs``)."""

from __future__ import annotations

import logging
import os
import shutil

from babel.support import Translations

from app.i18n import TRANSLATIONS, compile_catalogs


def test_missing_catalogs_are_compiled_and_read(tmp_path):
    # given the committed catalogs with no .mo beside them
    copy = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS, copy, ignore=shutil.ignore_patterns("*.mo"))
    # when the app starts
    written = compile_catalogs(copy)
    # then each translated language has its .mo, and it reads
    assert sorted(p.parent.parent.name for p in written) == ["fil", "id"]
    indonesian = Translations.load(str(copy), ["id"])
    assert indonesian.gettext("Continue to payment") == "Lanjut ke pembayaran"
    # and a second start, with nothing changed, writes nothing
    assert compile_catalogs(copy) == []


def test_a_catalog_edited_after_compiling_is_compiled_again(tmp_path):
    copy = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS, copy, ignore=shutil.ignore_patterns("*.mo"))
    compile_catalogs(copy)
    po = copy / "fil" / "LC_MESSAGES" / "messages.po"
    mo = po.with_suffix(".mo")
    os.utime(mo, (po.stat().st_mtime - 10, po.stat().st_mtime - 10))
    assert compile_catalogs(copy) == [mo]


def test_a_directory_it_cannot_write_leaves_a_warning_not_a_crash(tmp_path, caplog):
    copy = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS, copy, ignore=shutil.ignore_patterns("*.mo"))
    for folder in copy.glob("*/LC_MESSAGES"):
        blocked = folder / "messages.mo"
        blocked.mkdir()  # where the file would go, and older than the .po: cannot be written
        os.utime(blocked, (0, 0))
    caplog.set_level(logging.WARNING)
    assert compile_catalogs(copy) == []
    assert "could not compile" in caplog.text and "pages read English" in caplog.text
