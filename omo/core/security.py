"""Security headers Django does not set by itself, and a deploy check that the page policy is strict.

Django's SecurityMiddleware sends HSTS, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy`` and
``Cross-Origin-Opener-Policy``; XFrameOptionsMiddleware ``X-Frame-Options: DENY``; django-csp's
CSPMiddleware the ``Content-Security-Policy`` (``CONTENT_SECURITY_POLICY`` in settings). This module
adds ``Permissions-Policy`` and checks, with ``manage.py check --deploy``, that the CSP is there and
lets no inline or injected script run.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks

# Browser features no page of ours uses (the POS reads barcodes and member QR codes from a scanner that
# types into a field, not from the camera); a script injected into a page cannot turn them on.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)


class PermissionsPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", getattr(settings, "PERMISSIONS_POLICY", PERMISSIONS_POLICY))
        return response


UNSAFE_SCRIPT_SOURCES = {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"}


@checks.register(checks.Tags.security, deploy=True)
def check_content_security_policy(app_configs, **kwargs):
    """omo.W001: no CSP, or one whose scripts may come from anywhere or be inline; omo.W002: the pages
    may be framed."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
    directives = policy.get("DIRECTIVES") or {}
    middleware = "csp.middleware.CSPMiddleware" in settings.MIDDLEWARE
    scripts = directives.get("script-src") or directives.get("default-src") or []
    found = []
    if not (middleware and directives):
        found.append(
            checks.Warning(
                "No Content-Security-Policy is sent.",
                hint="Add csp.middleware.CSPMiddleware and CONTENT_SECURITY_POLICY (see omo/settings.py).",
                id="omo.W001",
            )
        )
    elif UNSAFE_SCRIPT_SOURCES & {str(s) for s in scripts}:
        found.append(
            checks.Warning(
                "The Content-Security-Policy lets inline or foreign scripts run: script-src "
                + " ".join(map(str, scripts)),
                hint="Move inline scripts and on...= handlers to static files or give them the request's nonce.",
                id="omo.W001",
            )
        )
    if middleware and directives and directives.get("frame-ancestors") != ["'none'"]:
        found.append(
            checks.Warning(
                "The Content-Security-Policy lets other sites frame our pages.",
                hint="Set frame-ancestors to 'none'.",
                id="omo.W002",
            )
        )
    return found
