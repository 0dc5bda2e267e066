"""Clerk attribution over HTTP, the queue that attributes paid orders after their commit (and the job
that catches up on any it lost), and who may see what."""

from decimal import Decimal

from attribution import services as attribution
from attribution.models import Binding, OrderAttribution
from omo.org.services import channel_credential_issue, staff_deactivate
from orders import services as orders
from tests.attribution.conftest import ADDRESS, DAY0, counter_sale, web_order
from tests.conftest import client_for


def test_a_frontend_resolves_a_referral_code_and_reports_a_click_of_a_logged_in_member(shop, api, clerk_a):
    from members.auth import member_token

    _credential, key = channel_credential_issue(channel=shop.web, name="web shop", created_by=None)
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    code = clerk_a.staff_profile.referral_code
    found = api.get(f"/api/v1/attribution/referral-codes/{code.lower()}/")
    assert found.status_code == 200
    assert found.json() == {
        "code": code,
        "clerk": clerk_a.staff_profile.display_name,
        "store": {"code": "S-A", "name": "Store A"},
    }
    missing = api.get("/api/v1/attribution/referral-codes/NOSUCH99/")
    assert (missing.status_code, missing.json()["code"]) == (404, "referral_code_not_found")

    anonymous = api.post("/api/v1/attribution/referral-clicks/", {"code": code}, format="json")
    assert anonymous.status_code == 403 and not Binding.objects.exists()
    clicked = api.post(
        "/api/v1/attribution/referral-clicks/",
        {"code": code},
        format="json",
        HTTP_X_MEMBER_TOKEN=member_token(shop.member),
    )
    assert clicked.status_code == 201
    assert (clicked.json()["source"], clicked.json()["store"], clicked.json()["member"]) == (
        "referral_link",
        "S-A",
        shop.member.member_no,
    )


def test_paid_orders_are_attributed_after_the_commit_and_the_job_catches_up(
    shop, policy, clock, clerk_a, django_capture_on_commit_callbacks
):
    policy()
    clock(1)
    attribution.binding_chat_record(actor=clerk_a, member=shop.member, store=shop.store_a, note="chat")
    with django_capture_on_commit_callbacks(execute=True) as queued:
        order = orders.order_place(
            channel=shop.web, lines=[("TEE-M", 1)], fulfilment="ship", member=shop.member, shipping_address=ADDRESS
        )
        orders.order_pay(order=order, tenders=[{"tender": "card", "token": "tok_visa"}])
    from omo.events.services import _Kick

    # the attribution task, run (eagerly here) after the commit (beside the outbox relay's wake-ups)
    assert len([callback for callback in queued if not isinstance(callback, _Kick)]) == 1
    assert OrderAttribution.objects.get(order=order).rule == "latest_binding"

    # a paid order whose task was lost (committed, the queue never ran it): the beat job finds it
    lost = orders.order_place(
        channel=shop.web, lines=[("TEE-M", 1)], fulfilment="ship", member=shop.member, shipping_address=ADDRESS
    )
    orders.order_pay(order=lost, tenders=[{"tender": "card", "token": "tok_visa"}])
    assert not OrderAttribution.objects.filter(order=lost).exists()
    assert attribution.orders_attribute_pending() == 1
    assert OrderAttribution.objects.get(order=lost).rule == "latest_binding"
    assert attribution.orders_attribute_pending() == 0


def test_staff_see_bindings_and_explanations_of_their_own_store_only(
    shop, policy, clock, clerk_a, clerk_b, manager_b, hq_admin
):
    policy()
    clock(1)
    counter_sale(shop, clerk_a, shop.store_a, shop.member)
    clock(2)
    order = web_order(shop, shop.member)

    history = client_for(hq_admin).get("/api/v1/attribution/bindings/", {"member": shop.member.member_no})
    assert [(b["source"], b["store"], b["state"]) for b in history.json()] == [("pos_sale", "S-A", "active")]
    assert client_for(manager_b).get("/api/v1/attribution/bindings/", {"member": shop.member.member_no}).json() == []

    explained = client_for(clerk_a).get(f"/api/v1/attribution/orders/{order.number}/").json()
    [line] = explained["lines"]
    assert (explained["rule"], explained["policy_version"], line["commission"], line["binding_source"]) == (
        "latest_binding",
        1,
        "25.00",
        "pos_sale",
    )
    assert "TEE-M" in line["explanation"] and "Policy v1" in line["explanation"]
    other = client_for(clerk_b).get(f"/api/v1/attribution/orders/{order.number}/")
    assert (other.status_code, other.json()["code"]) == (404, "not_attributed")  # not their store's order or line


