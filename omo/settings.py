"""Settings for the OMO back office, read from the environment (see .env.example and the README).

No DATABASE_URL: SQLite in the project folder. No REDIS_URL: Celery runs tasks eagerly in-process and
the cache is in memory. DEBUG defaults to on for a checkout; with DEBUG=0 a start without SECRET_KEY or
ALLOWED_HOSTS is refused with a message.
"""

import os
import re
from pathlib import Path

from celery.schedules import crontab
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from omo import env

BASE_DIR = Path(__file__).resolve().parent.parent
E = os.environ

DEBUG = env.env_bool(E, "DEBUG", True)
SECRET_KEY = env.secret_key(E, debug=DEBUG, dev_key_file=BASE_DIR / ".dev-secret-key")
ALLOWED_HOSTS = env.env_list(E, "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else [])
_problems = env.production_problems(debug=DEBUG, secret=SECRET_KEY, allowed_hosts=ALLOWED_HOSTS)
if _problems:
    raise ImproperlyConfigured(
        "Refusing to start with DEBUG off: "
        + "; ".join(_problems)
        + ". Set them in the environment (see .env.example)."
    )
CSRF_TRUSTED_ORIGINS = env.env_list(E, "CSRF_TRUSTED_ORIGINS")

# The brand this back office runs for; shown in the admin header and on receipts.
BRAND_NAME = env.env_str(E, "BRAND_NAME", "青禾服飾 Qinghe Apparel")
OMO_CURRENCY = env.currency(E)
# The online shop a clerk's referral link points at (the link is this plus ?ref=CODE)
STOREFRONT_URL = env.env_str(E, "STOREFRONT_URL", "https://shop.example.com/")
# Members: the region a phone number without a country code belongs to, and when earned points expire
# ("end_of_following_year", or "days:N").
MEMBER_PHONE_REGION = env.env_str(E, "MEMBER_PHONE_REGION", "TW").upper()
MEMBER_POINTS_EXPIRY = env.env_str(E, "MEMBER_POINTS_EXPIRY", "end_of_following_year")
# The SMS gateway for log-in codes: a class with send(phone=, text=); the fake keeps them in memory.
MEMBER_SMS_PROVIDER = env.env_str(E, "MEMBER_SMS_PROVIDER", "members.sms.FakeSmsProvider")
# Member-get-member: points to the referrer, and welcome points to the new member, on the new member's
# first paid order.
MEMBER_REFERRAL_POINTS = env.env_int(E, "MEMBER_REFERRAL_POINTS", 200)
MEMBER_REFERRAL_WELCOME_POINTS = env.env_int(E, "MEMBER_REFERRAL_WELCOME_POINTS", 100)
if MEMBER_POINTS_EXPIRY != "end_of_following_year" and not (
    MEMBER_POINTS_EXPIRY.startswith("days:") and MEMBER_POINTS_EXPIRY[5:].isdigit()
):
    raise ImproperlyConfigured(
        f"MEMBER_POINTS_EXPIRY={MEMBER_POINTS_EXPIRY!r}: use end_of_following_year or days:N (e.g. days:365)."
    )

# Orders: the VAT included in prices (Taiwan 5%), what a point is worth when redeemed and how much of an
# order points may pay, how long an unpaid order waits, how long a pickup waits at the store, and the
# payment gateway (the fake approves everything except the card tokens that say otherwise).
ORDER_TAX_RATE = env.env_decimal(E, "ORDER_TAX_RATE", "0.05", minimum="0", maximum="1")
ORDER_POINT_VALUE = env.env_decimal(E, "ORDER_POINT_VALUE", "1", minimum="0", maximum="1000")
ORDER_POINTS_MAX_PERCENT = env.env_int(E, "ORDER_POINTS_MAX_PERCENT", 100)
# Marketing: the days of purchases behind the nightly RFM scores
RFM_DAYS = env.env_int(E, "RFM_DAYS", 365, minimum=30)
# ... and behind the nightly recommendations (bought together, members' category affinity)
RECO_DAYS = env.env_int(E, "RECO_DAYS", 180, minimum=7)
# Campaign messages: a provider class per channel (the defaults send nothing outside; see marketing.providers),
# the quiet hours no message is sent in (local time; a campaign may set its own), and the batch a worker sends
MARKETING_PROVIDERS = {
    "sms": env.env_str(E, "MARKETING_SMS_PROVIDER", "marketing.providers.SmsProvider"),
    "email": env.env_str(E, "MARKETING_EMAIL_PROVIDER", "marketing.providers.EmailProvider"),
    "line": env.env_str(E, "MARKETING_LINE_PROVIDER", "marketing.providers.FakeLineProvider"),
    "push": env.env_str(E, "MARKETING_PUSH_PROVIDER", "marketing.providers.FakePushProvider"),
}
MARKETING_QUIET_START = env.env_str(E, "MARKETING_QUIET_START", "21:00")
MARKETING_QUIET_END = env.env_str(E, "MARKETING_QUIET_END", "09:00")
MARKETING_BATCH = env.env_int(E, "MARKETING_BATCH", 200, minimum=1)
ORDER_PAYMENT_MINUTES = env.env_int(E, "ORDER_PAYMENT_MINUTES", 30, minimum=1)
ORDER_PICKUP_DAYS = env.env_int(E, "ORDER_PICKUP_DAYS", 7, minimum=1)
ORDER_GATEWAY_TIMEOUT_MINUTES = env.env_int(E, "ORDER_GATEWAY_TIMEOUT_MINUTES", 10, minimum=1)
ORDER_PAYMENT_PROVIDER = env.env_str(E, "ORDER_PAYMENT_PROVIDER", "orders.payments.FakePaymentProvider")
# How long a process reuses channel fulfilment settings and running promotions (omo/core/config_cache.py).
CONFIG_CACHE_SECONDS = env.env_int(E, "CONFIG_CACHE_SECONDS", 5)
IDEMPOTENCY_STALE_SECONDS = env.env_int(E, "IDEMPOTENCY_STALE_SECONDS", 120, minimum=10)
IDEMPOTENCY_KEEP_HOURS = env.env_int(E, "IDEMPOTENCY_KEEP_HOURS", 48, minimum=24)
# Rate limits (omo/core/ratelimit.py), counted in the shared cache: "N/period" (s, m, h, d; "5/10m") or
# "off". "Shopper" is the member of X-Member-Token, else the shopper IP a frontend forwards in
# RATE_LIMIT_SHOPPER_IP_HEADER (trusted only when set, only from a channel-key call), else staff's login;
# a frontend call with neither is held only by its channel key's limit, so one shop's NAT or one
# frontend's servers never share a shopper's limit. RATE_LIMIT_PROXIES: our own reverse proxies that
# append to X-Forwarded-For (0: REMOTE_ADDR is the client).
RATE_LIMITS = {
    "otp_phone": env.env_str(E, "RATE_LIMIT_OTP_PHONE", "3/10m"),  # codes sent to one phone
    "otp_verify_phone": env.env_str(E, "RATE_LIMIT_OTP_VERIFY_PHONE", "10/10m"),  # code checks per phone
    "otp_client": env.env_str(E, "RATE_LIMIT_OTP_CLIENT", "100/10m"),  # codes + checks per shopper IP
    "otp_channel": env.env_str(E, "RATE_LIMIT_OTP_CHANNEL", "1200/m"),  # codes + checks per channel key
    "coupon_shopper": env.env_str(E, "RATE_LIMIT_COUPON_SHOPPER", "30/m"),  # coupon checks per shopper
    "coupon_channel": env.env_str(E, "RATE_LIMIT_COUPON_CHANNEL", "6000/m"),  # per channel key
    "order_shopper": env.env_str(E, "RATE_LIMIT_ORDER_SHOPPER", "10/m"),  # orders placed per shopper
    "order_channel": env.env_str(E, "RATE_LIMIT_ORDER_CHANNEL", "6000/m"),  # per channel key
    # wrong staff passwords from one address, whatever the usernames (spraying many logins)
    "staff_login_address": env.env_str(E, "RATE_LIMIT_STAFF_LOGIN_ADDRESS", "50/15m"),
}
for _name, _rate in RATE_LIMITS.items():
    if not re.fullmatch(r"off|\d+/\d*[smhd]", _rate.lower()):
        raise ImproperlyConfigured(f"RATE_LIMIT_{_name.upper()}={_rate!r}: use N/period (30/m, 5/10m, 100/h) or off.")
RATE_LIMIT_PROXIES = env.env_int(E, "RATE_LIMIT_PROXIES", 0)
RATE_LIMIT_SHOPPER_IP_HEADER = env.env_str(E, "RATE_LIMIT_SHOPPER_IP_HEADER", "")
# Staff log-in lockout (django-axes): this many wrong passwords for one username lock it for the cool-off,
# on the admin and the staff (POS) login alike; a good log-in or an HQ admin (admin: Access attempts)
# unlocks it.
AXES_FAILURE_LIMIT = env.env_int(E, "STAFF_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env.env_int(E, "STAFF_LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]  # not the IP: a store's clerks share one address
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the lock ends when it said it would
AXES_CLIENT_IP_CALLABLE = "omo.core.ratelimit.network_ip"
AXES_LOCKOUT_CALLABLE = "omo.org.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "omo.org.lockout.lockout_username"
# staff log-in records (successes with address and browser, failures) are personal data: kept this long
STAFF_LOGIN_LOG_DAYS = env.env_int(E, "STAFF_LOGIN_LOG_DAYS", 90, minimum=1)
AXES_SENSITIVE_PARAMETERS = []  # failures are logged with username and address; a password never is

INSTALLED_APPS = [
    "omo.org.apps.OmoAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "import_export",
    "axes",  # staff log-in lockout
    "csp",  # the Content-Security-Policy header (CONTENT_SECURITY_POLICY below)
    "pgtrigger",  # database triggers (PostgreSQL only), used by pghistory for the audit trail
    "pghistory",
    # Bottom of the dependency graph: what every app needs.
    "omo.core",
    "omo.org",
    "omo.events",
    # Domain apps: catalog <- inventory <- orders <- pos; members <- orders; attribution reads both.
    "catalog",
    "inventory",
    "members",
    "orders",
    "pos",
    "attribution",
    # Precision marketing: segments and scores over members, orders and attribution.
    "marketing",
    # The audit trail of money, stock, points, coupons and commission (triggers on the tables above).
    "omo.audit",
    # Top: the cross-app HQ dashboard (reads every app) and the demo brand, which uses everything.
    "omo.dashboard",
    "omo.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy (with request.csp_nonce) and Permissions-Policy on every response
    "csp.middleware.CSPMiddleware",
    "omo.core.security.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "omo.core.middleware.RejectNulMiddleware",  # a NUL in the URL is a 400, never a database error
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # the audit trail: the user, URL and method of the request beside each change it makes (PostgreSQL)
    "omo.audit.middleware.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # turns a locked-out staff log-in into the lockout page (429); last, per django-axes
    "axes.middleware.AxesMiddleware",
    # a page whose database connection dropped answers 503, not 500 (the API does in omo.core.api)
    "omo.core.db_unavailable.DatabaseUnavailableMiddleware",
]

if not DEBUG:  # runserver serves static files in development; WhiteNoise does it in production
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "omo.urls"
WSGI_APPLICATION = "omo.wsgi.application"
ASGI_APPLICATION = "omo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "omo" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "omo.core.context_processors.brand",
            ],
        },
    },
]

