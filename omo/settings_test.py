"""Test settings: the same environment-driven settings, with a fast hasher and an in-memory cache.

Tasks run eagerly unless a test starts a real worker (see tests/conftest.py ``live_worker``).
"""

from omo.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
SECURE_SSL_REDIRECT = False
HEALTHZ_CACHE_SECONDS = 0  # each test sees a fresh report; the cache has its own test
# Tests assert English messages; the Chinese ones are tested by asking for zh-hant explicitly.
# (The production default stays zh-hant: tests/omo/test_startup.py checks it.)
LANGUAGE_CODE = "en"
# No persistent connections in tests: live-server request threads would keep theirs open and block
# dropping the test database at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Rate limits high enough that no test (the API fuzz tests included) is held up by accident; tests of
# the limits lower them with the settings fixture (tests/omo/test_rate_limits.py).
RATE_LIMITS = dict.fromkeys(RATE_LIMITS, "1000000/m")
# The staff lockout stays on; Django's test client login() has no request, which axes otherwise refuses.
LOCKOUT_ALLOW_NO_REQUEST = True