def test_a_clerk_logs_a_line_chat_for_their_store_only(shop, policy, clock, clerk_a):
    policy()
    clock(1)
    api = client_for(clerk_a)
    body = {"member": shop.member.member_no, "store": "S-A", "note": "Sent the new arrivals on LINE"}
    logged = api.post("/api/v1/attribution/bindings/chat/", body, format="json")
    assert (logged.status_code, logged.json()["source"], logged.json()["state"]) == (201, "line_chat", "active")
    elsewhere = api.post("/api/v1/attribution/bindings/chat/", {**body, "store": "S-B"}, format="json")
    assert elsewhere.status_code == 404
    no_note = api.post("/api/v1/attribution/bindings/chat/", {**body, "note": " "}, format="json")
    assert no_note.status_code == 400
    manual = api.post(
        "/api/v1/attribution/bindings/", {**body, "reason": "mine", "clerk": ""}, format="json"
    )  # manual assignment is HQ's
    assert manual.status_code == 403
    assert Binding.objects.count() == 1


def test_hq_runs_the_policy_and_the_month_through_the_api(shop, policy, clock, clerk_a, hq_admin):
    policy()
    clock(1)
    counter_sale(shop, clerk_a, shop.store_a, shop.member)
    api = client_for(hq_admin)
    draft = api.post(
        "/api/v1/attribution/policies/", {"based_on": 1, "default_rate": "0.06", "note": "6% for all"}, format="json"
    )
    assert (draft.status_code, draft.json()["version"], draft.json()["effective_from"]) == (201, 2, None)
    bad = api.post("/api/v1/attribution/policies/", {"based_on": 1, "store_share": "2"}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_rate")
    assert [p["version"] for p in api.get("/api/v1/attribution/policies/").json()] == [2, 1]  # nothing saved
    clock(45)
    month = f"{DAY0:%Y-%m}"
    what_if = api.post("/api/v1/attribution/simulations/", {"month": month, "policy": 2}, format="json")
    assert [(r["actual"], r["simulated"]) for r in what_if.json()] == [("15.00", "18.00")]
    built = api.post("/api/v1/attribution/periods/", {"month": month}, format="json").json()
    assert [(t["store"], t["payable"]) for t in built["totals"]] == [("S-A", "15.00")]
    adjusted = api.post(
        f"/api/v1/attribution/periods/{month}/adjustments/",
        {"store": "S-A", "clerk": clerk_a.staff_profile.employee_code, "amount": "-5", "reason": "cash shortage"},
        format="json",
    ).json()
    assert adjusted["totals"][0]["payable"] == "10.00"
    stale = api.post(f"/api/v1/attribution/periods/{month}/approve/", {"fingerprint": built["fingerprint"]})
    assert (stale.status_code, stale.json()["code"]) == (409, "draft_changed")
    approved = api.post(f"/api/v1/attribution/periods/{month}/approve/", {"fingerprint": adjusted["fingerprint"]})
    assert approved.json()["status"] == "approved"
    csv = api.get(f"/api/v1/attribution/periods/{month}/export.csv")
    assert csv["Content-Type"].startswith("text/csv") and b",10.00" in csv.content
    assert api.post(f"/api/v1/attribution/periods/{month}/paid/").json()["status"] == "paid"
    assert client_for(clerk_a).get(f"/api/v1/attribution/periods/{month}/").status_code == 403
    assert Decimal(approved.json()["totals"][0]["commission"]) == Decimal("15.00")


def test_a_clerks_referral_qr_code_to_print(shop, api, clerk_a, hq_admin, client, settings):
    import io

    import segno

    from pos import services as pos

    settings.STOREFRONT_URL = "https://shop.qinghe.example/?utm_source=store"
    code = clerk_a.staff_profile.referral_code
    expected_link = f"https://shop.qinghe.example/?utm_source=store&ref={code}"
    staff = client_for(hq_admin)
    png = staff.get(f"/api/v1/attribution/referral-codes/{code}/qr/", {"type": "png"})
    want = io.BytesIO()
    segno.make(expected_link, error="m").save(want, kind="png", scale=6, border=2)
    assert (png.status_code, png["Content-Type"], png.content) == (200, "image/png", want.getvalue())
    svg = staff.get(f"/api/v1/attribution/referral-codes/{code}/qr/")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content

    till = pos.register_create(actor=None, store=shop.store_a, code="POS1", name="櫃台 1")
    client.force_login(clerk_a)
    card = client.get(f"/pos/r/{till.pk}/me/qr/").content.decode()
    assert f'id="my-code">{code}<' in card and expected_link.replace("&", "&amp;") in card and "<svg" in card

    staff_deactivate(actor=hq_admin, profile=clerk_a.staff_profile)
    assert staff.get(f"/api/v1/attribution/referral-codes/{code}/qr/").status_code == 404
