"""The pages work under the Content-Security-Policy: the staff login, the admin (its own scripts, the
language menu, the member page with its inline styles), the API documentation; and the check that
fails the browser tests on a CSP violation does see one. (The POS and dashboard tests run under the
same check: tests/browser/conftest.py.)"""

import pytest

from omo.org.roles import Role
from tests.factories import make_staff
from tests.orders.conftest import shop  # noqa: F401  the orders tests' shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def log_in(page, live_server, username, next_url):
    page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo-pass-2026")
    page.click("button[type=submit]")


def test_the_admin_and_the_api_docs_work_under_the_policy(page, live_server, shop):  # noqa: F811
    make_staff(Role.HQ_ADMIN, username="hq", password="demo-pass-2026")
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_server, "hq", f"/admin/members/member/{shop.member.pk}/change/")
    # the member page: the admin's own scripts run and the 360 view's inline style block applies
    page.wait_for_selector("#member-360")
    page.wait_for_function("window.django && typeof window.django.jQuery === 'function'")
    assert page.evaluate("getComputedStyle(document.querySelector('.m360')).display") == "grid"
    # the language menu submits itself on change (no onchange= handler any more)
    with page.expect_navigation():  # the page it submits to, not the one already loaded
        page.select_option("select[name=language]", "en")
    assert page.locator("html").get_attribute("lang") == "en"

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "OMO back office API" in page.inner_text(".swagger-ui .info .title")
    # Redoc: loaded without a CSP violation (its blob: worker and logo are allowed on that page only)
    page.goto(f"{live_server.url}/api/redoc/")
    page.wait_for_load_state("networkidle")
    assert errors == []


def test_a_violation_is_caught(page, live_server):
    make_staff(Role.HQ_ADMIN, username="hq", password="demo-pass-2026")
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.locator("#id_username").is_visible()

    # an injected inline script and handler, as an XSS would add them: blocked and reported
    page.evaluate(
        """() => { const s = document.createElement('script'); s.textContent = 'document.body.dataset.pwned = 1';
                   document.head.appendChild(s);
                   const img = '<img src=x onerror="document.body.dataset.pwned=2">';
                   document.body.insertAdjacentHTML('beforeend', img); }"""
    )
    page.wait_for_timeout(300)

    assert page.get_attribute("body", "data-pwned") is None
    assert any("script-src" in v for v in page.csp_violations), page.csp_violations
    page.csp_violations.clear()  # seen: do not fail the test at teardown
