import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from members import auth, services
from members.models import Consent, LoginCode, Member
from members.sms import FakeSmsProvider
from omo.org import services as org
from tests.factories import SalesChannelFactory


@pytest.fixture(autouse=True)
def empty_outbox():
    FakeSmsProvider.outbox.clear()
    yield
    FakeSmsProvider.outbox.clear()


@pytest.fixture
def app(db):
    channel = SalesChannelFactory(code="APP", kind="app")
    _credential, key = org.channel_credential_issue(channel=channel, name="test", created_by=None)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


def last_code() -> str:
    return re.search(r"\b(\d{6})\b", FakeSmsProvider.outbox[-1].text).group(1)


def test_first_login_registers_the_member_and_gives_a_token_for_their_own_pages(app):
    sent = app.post("/api/v1/members/login/code/", {"phone": "0912-345-678"}, format="json")
    verified = app.post("/api/v1/members/login/verify/", {"phone": "0912345678", "code": last_code()}, format="json")
    token = verified.json()["token"]

    me = app.get("/api/v1/members/me/", HTTP_X_MEMBER_TOKEN=token)
    changed = app.patch(
        "/api/v1/members/me/",
        {"name": "王小明", "email": "Ming@Example.com", "consents": {"email": True}},
        format="json",
        HTTP_X_MEMBER_TOKEN=token,
    )

    assert (sent.status_code, verified.status_code) == (202, 200)
    assert FakeSmsProvider.outbox[-1].phone == "+886912345678"
    assert me.json()["phone"] == "+886912345678"
    assert (changed.json()["name"], changed.json()["email"]) == ("王小明", "ming@example.com")
    member = Member.objects.get()
    assert member.registered_channel.code == "APP"
    assert Consent.objects.get(member=member).granted is True
    assert LoginCode.objects.get().code_hash != last_code()  # only a hash is kept


def test_a_used_or_expired_code_does_not_log_in(app):
    app.post("/api/v1/members/login/code/", {"phone": "0912345678"}, format="json")
    code = last_code()
    app.post("/api/v1/members/login/verify/", {"phone": "0912345678", "code": code}, format="json")

    reused = app.post("/api/v1/members/login/verify/", {"phone": "0912345678", "code": code}, format="json")
    app.post("/api/v1/members/login/code/", {"phone": "0912345678"}, format="json")
    LoginCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = app.post("/api/v1/members/login/verify/", {"phone": "0912345678", "code": last_code()}, format="json")

    assert (reused.status_code, reused.json()["code"]) == (400, "invalid_code")
    assert (expired.status_code, expired.json()["code"]) == (400, "invalid_code")


def test_guessing_codes_is_stopped_after_five_tries(app):
    app.post("/api/v1/members/login/code/", {"phone": "0912345678"}, format="json")
    right = last_code()
    wrong = "000000" if right != "000000" else "111111"

    answers = [
        app.post("/api/v1/members/login/verify/", {"phone": "0912345678", "code": wrong}, format="json").json()["code"]
        for _ in range(5)
    ]
    even_right = app.post("/api/v1/members/login/verify/", {"phone": "0912345678", "code": right}, format="json")

    assert answers == ["invalid_code"] * 5
    assert (even_right.status_code, even_right.json()["code"]) == (429, "too_many_attempts")
    assert Member.objects.count() == 0


