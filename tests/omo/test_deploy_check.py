"""`manage.py check --deploy --fail-level WARNING` with the environment a real deploy sets (docker-compose
behind a TLS proxy), and the ways a weaker setup fails it."""

import pytest
from django.test import override_settings

from omo.core.security import check_content_security_policy
from tests.omo.test_startup import STRONG_KEY, manage

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "shop.example.com,admin.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://admin.example.com",
    "DATABASE_URL": "postgres://omo:omo@db.internal:5432/omo",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "HTTPS": "1",
    "BEHIND_PROXY": "1",
}


def deploy_check(**overrides):
    return manage("check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, **overrides})


def test_the_deploy_check_passes_with_the_production_environment():
    result = deploy_check()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (2 silenced)." in result.stdout


@pytest.mark.parametrize("weak", ["short-key-123", "django-insecure-" + "x1y2z3" * 10, "change-me-" * 6, "a" * 60])
def test_a_weak_secret_key_stops_it(weak):
    result = deploy_check(SECRET_KEY=weak)

    assert result.returncode == 1
    assert "SECRET_KEY is too weak: use at least 50 random characters" in result.stderr


def test_plain_http_in_production_fails_it():
    result = deploy_check(HTTPS="0")

    assert result.returncode == 1
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr, check


def test_hosts_left_open_stop_it():
    result = deploy_check(ALLOWED_HOSTS="*")

    assert result.returncode == 1
    assert "ALLOWED_HOSTS must not be '*' in production" in result.stderr


def test_the_page_policy_as_configured_passes_its_check():
    assert check_content_security_policy(None) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"script-src": ["'self'", "'unsafe-inline'"]}, ["omo.W001"]),
        ({"script-src": ["'self'", "'unsafe-eval'"]}, ["omo.W001"]),
        ({"script-src": None, "default-src": ["*"]}, ["omo.W001"]),
        ({"frame-ancestors": None}, ["omo.W002"]),
    ],
)
def test_a_weaker_page_policy_fails_its_check(settings, change, expected):
    directives = {**settings.CONTENT_SECURITY_POLICY["DIRECTIVES"], **change}

    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": directives}):
        assert [w.id for w in check_content_security_policy(None)] == expected


def test_no_page_policy_fails_its_check(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "csp.middleware.CSPMiddleware"]

    assert [w.id for w in check_content_security_policy(None)] == ["omo.W001"]
