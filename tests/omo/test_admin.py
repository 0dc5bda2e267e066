"""The HQ admin: every model registered with working list, filter and search pages; HQ staff only."""

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from omo.org.access import roles_of
from omo.org.models import ChannelCredential, StaffProfile, User
from omo.org.roles import Role
from tests.factories import SalesChannelFactory, make_staff

PROJECT_APPS = {"core", "events", "org", "catalog", "inventory", "members", "orders", "pos", "attribution"}


def project_models():
    from django.apps import apps

    return [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS]


def test_every_project_model_is_registered_in_the_admin():
    missing = [m._meta.label for m in project_models() if m not in admin.site._registry]

    assert missing == []


def test_admin_changelists_search_and_filters_open_for_hq_admin(client, hq_admin, store_a, clerk_a):
    client.force_login(hq_admin)
    for model in project_models():
        model_admin = admin.site._registry[model]
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

        listing = client.get(url)
        searched = client.get(url, {"q": "S-A"}) if model_admin.search_fields else listing

        assert listing.status_code == 200, url
        assert searched.status_code == 200, url
        assert model_admin.list_display != ("__str__",), f"{model._meta.label} needs useful list columns"


def test_admin_header_shows_the_brand_in_traditional_chinese(client, hq_admin, settings):
    settings.BRAND_NAME = "青禾服飾"
    client.force_login(hq_admin)

    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()

    assert "青禾服飾 · OMO 後台" in page
    assert "總部" in page


