from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Variant
from inventory.models import LotStock, StockLevel, StockMovement
from omo.org.access import roles_of
from omo.org.models import Location, StaffProfile, User
from pos.models import Register


@pytest.fixture(autouse=True)
def development_mode(settings):
    settings.DEBUG = True  # pytest-django turns DEBUG off; the seed refuses production without --force


def snapshot() -> dict:
    """Every row of every table of the project's apps (and users and groups), as plain values."""
    tables = {}
    for model in apps.get_models():
        if model._meta.app_label in {"sessions", "admin", "contenttypes"}:
            continue
        tables[model._meta.label] = sorted(
            tuple(sorted((k, str(v)) for k, v in row.items())) for row in model.objects.values()
        )
    tables["group memberships"] = sorted(User.groups.through.objects.values_list("user_id", "group_id"))
    return tables


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_builds_the_demo_brand_and_a_second_run_changes_nothing(db, api):
    output = seed()

    assert (
        "created 7 locations, 24 staff, 4 channels, 3 channel keys, 3 tiers, 1 earn rules, 36 products, "
        "306 SKUs, 2 goods receipts, 5 transfers, 10 registers" in output
    )
    stores = Location.objects.filter(kind="store")
    assert stores.count() == 5
    assert len(set(stores.values_list("city", flat=True))) == 5
    assert set(stores.values_list("supplying_warehouse__code", flat=True)) == {"WH-EC", "WH-KHH"}
    assert Location.objects.get(code="WH-EC").name == "桃園電商倉"
    for store in stores:
        people = StaffProfile.objects.filter(home_store=store)
        assert sorted(r for p in people for r in roles_of(p.user)) == ["clerk", "clerk", "clerk", "store_manager"]
        assert Register.objects.filter(store=store).count() == 2
        assert StockLevel.objects.filter(location=store, on_hand__gt=0).count() > 200
    assert User.objects.get(username="admin").is_superuser
    assert User.objects.get(username="tpe01.clerk1").check_password("omo-demo-2026")
    assert "tpe01.clerk1" in output
    assert "omo_demoweb1_web-demo-key-not-for-production" in output
    assert "http://127.0.0.1:8000/admin/" in output
    assert Variant.objects.filter(product__tracks_lots=True).count() == 6
    assert LotStock.objects.filter(on_hand__gt=0).values("lot__variant").distinct().count() == 6
    for level in StockLevel.objects.all()[:50]:
        moved = StockMovement.objects.filter(variant=level.variant_id, location=level.location_id)
        assert level.on_hand == sum(moved.values_list("quantity", flat=True))
    assert (
        api.get("/api/v1/channel/", HTTP_X_API_KEY="omo_demoapp1_app-demo-key-not-for-production").json()["code"]
        == "APP"
    )

    Location.objects.filter(code="S-TPE01").update(name="台北信義旗艦店")  # HQ edits something
    before = snapshot()
    again = seed()

    assert "created nothing (already seeded)" in again
    assert snapshot() == before
    assert Location.objects.get(code="S-TPE01").name == "台北信義旗艦店"


def test_seed_refuses_production_without_force(db, settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo", stdout=StringIO())

    assert Location.objects.count() == 0


def test_seed_leaves_a_login_made_before_it_alone(db):
    User.objects.create_superuser("admin", password="my-own-secret-1")

    output = seed()

    assert "admin            (a login of that name existed before the demo: left unchanged)" in output
    assert User.objects.get(username="admin").check_password("my-own-secret-1")
    assert not StaffProfile.objects.filter(user__username="admin").exists()
    assert StaffProfile.objects.count() == 23
    assert "created nothing" in seed()
