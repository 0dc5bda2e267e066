"""Starting the real program with real environments: what a deployer sees."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3Y-" + "0123456789abcdefghijKLMNOPQRSTUVWXYZ" * 2


def manage(*args, **env_overrides):
    unset = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["DJANGO_SETTINGS_MODULE"] = "omo.settings"
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_start_without_secret_key_or_hosts_is_refused():
    result = manage("check", DEBUG="0")

    assert result.returncode == 1
    assert "ImproperlyConfigured: Refusing to start with DEBUG off: SECRET_KEY is not set" in result.stderr
    assert "ALLOWED_HOSTS is not set" in result.stderr


def test_bad_database_url_stops_the_start_with_its_message():
    result = manage("check", DATABASE_URL="mysql://root:hunter2@db/omo")

    assert result.returncode == 1
    assert "DATABASE_URL='mysql://root:***@db/omo' is not a supported database URL" in result.stderr
    assert "hunter2" not in result.stderr


def test_deploy_check_passes_with_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="shop.example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_defaults_are_taipei_twd_and_traditional_chinese():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.TIME_ZONE, s.OMO_CURRENCY, s.LANGUAGE_CODE, "
        "s.CELERY_TASK_ALWAYS_EAGER, s.DATABASES['default']['ENGINE'])",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-5:] == ["Asia/Taipei", "TWD", "zh-hant", "True", "django.db.backends.sqlite3"]


def test_redis_url_switches_celery_to_the_broker_and_real_workers():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER, "
        "s.CACHES['default']['BACKEND'])",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == [
        "redis://127.0.0.1:6379/3",
        "False",
        "django.core.cache.backends.redis.RedisCache",
    ]
