"""REDIS_URL forms: one server, TLS, or Sentinel; anything else stops the app at start."""

from __future__ import annotations

import pytest
from redis.sentinel import SentinelConnectionPool

from app.config import ConfigError
from app.redis_client import limiter_storage, make_client, parse_sentinel_url


def test_a_sentinel_url_names_its_sentinels_service_and_db():
    target = parse_sentinel_url("redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26380/main/3")
    assert target.sentinels == [("10.0.0.1", 26379), ("10.0.0.2", 26380)]
    assert (target.service_name, target.db, target.password) == ("main", 3, "s@cret")
    assert parse_sentinel_url("redis+sentinel://h:26379/main").db == 0


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h:26379/",
        "redis+sentinel://h/main",
        "redis+sentinel://h:26379/main/zero",
        "redis+sentinel://h:26379/main/0/extra",
        "memcached://h:11211",
        "127.0.0.1:6379",
    ],
)
def test_malformed_or_unknown_urls_are_refused_with_the_expected_form(url):
    with pytest.raises(ConfigError, match="REDIS_URL"):
        make_client(url, 0.25)


def test_the_limiter_gets_the_same_sentinels_with_the_db_as_an_option_and_no_replica_reads():
    uri, options = limiter_storage("redis+sentinel://a:1,b:2/main/2", 0.25)
    assert uri == "redis+sentinel://a:1,b:2/main"
    assert options["db"] == 2 and options["use_replicas"] is False
    assert options["socket_timeout"] == options["sentinel_kwargs"]["socket_timeout"] == 0.25


def test_plain_and_tls_urls_keep_their_form_and_get_bounded_timeouts():
    for url in ("redis://h:6379/0", "rediss://h:6380/1"):
        assert limiter_storage(url, 0.5) == (
            url,
            {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
        )
    assert (
        make_client("rediss://h:6380/1", 0.5).connection_pool.connection_kwargs["socket_timeout"]
        == 0.5
    )
    sentinel_client = make_client("redis+sentinel://a:1/main/2", 0.5)
    assert isinstance(sentinel_client.connection_pool, SentinelConnectionPool)
    assert sentinel_client.connection_pool.connection_kwargs["db"] == 2
