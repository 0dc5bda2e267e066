from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from omo import env

BASE = Path("/srv/omo")


def test_no_database_url_means_sqlite_in_the_project_folder():
    config = env.database_config({}, base_dir=BASE)

    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "/srv/omo/db.sqlite3"


def test_postgres_url_is_parsed_with_pooling_and_timeouts():
    config = env.database_config(
        {"DATABASE_URL": "postgres://shop:s3cret@db.internal:6543/omo", "DB_CONN_MAX_AGE": "30"}, base_dir=BASE
    )

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"], config["NAME"]) == (
        "shop",
        "s3cret",
        "db.internal",
        6543,
        "omo",
    )
    assert config["CONN_MAX_AGE"] == 30
    assert config["CONN_HEALTH_CHECKS"] is True
    assert config["OPTIONS"]["connect_timeout"] == 5
    assert config["OPTIONS"]["options"] == "-c jit=off"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://root:hunter2@db/omo", "is not a supported database URL (scheme 'mysql'"),
        ("just-a-hostname", "is not a supported database URL (scheme 'missing'"),
        ("postgres://user:hunter2@db:5432", "names no database"),
        ("postgres://user:hunter2@db:99999/omo", "has a bad port"),
        ("postgres://user:hunter2@db:port/omo", "has a bad port"),
    ],
)
def test_bad_database_url_is_refused_with_a_clear_message_that_hides_the_password(url, says):
    with pytest.raises(ImproperlyConfigured) as error:
        env.database_config({"DATABASE_URL": url}, base_dir=BASE)

    message = str(error.value)
    assert message.startswith("DATABASE_URL=")
    assert says in message
    assert "Example: postgres://user:password@127.0.0.1:5432/omo" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("ON", True), ("0", False), ("off", False), ("", True)]
)
def test_env_bool_reads_the_usual_spellings(raw, expected):
    assert env.env_bool({"DEBUG": raw}, "DEBUG", True) is expected


def test_env_bool_refuses_anything_else():
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='maybe' is not a yes/no value"):
        env.env_bool({"DEBUG": "maybe"}, "DEBUG", True)


def test_env_int_and_list():
    assert env.env_int({"N": " 42 "}, "N", 1) == 42
    with pytest.raises(ImproperlyConfigured, match="N='4x' is not a whole number"):
        env.env_int({"N": "4x"}, "N", 1)
    assert env.env_list({"HOSTS": "a.example, b.example,,"}, "HOSTS") == ["a.example", "b.example"]


def test_redis_url_must_be_redis():
    assert env.redis_url({}) == ""
    assert env.redis_url({"REDIS_URL": "redis://127.0.0.1:6379/1"}) == "redis://127.0.0.1:6379/1"
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL='amqp://guest:\\*\\*\\*@mq//' is not a Redis URL"):
        env.redis_url({"REDIS_URL": "amqp://guest:guest@mq//"})


def test_time_zone_currency_defaults_and_validation():
    assert env.time_zone({}) == "Asia/Taipei"
    assert env.currency({}) == "TWD"
    assert env.currency({"CURRENCY": "jpy"}) == "JPY"
    with pytest.raises(ImproperlyConfigured, match="TIME_ZONE='Mars/Olympus' is not a known time zone"):
        env.time_zone({"TIME_ZONE": "Mars/Olympus"})
    with pytest.raises(ImproperlyConfigured, match="CURRENCY='NT\\$' is not an ISO 4217 code"):
        env.currency({"CURRENCY": "NT$"})


def test_development_secret_key_is_generated_once_and_kept(tmp_path):
    key_file = tmp_path / ".dev-secret-key"

    first = env.secret_key({}, debug=True, dev_key_file=key_file)
    second = env.secret_key({}, debug=True, dev_key_file=key_file)

    assert len(first) >= 50
    assert first == second
    assert key_file.read_text().strip() == first
    assert env.secret_key({"SECRET_KEY": "from-env"}, debug=True, dev_key_file=key_file) == "from-env"


def test_production_without_secret_key_or_hosts_has_problems():
    assert env.production_problems(debug=True, secret="", allowed_hosts=[]) == []
    problems = env.production_problems(debug=False, secret="", allowed_hosts=[])
    assert [p.split(" (")[0] for p in problems] == ["SECRET_KEY is not set", "ALLOWED_HOSTS is not set"]
    assert env.production_problems(debug=False, secret="short", allowed_hosts=["*"]) == [
        "SECRET_KEY is too weak: use at least 50 random characters",
        "ALLOWED_HOSTS must not be '*' in production",
    ]
    assert env.production_problems(debug=False, secret="x9" * 20 + "abcdefghij", allowed_hosts=["shop.example"]) == []
