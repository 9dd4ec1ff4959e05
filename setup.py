"""The build step that makes an installed wheel complete (the rest is in pyproject.toml).

The repository keeps ``templates/``, ``static/``, ``translations/`` and ``migrations/`` at its
top level. An installed package has no top level, so ``build_py`` copies them into the
package (``app/templates``...) and compiles each ``.po`` catalog into the ``.mo`` the app
reads (``app/translations/<locale>/LC_MESSAGES/messages.mo``; the ``.po`` stays out). The
app finds them there (``app.config.RESOURCES``): ``pip install .`` serves Indonesian and
Filipino with no ``pybabel compile`` step. An editable install reads the top-level folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: Copied into the package as they are.
FOLDERS = ("templates", "static", "migrations")
CATALOGS = HERE / "translations"
SKIP = shutil.ignore_patterns("__pycache__", "*.py[co]", "*.mo", "*.po", "*.pot")


class BuildWithPagesAndCatalogs(build_py):
    """``build_py``, then the page folders and the compiled catalogs into ``app/``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        package = Path(self.build_lib) / "app"
        for name in FOLDERS:
            target = package / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / name, target, ignore=SKIP)
        for po in sorted(CATALOGS.glob("*/LC_MESSAGES/messages.po")):
            mo = package / "translations" / po.relative_to(CATALOGS).with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parts[-3])
            with mo.open("wb") as target:
                write_mo(target, catalog)


setup(cmdclass={"build_py": BuildWithPagesAndCatalogs})
