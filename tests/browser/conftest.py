import os
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def browser():
    """A fresh chromium per test. Not per session: while Playwright's event loop runs, Django's
    connection handler (an asgiref Local) hands the next test's fixtures another connection object,
    which loses the serialized-rollback data that restores the role groups after a flush."""
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium fonts-noto-cjk)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls in fixtures are safe here.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
        # The test's ORM calls ran beside Playwright's event loop and got connection objects of their
        # own; close them here, in that same context, or they keep the test database open.
        connections.close_all()


CSP_MARKERS = ("Content Security Policy", "Content-Security-Policy", "Permissions-Policy")


@pytest.fixture
def page(browser):
    """A page whose every tab must get through its test without a Content-Security-Policy violation
    (Chromium reports each blocked script, handler, style or load on the console): the test fails with
    the messages otherwise. ``page.csp_violations`` holds them for a test that wants to look."""
    context = browser.new_context(locale="zh-TW", viewport={"width": 1280, "height": 800})
    violations: list[str] = []
    context.on(
        "console",
        lambda message: (
            violations.append(f"{message.type}: {message.text}")
            if any(marker in message.text for marker in CSP_MARKERS)
            else None
        ),
    )
    # the DOM event too: it also fires for violations Chromium does not print (e.g. in report-only mode)
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.csp_violations = violations
    yield page
    context.close()
    if violations:
        pytest.fail("Content-Security-Policy violations in the browser:\n" + "\n".join(violations))


@pytest.fixture
def screenshot(page):
    def take(name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
