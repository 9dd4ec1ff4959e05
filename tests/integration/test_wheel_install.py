"""A built wheel is a complete install: ``pip install`` of it, with no ``pybabel compile``
and no repository beside it, serves the pages, their static files and Indonesian and
Filipino (setup.py copies the folders and compiles the catalogs into the package).

The wheel is built without build isolation (the test environment has setuptools and Babel),
from a copy of the files a source distribution carries, so the build cannot lean on
anything else in the working tree (an old build/ folder, compiled .mo files).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from tests.support.i18n import ROOT

# What MANIFEST.in puts in a source distribution, besides the package.
SOURCES = ("app", "templates", "static", "translations", "migrations")
FILES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md")
LEFT_OUT = shutil.ignore_patterns("__pycache__", "*.py[co]", "*.mo")

# Run by the installed copy's interpreter: the login page in each language, a static file.
SERVE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import app
    from app import create_app

    flask_app = create_app({
        "APP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + sys.argv[1],
        "REDIS_URL": None,
        "RATELIMIT_ENABLED": False,
    })
    client = flask_app.test_client()
    pages = {lang: client.get("/login", headers={"Accept-Language": lang}).text
             for lang in ("en", "id", "fil")}
    css = client.get("/static/css/app.css")
    print(json.dumps({
        "package": str(Path(app.__file__).parent),
        "templates": flask_app.template_folder,
        "pages": pages,
        "css": [css.status_code, css.content_type],
    }))
    """
)


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, capture_output=True)


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    for name in SOURCES:
        shutil.copytree(ROOT / name, source / name, ignore=LEFT_OUT)
    for name in FILES:
        shutil.copyfile(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), str(source))
    [wheel] = wheels.glob("*.whl")
    return wheel


def test_an_installed_wheel_serves_the_pages_in_indonesian_and_filipino(tmp_path):
    # given a wheel built from the sources
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    # then it carries the compiled catalogs (not their sources), the pages and their files
    for locale in ("id", "fil"):
        assert f"app/translations/{locale}/LC_MESSAGES/messages.mo" in names
    assert not [n for n in names if n.endswith((".po", ".pot"))]
    for name in ("templates/base.html", "templates/checkout/checkout.html", "static/css/app.css"):
        assert f"app/{name}" in names, name
    assert "app/migrations/env.py" in names
    assert any(n.startswith("app/migrations/versions/") for n in names)
    # when it is installed where the repository cannot be seen, and nothing is compiled
    target = tmp_path / "site"
    pip("install", "--no-deps", "--no-index", "--target", str(target), str(wheel))
    env = {**os.environ, "PYTHONPATH": str(target), "APP_ENV": "testing"}
    served = subprocess.run(
        [sys.executable, "-c", SERVE, str(tmp_path / "checkout.db")],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    answer = json.loads(served.stdout.strip().splitlines()[-1])
    # then the installed copy serves its own pages, translated, and its own static files
    assert answer["package"] == str(target / "app")
    assert answer["templates"] == str(target / "app" / "templates")
    pages = answer["pages"]
    assert '<html lang="en"' in pages["en"] and ">Log in<" in pages["en"]
    assert '<html lang="id"' in pages["id"] and ">Masuk<" in pages["id"]
    assert '<html lang="fil"' in pages["fil"] and ">Mag-log in<" in pages["fil"]
    assert answer["css"] == [200, "text/css; charset=utf-8"]
    # read from the wheel's .mo files, none written at start
    assert sorted(p.name for p in (target / "app" / "translations").rglob("*.*")) == [
        "messages.mo",
        "messages.mo",
    ]