def test_at_most_five_codes_an_hour_per_phone(app, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    answers = []
    for _minute in range(6):  # one code every ten minutes: the sixth is refused until the first is an hour old
        answers.append(app.post("/api/v1/members/login/code/", {"phone": "0912345678"}, format="json"))
        time_machine.shift(timedelta(minutes=10))

    assert [a.status_code for a in answers] == [202] * 5 + [429]
    assert answers[-1].json()["code"] == "too_many_codes"
    # asked at minute 50 (the clock has moved on since): the first code is an hour old at minute 60
    assert answers[-1]["Retry-After"] == "600"
    assert len(FakeSmsProvider.outbox) == 5
    time_machine.shift(timedelta(minutes=-10, seconds=599))
    assert app.post("/api/v1/members/login/code/", {"phone": "0912345678"}, format="json").status_code == 429
    time_machine.shift(timedelta(seconds=1))
    assert app.post("/api/v1/members/login/code/", {"phone": "0912345678"}, format="json").status_code == 202


def test_member_pages_need_a_valid_token_and_a_channel(app, hq_admin):
    member = services.member_register(phone="0912345678").member
    token = auth.member_token(member)

    assert app.get("/api/v1/members/me/").status_code == 403
    assert app.get("/api/v1/members/me/", HTTP_X_MEMBER_TOKEN=token + "x").status_code == 403
    staff = APIClient()
    staff.force_authenticate(hq_admin)
    assert staff.get("/api/v1/members/me/", HTTP_X_MEMBER_TOKEN=token).status_code == 403
    assert app.get("/api/v1/members/me/points/", HTTP_X_MEMBER_TOKEN=token).status_code == 200


def test_bad_profile_changes_are_refused_and_change_nothing(app):
    member = services.member_register(phone="0912345678", email="me@example.com").member
    services.member_register(phone="0922333444", email="taken@example.com")
    token = auth.member_token(member)

    bad_email = app.patch("/api/v1/members/me/", {"email": "nope"}, format="json", HTTP_X_MEMBER_TOKEN=token)
    taken = app.patch("/api/v1/members/me/", {"email": "taken@example.com"}, format="json", HTTP_X_MEMBER_TOKEN=token)
    future = app.patch("/api/v1/members/me/", {"birthday": "2999-01-01"}, format="json", HTTP_X_MEMBER_TOKEN=token)

    assert [r.json()["code"] for r in (bad_email, taken, future)] == [
        "invalid_email",
        "email_taken",
        "invalid_birthday",
    ]
    member.refresh_from_db()
    assert (member.email, member.birthday) == ("me@example.com", None)


def test_member_saves_items_online_and_the_clerk_sees_them_at_the_counter(app, clerk_a):
    from tests.conftest import client_for
    from tests.factories import make_product

    member = services.member_register(phone="0912345678").member
    token = auth.member_token(member)
    make_product(style_code="COAT", variants=("M", "L"))

    saved = app.post("/api/v1/members/me/wishlist/", {"sku": "COAT-M"}, format="json", HTTP_X_MEMBER_TOKEN=token)
    again = app.post("/api/v1/members/me/wishlist/", {"sku": "COAT-M"}, format="json", HTTP_X_MEMBER_TOKEN=token)
    app.post("/api/v1/members/me/wishlist/", {"sku": "COAT-L"}, format="json", HTTP_X_MEMBER_TOKEN=token)
    removed = app.delete("/api/v1/members/me/wishlist/?sku=COAT-L", HTTP_X_MEMBER_TOKEN=token)
    unknown = app.post("/api/v1/members/me/wishlist/", {"sku": "NOPE"}, format="json", HTTP_X_MEMBER_TOKEN=token)
    at_counter = client_for(clerk_a).get(f"/api/v1/members/{member.member_no}/wishlist/").json()

    assert (saved.status_code, again.status_code, removed.status_code) == (201, 201, 204)
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_sku")
    assert [(item["sku"], item["saved_on"]) for item in at_counter] == [("COAT-M", "APP")]


def test_a_wishlist_is_capped(app, monkeypatch):
    from tests.factories import make_variant

    monkeypatch.setattr(services, "MAX_WISHLIST", 2)
    member = services.member_register(phone="0912345678").member
    variants = [make_variant(style_code=f"W{n}") for n in range(3)]
    services.wishlist_add(member=member, variant=variants[0])
    services.wishlist_add(member=member, variant=variants[1])

    with pytest.raises(services.BusinessRuleError) as error:
        services.wishlist_add(member=member, variant=variants[2])

    assert error.value.code == "wishlist_full"
    assert member.wishlist.count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_code_requests_for_one_phone_stay_within_the_hourly_limit(require_postgres):
    import threading

    from django.db import connection

    barrier, sent = threading.Barrier(12), []

    def ask():
        try:
            barrier.wait(timeout=30)
            auth.login_code_send(phone="0912345678")
            sent.append(1)
        except auth.TooManyRequests:
            pass
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(sent) == 5
    assert LoginCode.objects.count() == 5
