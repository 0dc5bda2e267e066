"""Reading settings from the environment, with clear errors.

Every function takes the environment as a mapping so tests can pass their own; settings.py passes
``os.environ``. A bad value raises ``ImproperlyConfigured`` naming the variable, what was wrong and
an example of a good value, so a misconfigured start stops at once with a message a person can act on.
"""

from __future__ import annotations

import secrets
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off"}
DATABASE_SCHEMES = {"postgres", "postgresql", "pgsql", "sqlite"}
DATABASE_EXAMPLE = "postgres://user:password@127.0.0.1:5432/omo or sqlite:////absolute/path/db.sqlite3"


def env_str(environ: Mapping[str, str], name: str, default: str = "") -> str:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a yes/no value: use 1/0, true/false, yes/no or on/off.")


def env_int(environ: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_decimal(environ: Mapping[str, str], name: str, default: str, *, minimum: str, maximum: str):
    """A decimal number (never a float: it may be money or a rate) within [minimum, maximum]."""
    from decimal import Decimal, InvalidOperation

    raw = environ.get(name)
    text = default if raw is None or raw.strip() == "" else raw.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number (e.g. 0.05).") from None
    if not value.is_finite() or not Decimal(minimum) <= value <= Decimal(maximum):
        raise ImproperlyConfigured(f"{name}={text} must be between {minimum} and {maximum}.")
    return value


def env_list(environ: Mapping[str, str], name: str, default: list[str] | None = None) -> list[str]:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def _redact(url: str) -> str:
    """The URL with its password replaced, for error messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable>"
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def database_config(environ: Mapping[str, str], *, base_dir: Path) -> dict:
    """``DATABASES['default']`` from ``DATABASE_URL``; unset means a SQLite file in the project folder."""
    url = env_str(environ, "DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(base_dir / "db.sqlite3"),
            "OPTIONS": {"timeout": 20},
        }
    shown = _redact(url)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in DATABASE_SCHEMES:
        raise ImproperlyConfigured(
            f"DATABASE_URL={shown!r} is not a supported database URL "
            f"(scheme {scheme or 'missing'!r}; PostgreSQL or SQLite only). Example: {DATABASE_EXAMPLE}."
        )
    if scheme != "sqlite":
        try:
            port = urlsplit(url).port
        except ValueError:
            port = -1
        if port is not None and not 0 < port < 65536:
            raise ImproperlyConfigured(f"DATABASE_URL={shown!r} has a bad port. Example: {DATABASE_EXAMPLE}.")
    try:
        config = dj_database_url.parse(
            url,
            conn_max_age=env_int(environ, "DB_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL={shown!r} could not be read ({exc}). Example: {DATABASE_EXAMPLE}."
        ) from None
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"DATABASE_URL={shown!r} names no database. Example: {DATABASE_EXAMPLE}.")
    if config["ENGINE"] == "django.db.backends.postgresql":
        options = config.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", env_int(environ, "DB_CONNECT_TIMEOUT", 5))
        # Session settings: JIT compiling costs a dashboard query just over its threshold about a second
        # and saves nothing on short OLTP statements
        session = env_str(environ, "DB_SESSION_OPTIONS", "-c jit=off")
        if session:
            options.setdefault("options", session)
    return config


def redis_url(environ: Mapping[str, str]) -> str:
    url = env_str(environ, "REDIS_URL")
    if url and urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"REDIS_URL={_redact(url)!r} is not a Redis URL. Example: redis://127.0.0.1:6379/0.")
    return url


def time_zone(environ: Mapping[str, str]) -> str:
    name = env_str(environ, "TIME_ZONE", "Asia/Taipei")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(f"TIME_ZONE={name!r} is not a known time zone (e.g. Asia/Taipei).") from None
    return name


def currency(environ: Mapping[str, str]) -> str:
    code = env_str(environ, "CURRENCY", "TWD").upper()
    if len(code) != 3 or not code.isalpha():
        raise ImproperlyConfigured(f"CURRENCY={code!r} is not an ISO 4217 code (e.g. TWD, USD, JPY).")
    return code


def secret_key(environ: Mapping[str, str], *, debug: bool, dev_key_file: Path) -> str:
    """``SECRET_KEY`` from the environment; in development one is generated once and kept in a file."""
    key = env_str(environ, "SECRET_KEY")
    if key:
        return key
    if not debug:
        return ""  # production_problems() reports it
    if dev_key_file.exists():
        return dev_key_file.read_text().strip()
    key = secrets.token_urlsafe(50)
    try:
        dev_key_file.write_text(key + "\n")
        dev_key_file.chmod(0o600)
    except OSError:
        pass  # a read-only checkout still runs, with a key per process
    return key


def production_problems(*, debug: bool, secret: str, allowed_hosts: list[str]) -> list[str]:
    """What stops a production start (``DEBUG`` off); an empty list means it may start."""
    if debug:
        return []
    problems = []
    if not secret:
        problems.append(
            "SECRET_KEY is not set (generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    elif (
        len(secret) < 50
        or len(set(secret)) < 5
        or secret.startswith("django-insecure")
        or any(marker in secret.lower() for marker in ("change-me", "changeme", "not-a-real-key", "example"))
    ):
        problems.append("SECRET_KEY is too weak: use at least 50 random characters")
    if not allowed_hosts:
        problems.append("ALLOWED_HOSTS is not set (a comma-separated list such as shop.example.com,admin.example.com)")
    elif "*" in allowed_hosts:
        problems.append("ALLOWED_HOSTS must not be '*' in production")
    return problems
