"""A clerk or store manager of store A sees and changes only store A's records; HQ sees all."""

import pytest

from omo.core.errors import NotFoundError
from omo.org.access import get_scoped, scope_to_user, store_ids_for
from omo.org.models import StaffProfile, User
from pos.models import Register
from pos.services import register_create
from tests.conftest import client_for


@pytest.fixture
def registers(store_a, store_b):
    return {
        "a": register_create(actor=None, store=store_a, code="POS1", name="A till"),
        "b": register_create(actor=None, store=store_b, code="POS1", name="B till"),
    }


def test_store_ids_by_role(hq_admin, clerk_a, manager_b, store_a, store_b, db):
    nobody = User.objects.create_user("nobody", password="x" * 12)

    assert store_ids_for(hq_admin) is None
    assert store_ids_for(clerk_a) == {store_a.pk}
    assert store_ids_for(manager_b) == {store_b.pk}
    assert store_ids_for(nobody) == set()


def test_scope_helper_narrows_any_queryset_by_the_models_store_field(clerk_a, hq_admin, clerk_b, registers):
    assert list(scope_to_user(Register.objects.all(), clerk_a)) == [registers["a"]]
    assert set(scope_to_user(Register.objects.all(), hq_admin)) == {registers["a"], registers["b"]}
    assert [p.user for p in scope_to_user(StaffProfile.objects.all(), clerk_a)] == [clerk_a]
    with pytest.raises(NotFoundError, match="Register not found"):
        get_scoped(Register.objects.all(), clerk_a, pk=registers["b"].pk)


def test_inactive_user_sees_nothing(clerk_a, registers):
    clerk_a.is_active = False

    assert list(scope_to_user(Register.objects.all(), clerk_a)) == []


def test_clerk_lists_only_own_store_staff_and_registers(clerk_a, manager_a, clerk_b, manager_b, registers):
    api = client_for(clerk_a)

    staff = api.get("/api/v1/staff/").json()
    tills = api.get("/api/v1/pos/registers/").json()

    assert sorted(s["username"] for s in staff["results"]) == ["a.clerk", "a.manager"]
    assert {s["home_store"] for s in staff["results"]} == {"S-A"}
    assert [(r["store"], r["name"]) for r in tills["results"]] == [("S-A", "A till")]


def test_clerk_gets_404_for_another_stores_records(clerk_a, clerk_b, registers):
    api = client_for(clerk_a)
    other_employee = clerk_b.staff_profile.employee_code

    staff = api.get(f"/api/v1/staff/{other_employee}/")
    till = api.get(f"/api/v1/pos/registers/{registers['b'].pk}/")

    assert staff.status_code == 404
    assert staff.json()["code"] == "not_found"
    assert till.status_code == 404
    assert till.json() == {"code": "not_found", "message": "Register not found.", "details": {}}


def test_store_manager_cannot_change_another_stores_register(manager_a, registers):
    api = client_for(manager_a)

    response = api.patch(f"/api/v1/pos/registers/{registers['b'].pk}/", {"name": "hijacked"}, format="json")

    assert response.status_code == 404
    registers["b"].refresh_from_db()
    assert registers["b"].name == "B till"


def test_store_manager_cannot_create_a_register_in_another_store(manager_a, store_b):
    api = client_for(manager_a)

    response = api.post("/api/v1/pos/registers/", {"store": "S-B", "code": "POS9", "name": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "store_out_of_scope"
    assert not Register.objects.filter(code="POS9").exists()


def test_store_manager_creates_and_renames_a_register_in_own_store(manager_a, store_a):
    api = client_for(manager_a)

    created = api.post("/api/v1/pos/registers/", {"store": "S-A", "code": "POS3", "name": "Pop-up"}, format="json")
    renamed = api.patch(f"/api/v1/pos/registers/{created.json()['id']}/", {"name": "Pop-up till"}, format="json")

    assert created.status_code == 201
    assert renamed.status_code == 200
    register = Register.objects.get(store=store_a, code="POS3")
    assert (register.name, register.created_by, register.updated_by) == ("Pop-up till", manager_a, manager_a)


def test_clerk_role_cannot_create_registers_even_in_own_store(clerk_a, store_a):
    response = client_for(clerk_a).post(
        "/api/v1/pos/registers/", {"store": "S-A", "code": "POS4", "name": "x"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Register.objects.count() == 0


def test_duplicate_register_code_is_a_conflict_and_changes_nothing(manager_a, registers):
    response = client_for(manager_a).post(
        "/api/v1/pos/registers/", {"store": "S-A", "code": "POS1", "name": "again"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "register_exists"
    assert Register.objects.get(pk=registers["a"].pk).name == "A till"
    assert Register.objects.count() == 2


def test_hq_sees_every_store(hq_admin, clerk_a, clerk_b, registers):
    api = client_for(hq_admin)

    staff = api.get("/api/v1/staff/").json()
    tills = api.get("/api/v1/pos/registers/").json()

    assert sorted(s["username"] for s in staff["results"]) == ["a.clerk", "b.clerk", "hq.admin"]
    assert sorted(r["store"] for r in tills["results"]) == ["S-A", "S-B"]


def test_user_without_role_and_anonymous_are_refused(db, registers):
    nobody = User.objects.create_user("nobody", password="x" * 12)

    assert client_for(nobody).get("/api/v1/pos/registers/").status_code == 403
    anonymous = client_for(None).get("/api/v1/pos/registers/")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"


def test_staff_list_is_not_n_plus_one(hq_admin, store_a, django_assert_max_num_queries):
    from tests.factories import make_staff

    for _ in range(15):
        make_staff("clerk", store=store_a)
    api = client_for(hq_admin)

    with django_assert_max_num_queries(6):
        response = api.get("/api/v1/staff/")

    assert response.json()["count"] == 16


def test_store_staff_log_in_on_the_staff_login_page_and_use_the_api(client, clerk_a, store_a):

    response = client.post("/accounts/login/", {"username": "a.clerk", "password": "test-pass-123"})
    api = client.get("/api/v1/staff/")

    assert response.status_code == 302
    assert api.status_code == 200
    assert [s["username"] for s in api.json()["results"]] == ["a.clerk"]


def test_wrong_password_on_the_staff_login_page_logs_nobody_in(client, clerk_a):
    response = client.post("/accounts/login/", {"username": "a.clerk", "password": "nope"})

    assert response.status_code == 200
    assert client.get("/api/v1/staff/").status_code == 401