@pytest.mark.parametrize("role", [Role.CLERK, Role.STORE_MANAGER])
def test_store_staff_cannot_enter_the_hq_admin(client, store_a, role):
    profile = make_staff(role, store=store_a)
    client.force_login(profile.user)

    response = client.get("/admin/org/location/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_every_hq_role_can_enter_the_admin(client, db):
    for role in (Role.HQ_ADMIN, Role.HQ_MERCHANDISER, Role.HQ_CRM, Role.HQ_FINANCE):
        client.force_login(make_staff(role).user)

        assert client.get("/admin/").status_code == 200, role
        assert client.get("/admin/org/location/").status_code == 200, role


def test_issue_key_action_shows_the_key_once_on_its_own_page_and_stores_only_its_hash(client, hq_admin):
    channel = SalesChannelFactory(code="APP", kind="app")
    closed = SalesChannelFactory(code="OLD", kind="web", is_active=False)
    client.force_login(hq_admin)

    response = client.post(
        reverse("admin:org_saleschannel_changelist"),
        {"action": "issue_key", "_selected_action": [channel.pk, closed.pk]},
    )

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("no-store")
    credential = ChannelCredential.objects.get(channel=channel)
    [(shown_channel, key)] = response.context["issued"]
    assert shown_channel == channel
    assert key.startswith(f"omo_{credential.prefix}_")
    assert key.split("_", 2)[2] not in credential.secret_hash
    assert key in response.content.decode()
    assert [(c.code, reason) for c, reason in response.context["refused"]] == [
        ("OLD", "Cannot issue a key for an inactive channel.")
    ]
    assert not ChannelCredential.objects.filter(channel=closed).exists()
    assert "Set-Cookie" not in response or key not in response["Set-Cookie"]


def test_hq_admin_who_is_not_superuser_cannot_touch_a_superuser(client, hq_admin):
    root = make_staff(Role.HQ_ADMIN, username="root", superuser=True, password="root-pass-123").user
    before = root.password
    client.force_login(hq_admin)

    password_page = client.post(
        f"/admin/org/user/{root.pk}/password/",
        {"password1": "Stolen-pass-123", "password2": "Stolen-pass-123", "usable_password": "true"},
    )
    change_page = client.post(f"/admin/org/user/{root.pk}/change/", {"username": "root", "is_active": ""})
    delete_page = client.post(f"/admin/org/user/{root.pk}/delete/", {"post": "yes"})

    assert password_page.status_code == 403
    assert delete_page.status_code == 403
    assert change_page.status_code in (302, 403)
    root.refresh_from_db()
    assert (root.password, root.is_active, root.username) == (before, True, "root")


def test_location_kind_cannot_change_while_stores_or_staff_depend_on_it(client, hq_admin, warehouse, store_a, clerk_a):
    client.force_login(hq_admin)

    def post(location, kind):
        return client.post(
            f"/admin/org/location/{location.pk}/change/",
            {
                "code": location.code,
                "name": location.name,
                "kind": kind,
                "city": "",
                "address": "",
                "phone": "",
                "is_active": "on",
                "supplying_warehouse": "",
            },
        )

    warehouse_page = post(warehouse, "store")
    store_page = post(store_a, "warehouse")

    assert warehouse_page.status_code == 200
    assert warehouse_page.context["adminform"].form.errors["kind"] == [
        "This warehouse supplies stores: assign them another warehouse first."
    ]
    assert store_page.context["adminform"].form.errors["kind"] == [
        "Staff work in this store: move them to another store first."
    ]
    warehouse.refresh_from_db()
    store_a.refresh_from_db()
    assert (warehouse.kind, store_a.kind, store_a.supplying_warehouse) == ("warehouse", "store", warehouse)


def test_register_added_in_the_admin_is_stamped_by_the_service(client, hq_admin, store_a):
    from pos.models import Register

    client.force_login(hq_admin)

    response = client.post(
        "/admin/pos/register/add/", {"store": store_a.pk, "code": "POS7", "name": "x", "is_active": "on"}
    )

    assert response.status_code == 302
    register = Register.objects.get(code="POS7")
    assert (register.created_by, register.updated_by) == (hq_admin, hq_admin)


def test_hq_adds_a_clerk_through_the_staff_form(client, hq_admin, store_a):
    client.force_login(hq_admin)

    response = client.post(
        reverse("admin:org_staffprofile_add"),
        {
            "username": "new.clerk",
            "email": "",
            "password": "Long-enough-pass-1",
            "employee_code": "A-100",
            "display_name": "新店員",
            "role": "clerk",
            "home_store": store_a.pk,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    profile = StaffProfile.objects.get(employee_code="A-100")
    assert (profile.user.username, profile.home_store, roles_of(profile.user)) == ("new.clerk", store_a, {"clerk"})
    assert profile.user.check_password("Long-enough-pass-1")
    assert LogEntry.objects.filter(user=hq_admin, object_id=str(profile.pk)).count() == 1


def test_staff_form_refuses_a_clerk_without_a_store_and_creates_nothing(client, hq_admin):
    client.force_login(hq_admin)

    response = client.post(
        reverse("admin:org_staffprofile_add"),
        {
            "username": "lost",
            "password": "Long-enough-pass-1",
            "employee_code": "A-101",
            "display_name": "x",
            "role": "clerk",
            "home_store": "",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == ["A store manager or clerk needs a home store."]
    assert not User.objects.filter(username="lost").exists()


def test_hq_promotes_a_clerk_to_store_manager_of_another_store(client, hq_admin, store_a, store_b):
    profile = make_staff(Role.CLERK, store=store_a, display_name="阿明")
    client.force_login(hq_admin)

    response = client.post(
        reverse("admin:org_staffprofile_change", args=[profile.pk]),
        {"display_name": "阿明", "role": "store_manager", "home_store": store_b.pk},
    )

    assert response.status_code == 302
    profile.refresh_from_db()
    user = User.objects.get(pk=profile.user_id)
    assert (profile.home_store, roles_of(user)) == (store_b, {"store_manager"})


def test_admin_creates_transfers_through_the_service_and_never_deletes_them(client, hq_admin, warehouse, store_a):
    from inventory.models import Transfer
    from tests.factories import make_variant

    shirt = make_variant(style_code="ADM")
    client.force_login(hq_admin)

    response = client.post(
        "/admin/inventory/transfer/add/",
        {
            "origin": warehouse.pk,
            "destination": store_a.pk,
            "note": "by hand",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
            "lines-0-variant": shirt.pk,
            "lines-0-quantity_requested": "3",
        },
    )
    same_place = client.post(
        "/admin/inventory/transfer/add/",
        {
            "origin": warehouse.pk,
            "destination": warehouse.pk,
            "note": "",
            "lines-TOTAL_FORMS": "0",
            "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    transfer = Transfer.objects.get()
    assert (transfer.requested_by, transfer.lines.get().quantity_requested, transfer.note) == (hq_admin, 3, "by hand")
    assert same_place.status_code == 200
    assert Transfer.objects.count() == 1
    assert client.post(f"/admin/inventory/transfer/{transfer.pk}/delete/", {"post": "yes"}).status_code == 403


def test_transfer_workflow_actions_run_the_services_and_report_refusals(client, hq_admin, warehouse, store_a):
    from django.contrib.messages import get_messages

    from inventory import services
    from inventory.models import Transfer
    from tests.factories import make_variant
    from tests.inventory.conftest import receive

    shirt = make_variant(style_code="ACT")
    receive(warehouse, shirt, 2)
    ok = services.transfer_request(origin=warehouse, destination=store_a, lines=[(shirt, 2)], actor=hq_admin)
    short = services.transfer_request(origin=warehouse, destination=store_a, lines=[(shirt, 5)], actor=hq_admin)
    client.force_login(hq_admin)
    url = reverse("admin:inventory_transfer_changelist")

    client.post(url, {"action": "approve", "_selected_action": [ok.pk, short.pk]})
    response = client.post(url, {"action": "ship", "_selected_action": [ok.pk, short.pk]}, follow=True)

    texts = [str(m) for m in get_messages(response.wsgi_request)] or [str(m) for m in response.context["messages"]]
    assert dict(Transfer.objects.values_list("pk", "status")) == {ok.pk: "shipped", short.pk: "approved"}
    assert any("Not enough stock for ACT-M" in text for text in texts), texts
    assert any("Shipped 1 transfers." in text for text in texts), texts
