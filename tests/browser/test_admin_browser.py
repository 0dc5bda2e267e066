"""A person at HQ logs in to the admin in a real browser and finds the stores."""

import pytest

from omo.org.roles import Role
from tests.factories import StoreFactory, make_staff

# serialized_rollback: the flush after a transactional test would drop the role groups made by migrations.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_hq_admin_logs_in_and_sees_the_stores_in_chinese(page, live_server, screenshot, settings):
    settings.BRAND_NAME = "青禾服飾"
    StoreFactory(code="S-TPE01", name="台北信義店", city="台北市")
    make_staff(Role.HQ_ADMIN, username="hq", password="demo-pass-2026")

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "hq")
    page.fill("#id_password", "demo-pass-2026")
    page.click("input[type=submit]")
    page.get_by_role("link", name="據點", exact=True).first.click()

    assert page.locator("#site-name").inner_text() == "青禾服飾 · OMO 後台"
    assert page.locator("#result_list").get_by_text("台北信義店").is_visible()
    shot = screenshot("admin-locations-zh-hant")
    assert shot.stat().st_size > 10_000


def test_store_clerk_is_turned_away_from_the_admin(page, live_server, store_a):
    make_staff(Role.CLERK, store=store_a, username="clerk", password="demo-pass-2026")

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", "demo-pass-2026")
    page.click("input[type=submit]")

    assert page.url.startswith(f"{live_server.url}/admin/login/")
    assert page.locator(".errornote").is_visible()
