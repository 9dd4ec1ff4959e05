"""gunicorn settings for the floor (bench/floor.py): the product's gunicorn.conf.py, read
as is, so both are served alike (access log, worker recycling, timeouts); only its
``post_fork`` is replaced, since the floor has no Flask app to reset (it opens its
connections lazily, per thread, after the fork)."""

from pathlib import Path

exec((Path(__file__).resolve().parents[1] / "gunicorn.conf.py").read_text())


def post_fork(server, worker):  # noqa: F811 - replaces the product's on purpose
    pass