DATABASES = {"default": env.database_config(E, base_dir=BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "org.User"
# The lockout check first: it refuses a locked-out username before the password is looked at.
AUTHENTICATION_BACKENDS = ["omo.org.lockout.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Language, time and money. Every user-facing string is marked for translation; zh-Hant is the default.
LANGUAGES = [("zh-hant", _("Traditional Chinese")), ("en", _("English"))]
LANGUAGE_CODE = env.env_str(E, "LANGUAGE_CODE", "zh-hant").lower()
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE={LANGUAGE_CODE!r} is not one of: {', '.join(dict(LANGUAGES))}.")
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.time_zone(E)
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "omo" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Redis: the Celery broker and result store, and the shared cache. Unset: eager tasks, local memory cache.
REDIS_URL = env.redis_url(E)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

HEALTHZ_CACHE_SECONDS = env.env_int(E, "HEALTHZ_CACHE_SECONDS", 10)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = env.env_str(E, "CELERY_QUEUE", "omo")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# max_retries 0: sending a task while Redis is down fails at once (the web request that committed a sale
# must not wait ~6 s for kombu's reconnect loop); the outbox and the beat catch-up jobs cover what was
# not sent. The worker's own consuming connection keeps retrying (broker_connection_max_retries).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2, "max_retries": 0}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
# Cross-channel sync (omo/events): the outbox relay and webhooks. An aggregate's events stay in order
# within its partition; one relay and one sender per (subscription, partition) run at a time.
OUTBOX_PARTITIONS = env.env_int(E, "OUTBOX_PARTITIONS", 4, minimum=1)
OUTBOX_BATCH = env.env_int(E, "OUTBOX_BATCH", 500, minimum=1)
OUTBOX_MAX_ATTEMPTS = env.env_int(E, "OUTBOX_MAX_ATTEMPTS", 10, minimum=1)
WEBHOOK_TIMEOUT_SECONDS = env.env_int(E, "WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
WEBHOOK_BACKOFF_SECONDS = env.env_int(E, "WEBHOOK_BACKOFF_SECONDS", 10, minimum=0)  # doubles per attempt
WEBHOOK_BACKOFF_MAX_SECONDS = env.env_int(E, "WEBHOOK_BACKOFF_MAX_SECONDS", 6 * 3600, minimum=0)
WEBHOOK_MAX_ATTEMPTS = env.env_int(E, "WEBHOOK_MAX_ATTEMPTS", 12, minimum=1)  # then dead-lettered
WEBHOOK_DISABLE_AFTER = env.env_int(E, "WEBHOOK_DISABLE_AFTER", 50, minimum=1)  # failures in a row
# Channel stock feeds (inventory/feeds.py): a SKU's stock changes within this many seconds reach each
# channel as one update
STOCK_FEED_COALESCE_SECONDS = env.env_int(E, "STOCK_FEED_COALESCE_SECONDS", 2, minimum=0)

CELERY_BEAT_SCHEDULE = {
    # the outbox relay's fallback (workers are woken after each commit) and webhook retries
    "relay-outbox": {"task": "omo.events.tasks.outbox_relay_all", "schedule": 1.0},
    "retry-webhooks": {"task": "omo.events.tasks.webhooks_send_due", "schedule": 5.0},
    "purge-webhook-deliveries": {
        "task": "omo.events.tasks.webhook_deliveries_purge",
        "schedule": crontab(hour=3, minute=40),
    },
    # channel stock feeds: publish the coalesced changes; correct any drift at night
    "flush-stock-feeds": {"task": "inventory.tasks.stock_feeds_flush", "schedule": 1.0},
    "reconcile-stock-feeds": {"task": "inventory.tasks.stock_feeds_reconcile", "schedule": crontab(hour=3, minute=50)},
    # Lets /healthz say when beat last ran; later issues add reservation expiry, points expiry, settlement.
    "beat-heartbeat": {"task": "omo.core.tasks.beat_heartbeat", "schedule": 60.0},
    "release-expired-reservations": {"task": "inventory.tasks.reservations_expire", "schedule": 60.0},
    "write-off-expired-lots": {"task": "inventory.tasks.lots_write_off_expired", "schedule": crontab(hour=0, minute=5)},
    "suggest-replenishment": {"task": "inventory.tasks.replenishment_suggest", "schedule": crontab(hour=6, minute=0)},
    "expire-points": {"task": "members.tasks.points_expire_due", "schedule": crontab(hour=0, minute=10)},
    "cancel-unpaid-orders": {"task": "orders.tasks.orders_cancel_unpaid", "schedule": 60.0},
    "retry-refunds": {"task": "orders.tasks.refunds_retry", "schedule": 300.0},
    "expire-uncollected-pickups": {"task": "orders.tasks.pickups_expire", "schedule": crontab(hour=1, minute=0)},
    "purge-idempotency-keys": {"task": "orders.tasks.idempotency_keys_purge", "schedule": crontab(minute=20)},
    "reevaluate-tiers": {"task": "members.tasks.tiers_reevaluate_due", "schedule": crontab(hour=0, minute=30)},
    "find-duplicate-members": {"task": "members.tasks.duplicates_find", "schedule": crontab(hour=2, minute=0)},
    # clerk attribution: orders the queue lost are attributed within a minute; last month's draft is
    # built on the 1st (and again each night until it is approved, with returns that came in since)
    "attribute-paid-orders": {"task": "attribution.tasks.orders_attribute_pending", "schedule": 60.0},
    "build-last-month-settlement": {
        "task": "attribution.tasks.settlement_build_last_month",
        "schedule": crontab(hour=2, minute=30),
    },
    # HQ dashboard: yesterday (and any day missed) rolled up after the day's last orders
    "dashboard-rollup": {"task": "omo.dashboard.tasks.rollup_catch_up", "schedule": crontab(hour=1, minute=30)},
    "marketing-segments": {"task": "marketing.tasks.segments_refresh", "schedule": crontab(hour=2, minute=15)},
    "marketing-campaigns": {"task": "marketing.tasks.campaigns_sweep", "schedule": 60.0},
    "coupon-issue-jobs": {"task": "members.tasks.coupon_issue_jobs_sweep", "schedule": 60.0},
    "purge-staff-login-logs": {"task": "omo.org.tasks.staff_login_logs_purge", "schedule": crontab(hour=3, minute=25)},
    "nightly-clear-expired-sessions": {
        "task": "omo.core.tasks.clear_expired_sessions",
        "schedule": crontab(hour=3, minute=15),
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so an unauthenticated call gets 401 with "WWW-Authenticate: Api-Key".
        "omo.org.api.authentication.ChannelKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "omo.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "omo.core.api.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    # The API speaks JSON only: a form or multipart body is a 415, never half-read into an empty edit.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OMO back office API",
    "DESCRIPTION": "Catalog, stock, members, orders and clerk attribution for every sales channel.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"OrderStatusEnum": "orders.models.OrderStatus"},
}

# Security. With DEBUG off the site is assumed to sit behind HTTPS; HTTPS=0 turns that off for a
# plain-HTTP trial (docker compose on a laptop).
HTTPS = env.env_bool(E, "HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.env_int(E, "SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.env_bool(E, "SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
# Preloading commits the brand's whole domain to HTTPS in browsers for good: opt in explicitly.
SECURE_HSTS_PRELOAD = env.env_bool(E, "SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# axes.W006 asks for the IP among the lockout parameters; the lockout is by username on purpose (summed
# over every address and browser, so rotating them gains nothing), since a store's clerks share one address.
SILENCED_SYSTEM_CHECKS.append("axes.W006")
if env.env_bool(E, "BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy on every response (django-csp). Scripts only from our own static files, or
# inline with the request's nonce ({{ request.csp_nonce }}); no on...= handlers, no eval. Styles may be
# inline: the admin's widgets, htmx's indicator style and a few style="" attributes in the POS pages use
# them, and CSS cannot run code. `manage.py check --deploy` warns (omo.W001/W002) if this gets weaker.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp_constants.NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.env_str(E, "LOG_LEVEL", "INFO")},
}
