"""Security headers on every kind of page, the Content-Security-Policy the browser enforces, and no
inline script or handler left in our templates for it to block."""

import re
from pathlib import Path

import pytest
from django.test import Client

from omo.org.roles import Role
from tests.factories import make_staff

ROOT = Path(__file__).resolve().parents[2]
POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],  # and the response's nonce when the page used it
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()",
}


def page_client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def assert_page_headers(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    for name, value in COMMON.items():
        assert response[name] == value, name
    assert response["X-Frame-Options"] == "DENY"
    assert parse_policy(response["Content-Security-Policy"]) == POLICY


def parse_policy(header: str) -> dict[str, list[str]]:
    """The directives, with a nonce (there only when the page used one) left out of script-src."""
    policy = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        policy[name] = [v for v in values if not (name == "script-src" and re.fullmatch(r"'nonce-[\w+/=]+'", v))]
    return policy


@pytest.mark.django_db
def test_the_login_pos_dashboard_and_admin_pages_carry_the_security_headers(store_a):
    clerk = make_staff(Role.CLERK, store=store_a, username="sec.clerk").user
    hq = make_staff(Role.HQ_ADMIN, username="sec.hq").user

    pages = [
        page_client().get("/accounts/login/"),
        page_client(clerk).get("/pos/"),
        page_client(hq).get("/dashboard/", follow=True),
        page_client(hq).get("/admin/"),
        page_client(hq).get("/admin/members/member/"),
        page_client().get("/admin/login/"),
    ]

    for response in pages:
        assert_page_headers(response)


@pytest.mark.django_db
def test_each_response_gets_its_own_nonce_and_inline_scripts_carry_it():
    first, second = page_client().get("/api/docs/"), page_client().get("/api/docs/")

    nonces = [re.search(r"'nonce-([^']+)'", r["Content-Security-Policy"]).group(1) for r in (first, second)]
    assert nonces[0] != nonces[1]
    assert f'<script nonce="{nonces[0]}">' in first.content.decode()
    assert "fonts.googleapis.com" not in page_client().get("/api/redoc/").content.decode()


@pytest.mark.django_db
def test_api_answers_keep_nosniff_and_the_rest(clerk_a):
    response = page_client(clerk_a).get("/api/v1/members/lookup/?phone=0900000000")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    for name, value in COMMON.items():
        assert response[name] == value, name


TEMPLATE_DIRS = [p for p in ROOT.glob("**/templates") if ".venv" not in p.parts and "staticfiles" not in p.parts]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.I)


def test_no_template_has_an_inline_script_or_handler():
    """The policy would block them (and the page would silently lose the behaviour): scripts go in
    static files (omo/static/omo/page.js) or carry {{ request.csp_nonce }}."""
    found = []
    templates = [t for d in TEMPLATE_DIRS for t in d.rglob("*.html")]
    for template in templates:
        text = template.read_text()
        found += [f"{template.relative_to(ROOT)}: {m.group(0)}" for m in INLINE_SCRIPT.finditer(text)]
        found += [f"{template.relative_to(ROOT)}: {m.group(0)}" for m in INLINE_HANDLER.finditer(text)]
        found += [f"{template.relative_to(ROOT)}: javascript:" for _ in re.finditer(r"javascript:", text, re.I)]
    assert len(templates) > 40
    assert found == []
