"""Staff log-in lockout (django-axes, omo/org/lockout.py): after STAFF_LOGIN_FAILURE_LIMIT wrong
passwords a username is locked, even for the right password, on the staff (POS) and the admin login;
a good log-in before that clears the count; the cool-off or an HQ admin unlocks it."""

import logging
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.test import Client

from omo.org.roles import Role
from tests.factories import make_staff

PASSWORD = "test-pass-123"  # tests/factories.make_staff
LOGIN, ADMIN_LOGIN = "/accounts/login/", "/admin/login/"


@pytest.fixture
def clerk(store_a):
    return make_staff(Role.CLERK, store=store_a, username="lock.clerk").user


def log_in(client, username, password, url=LOGIN, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_five_wrong_passwords_lock_the_login_even_for_the_right_password(clerk, caplog):
    browser = Client()
    with caplog.at_level(logging.INFO):
        wrong = [log_in(browser, "lock.clerk", f"wrong-{n}").status_code for n in range(5)]
        locked = log_in(browser, "lock.clerk", PASSWORD)

    assert wrong == [200, 200, 200, 200, 429]  # the form again ("wrong username or password"), then locked
    assert locked.status_code == 429
    assert 1 <= int(locked["Retry-After"]) <= 15 * 60
    assert "locked for 15 minutes" in locked.content.decode()
    assert not logged_in(browser)
    attempt = AccessAttempt.objects.get(username="lock.clerk")
    assert attempt.failures_since_start == 5
    assert "wrong-" not in attempt.post_data and PASSWORD not in attempt.post_data
    assert "wrong-" not in caplog.text and PASSWORD not in caplog.text
    assert 'New login failure by {username: "lock.clerk"' in caplog.text


def test_the_lock_counts_the_username_whatever_its_case_and_address(clerk):
    for n in range(5):
        log_in(Client(REMOTE_ADDR=f"10.0.0.{n}"), "Lock.Clerk" if n % 2 else "lock.clerk", "wrong")

    locked = log_in(Client(REMOTE_ADDR="10.9.9.9"), "lock.clerk", PASSWORD)

    assert locked.status_code == 429


def test_the_admin_login_is_locked_too_and_a_json_caller_gets_the_error_shape(db):
    make_staff(Role.HQ_ADMIN, username="lock.admin")
    for _ in range(5):
        log_in(Client(), "lock.admin", "wrong", url=ADMIN_LOGIN)

    page = log_in(Client(), "lock.admin", PASSWORD, url=ADMIN_LOGIN)
    api = log_in(Client(), "lock.admin", PASSWORD, url=LOGIN, HTTP_ACCEPT="application/json")

    assert page.status_code == 429
    assert api.status_code == 429
    body = api.json()
    assert (body["code"], set(body)) == ("login_locked", {"code", "message", "details"})
    assert body["details"]["retry_after"] == int(api["Retry-After"])


def test_the_lock_ends_after_the_cool_off(clerk):
    with time_machine.travel("2026-03-02 09:00:00 +0800", tick=False) as clock:
        for _ in range(5):
            log_in(Client(), "lock.clerk", "wrong")
        clock.shift(timedelta(minutes=14))
        still_locked = log_in(Client(), "lock.clerk", PASSWORD).status_code
        clock.shift(timedelta(minutes=1, seconds=1))
        browser = Client()
        after = log_in(browser, "lock.clerk", PASSWORD)
        in_after_the_cool_off = logged_in(browser)

    assert still_locked == 429  # trying during the lock does not extend it
    assert after.status_code == 302
    assert in_after_the_cool_off
    assert not AccessAttempt.objects.filter(username="lock.clerk").exists()  # a good log-in clears it


def test_a_good_login_clears_the_count(clerk):
    for _ in range(4):
        log_in(Client(), "lock.clerk", "wrong")
    good = log_in(Client(), "lock.clerk", PASSWORD).status_code
    for _ in range(4):
        log_in(Client(), "lock.clerk", "wrong")

    browser = Client()
    again = log_in(browser, "lock.clerk", PASSWORD).status_code

    assert (good, again) == (302, 302)
    assert logged_in(browser)


def test_an_hq_admin_unlocks_a_login_in_the_admin(clerk, hq_admin):
    for _ in range(5):
        log_in(Client(), "lock.clerk", "wrong")
    assert log_in(Client(), "lock.clerk", PASSWORD).status_code == 429
    admin = Client()
    admin.force_login(hq_admin)
    attempt = AccessAttempt.objects.get(username="lock.clerk")

    listed = admin.get("/admin/axes/accessattempt/")
    deleted = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    browser = Client()
    after = log_in(browser, "lock.clerk", PASSWORD)

    assert hq_admin.is_superuser is False  # the role's permission, not a superuser's
    assert listed.status_code == 200 and "lock.clerk" in listed.content.decode()
    assert deleted.status_code == 302
    assert after.status_code == 302
    assert logged_in(browser)


def test_the_test_clients_login_still_works(clerk):
    browser = Client()
    assert browser.login(username="lock.clerk", password=PASSWORD) is True
    assert logged_in(browser)


def test_old_login_records_are_purged_and_a_lock_in_force_stays(clerk, settings):
    """Each staff log-in is recorded with its address and browser (axes' access log): personal data,
    deleted after STAFF_LOGIN_LOG_DAYS by a nightly job."""
    from axes.models import AccessLog

    from omo.org import tasks

    assert settings.CELERY_BEAT_SCHEDULE["purge-staff-login-logs"]["task"] == tasks.staff_login_logs_purge.name
    settings.STAFF_LOGIN_LOG_DAYS = 90
    with time_machine.travel(timedelta(days=-91)):
        assert logged_in_after(Client(), "lock.clerk", PASSWORD)
    with time_machine.travel(timedelta(days=-89)):
        assert logged_in_after(Client(), "lock.clerk", PASSWORD)
    for n in range(5):
        log_in(Client(), "lock.clerk", f"wrong-{n}")  # locked now
    assert AccessLog.objects.count() == 2

    assert tasks.staff_login_logs_purge.delay().get() == 1

    assert AccessLog.objects.count() == 1  # the one 89 days old stays
    assert AccessAttempt.objects.filter(username="lock.clerk").exists()  # the lock is not a log
    assert log_in(Client(), "lock.clerk", PASSWORD).status_code == 429


def logged_in_after(client, username, password) -> bool:
    log_in(client, username, password)
    return logged_in(client)


def test_many_usernames_tried_from_one_address_pause_that_address(db, store_a, settings):
    """Spraying: a few wrong passwords for each of many usernames stays under the per-username lock;
    the address's own count (RATE_LIMIT_STAFF_LOGIN_ADDRESS) pauses it. Another address is not."""
    import time

    from django.core.cache import cache

    cache.clear()
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "staff_login_address": "6/15m"}
    make_staff(Role.CLERK, store=store_a, username="spray.target")
    attacker, store = Client(REMOTE_ADDR="203.0.113.9"), Client(REMOTE_ADDR="198.51.100.7")
    window = (int(time.time()) // 900 + 1) * 900  # the start of a 15-minute window of the counter

    with time_machine.travel(window + 60, tick=False) as clock:  # one minute into it
        tries = [log_in(attacker, f"user{n}", "guess").status_code for n in range(6)]  # 6 usernames, once each
        paused = log_in(attacker, "spray.target", PASSWORD)  # even the right password, from there
        json_paused = log_in(attacker, "spray.target", PASSWORD, HTTP_ACCEPT="application/json")

        assert tries == [200] * 6  # the form again each time: no username reached its own limit
        assert paused.status_code == 429 and "from this network" in paused.content.decode()
        assert not logged_in(attacker)  # the right password changed nothing while paused
        # the 6 slide out of the count through the next window: one more fits when 5 are left, 150 s
        # into it: 840 s left in this window + 150
        assert paused["Retry-After"] == "990"
        assert json_paused.json()["code"] == "login_locked"
        assert not AccessAttempt.objects.filter(username="spray.target").exists()  # the username is not locked
        assert logged_in_after(store, "spray.target", PASSWORD)  # from the store's address it logs in
        clock.shift(989)
        assert log_in(Client(REMOTE_ADDR="203.0.113.9"), "spray.target", PASSWORD).status_code == 429
        clock.shift(1)
        assert logged_in_after(Client(REMOTE_ADDR="203.0.113.9"), "spray.target", PASSWORD)
