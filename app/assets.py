"""Static files under fingerprinted names, cached for a year and sent compressed.

``static_url("css/app.css")`` (a template global, the one way pages name a static file) gives
``/static/css/app.<12 hex digits>.css``: the first 12 hex digits of the file's SHA-256. Such
an address names one content forever, so it is served with
``Cache-Control: public, max-age=31536000, immutable`` and a browser never asks again; a
changed file gets a new address. An address whose digits are not the file's current ones
(a page from before a deploy) is a 404, never another content under an immutable name.
The plain name (``/static/css/app.css``) still works, revalidated on every use.

Static text is compressed (brotli, zstd or gzip, as the browser accepts; Flask-Compress).
Pages are not: they carry a CSRF token beside text the visitor sent, which compression would
leak to an attacker who can watch sizes (BREACH); docs/operations.md says what the proxy
should do.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from flask import Flask, Request, Response, abort, current_app, send_from_directory, url_for
from flask_compress import Compress, DictCache
from werkzeug.security import safe_join

# One year, in seconds: the longest max-age RFC 9111 caches are asked to honour.
IMMUTABLE_MAX_AGE = 31536000
# The browser's own request for /favicon.ico cannot carry a fingerprint: a day, in seconds.
FAVICON_MAX_AGE = 86400
DIGEST_LENGTH = 12
_FINGERPRINTED = re.compile(
    rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})(?P<suffix>\.[A-Za-z0-9]+)?$"
)

compress = Compress()


class Fingerprints:
    """The content digests of the files under ``folder``.

    A digest is recomputed when its file's size or modification time changes, so a file
    edited under ``make dev`` gets a new address without a restart.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = str(folder)
        self._digests: dict[str, tuple[tuple[int, int], str]] = {}

    def digest(self, filename: str) -> str | None:
        """The first ``DIGEST_LENGTH`` hex digits of the file's SHA-256; None: no such file."""
        path = safe_join(self.folder, filename)
        if path is None or not os.path.isfile(path):
            return None
        stat = os.stat(path)
        version = (stat.st_mtime_ns, stat.st_size)
        known = self._digests.get(filename)
        if known is not None and known[0] == version:
            return known[1]
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:DIGEST_LENGTH]
        self._digests[filename] = (version, digest)
        return digest

    def fingerprinted(self, filename: str) -> str:
        """``css/app.css`` → ``css/app.<digest>.css``.

        :raise FileNotFoundError: no such file under the folder (a template's typo fails
            the page, not the visitor's browser later).
        """
        digest = self.digest(filename)
        if digest is None:
            raise FileNotFoundError(f"no static file {filename!r}")
        stem, dot, suffix = filename.rpartition(".")
        if not dot or "/" in suffix:
            return f"{filename}.{digest}"
        return f"{stem}.{digest}.{suffix}"

    def original(self, requested: str) -> str | None:
        """The file a fingerprinted name stands for, if its digest is the file's current one."""
        match = _FINGERPRINTED.match(requested)
        if match is None:
            return None
        filename = match["stem"] + (match["suffix"] or "")
        return filename if self.digest(filename) == match["digest"] else None


def init_app(app: Flask) -> None:
    """Serve ``app.static_folder`` by fingerprinted names and give templates ``static_url``."""
    fingerprints = Fingerprints(app.static_folder)
    app.extensions["fingerprints"] = fingerprints
    # Only the views below compress, by calling Flask-Compress themselves (see the docstring).
    # Each file is compressed once per process and algorithm, keyed by its content's digest,
    # so the strongest levels cost nothing per request.
    app.config.setdefault("COMPRESS_REGISTER", False)
    app.config.setdefault("COMPRESS_CACHE_BACKEND", DictCache)
    app.config.setdefault("COMPRESS_CACHE_KEY", _content_key)
    app.config.setdefault("COMPRESS_LEVEL", 9)
    app.config.setdefault("COMPRESS_BR_LEVEL", 11)
    app.config.setdefault("COMPRESS_ZSTD_LEVEL", 19)
    # Smallest first when the browser accepts several (measured in docs/operations.md).
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "zstd", "gzip"])
    compress.init_app(app)
    app.view_functions["static"] = serve_static
    app.add_url_rule("/favicon.ico", endpoint="favicon", view_func=favicon)

    def static_url(filename: str) -> str:
        return url_for("static", filename=fingerprints.fingerprinted(filename))

    app.add_template_global(static_url)


def serve_static(filename: str) -> Response:
    """A static file: a year, immutable, under its fingerprint; revalidated under its name.

    :raise 404: no such file, or a fingerprint that is not the file's current content.
    """
    fingerprints: Fingerprints = current_app.extensions["fingerprints"]
    original = fingerprints.original(filename)
    if original is not None:
        response = send_from_directory(fingerprints.folder, original, max_age=IMMUTABLE_MAX_AGE)
        response.cache_control.immutable = True
    elif fingerprints.digest(filename) is not None:
        response = send_from_directory(fingerprints.folder, filename)
    else:
        abort(404)
    return _compressed(response)


def favicon() -> Response:
    """The clinic's icon where browsers look for it unasked (pages link the fingerprinted one)."""
    folder = current_app.extensions["fingerprints"].folder
    return _compressed(send_from_directory(folder, "favicon.ico", max_age=FAVICON_MAX_AGE))


def _content_key(req: Request) -> str:
    """The requested file's fingerprinted name: one key per content, whatever the address."""
    fingerprints: Fingerprints = current_app.extensions["fingerprints"]
    filename = "favicon.ico" if req.endpoint == "favicon" else req.view_args["filename"]
    return fingerprints.fingerprinted(fingerprints.original(filename) or filename)


def _compressed(response: Response) -> Response:
    # A whole 200 only: a 304 has no body, and a range (206) of compressed bytes would not
    # be the range the client asked for.
    if response.status_code != 200:
        return response
    # Read into memory (the files are small) so Flask-Compress compresses it whole, with a
    # Content-Length and gzip offered too, instead of as an open-ended stream.
    response.direct_passthrough = False
    opened = response.response
    try:
        response.set_data(b"".join(opened))
    finally:
        getattr(opened, "close", lambda: None)()
    return compress.after_request(response)
