import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from omo.core.errors import BusinessRuleError, ConflictError
from omo.org import services
from omo.org.access import is_hq, roles_of
from omo.org.models import Location, StaffProfile, User
from omo.org.roles import Role
from tests.factories import make_staff


def test_staff_create_gives_role_group_profile_and_a_readable_referral_code(store_a):
    profile = make_staff(Role.CLERK, store=store_a, username="amy", employee_code="A-001")

    assert roles_of(profile.user) == {"clerk"}
    assert profile.home_store == store_a
    assert profile.user.is_staff is False  # clerks use the POS pages, not the admin
    assert len(profile.referral_code) == 8
    assert not set(profile.referral_code) & set("01OI")
    assert profile.user.check_password("test-pass-123")


@pytest.mark.parametrize(
    ("role", "store", "code"),
    [
        (Role.CLERK, None, "home_store_required"),
        (Role.STORE_MANAGER, "warehouse", "home_store_not_store"),
        (Role.HQ_CRM, "store", "hq_has_no_store"),
    ],
)
def test_staff_create_refuses_role_store_mismatch_and_writes_nothing(role, store, code, warehouse, store_a):
    home = {"warehouse": warehouse, "store": store_a, None: None}[store]

    with pytest.raises(BusinessRuleError) as error:
        make_staff(role, store=home, username="bad")

    assert error.value.code == code
    assert not User.objects.filter(username="bad").exists()


def test_duplicate_username_or_employee_code_is_a_conflict(store_a):
    make_staff(Role.CLERK, store=store_a, username="amy", employee_code="A-001")

    with pytest.raises(ConflictError) as by_name:
        make_staff(Role.CLERK, store=store_a, username="AMY")
    with pytest.raises(ConflictError) as by_code:
        make_staff(Role.CLERK, store=store_a, username="amy2", employee_code="A-001")

    assert (by_name.value.code, by_code.value.code) == ("username_taken", "employee_code_taken")
    assert StaffProfile.objects.count() == 1


def test_promotion_moves_role_and_store(store_a, store_b):
    profile = make_staff(Role.CLERK, store=store_a)

    services.staff_update(profile=profile, role=Role.STORE_MANAGER, home_store=store_b)

    user = User.objects.get(pk=profile.user_id)
    assert roles_of(user) == {"store_manager"}
    assert user.staff_profile.home_store == store_b


def test_promotion_to_hq_makes_admin_staff(store_a):
    profile = make_staff(Role.CLERK, store=store_a)

    services.staff_update(profile=profile, role=Role.HQ_FINANCE, home_store=None)

    user = User.objects.get(pk=profile.user_id)
    assert is_hq(user)
    assert user.is_staff is True


def test_only_hq_admin_may_be_superuser(db):
    with pytest.raises(BusinessRuleError, match="Only an HQ admin"):
        make_staff(Role.HQ_CRM, superuser=True, username="wannabe")

    assert not User.objects.filter(username="wannabe").exists()


def test_moving_a_superuser_out_of_hq_admin_takes_the_superuser_flag(store_a):
    profile = make_staff(Role.HQ_ADMIN, superuser=True)

    services.staff_update(profile=profile, role=Role.CLERK, home_store=store_a)

    user = User.objects.get(pk=profile.user_id)
    assert (user.is_superuser, user.is_staff, is_hq(user)) == (False, False, False)


def test_usernames_are_unique_whatever_the_case_even_past_the_service(db):
    make_staff(Role.HQ_CRM, username="Amy")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="amy")


def test_warehouse_cannot_have_a_supplier(warehouse):
    with pytest.raises(ValidationError) as error:
        services.location_create(code="WH-X", name="x", kind="warehouse", supplying_warehouse=warehouse)

    assert "supplying_warehouse" in error.value.message_dict
    assert not Location.objects.filter(code="WH-X").exists()


def test_store_supplier_must_be_a_warehouse(store_a):
    with pytest.raises(ValidationError, match="The supplier must be a warehouse"):
        services.location_create(code="S-X", name="x", kind="store", supplying_warehouse=store_a)


def test_database_refuses_a_supplied_warehouse_even_past_the_service(warehouse):
    other = Location.objects.create(code="WH-Y", name="y", kind="warehouse")

    with pytest.raises(IntegrityError), transaction.atomic():
        Location.objects.filter(pk=other.pk).update(supplying_warehouse=warehouse)


def test_location_code_format_is_validated(db):
    with pytest.raises(ValidationError) as error:
        services.location_create(code="taipei store", name="x", kind="store")

    assert "code" in error.value.message_dict


def test_moving_a_clerk_to_a_warehouse_is_refused_and_changes_nothing(store_a, warehouse):
    profile = make_staff(Role.CLERK, store=store_a)

    with pytest.raises(BusinessRuleError) as error:
        services.staff_update(profile=profile, home_store=warehouse)

    assert error.value.code == "home_store_not_store"
    profile.refresh_from_db()
    assert profile.home_store == store_a
    assert roles_of(User.objects.get(pk=profile.user_id)) == {"clerk"}


def test_renaming_keeps_role_and_store(store_a):
    profile = make_staff(Role.STORE_MANAGER, store=store_a)

    services.staff_update(profile=profile, display_name="林店長")

    profile.refresh_from_db()
    assert (profile.display_name, profile.home_store, services.current_role(profile.user)) == (
        "林店長",
        store_a,
        Role.STORE_MANAGER,
    )


def test_location_update_refuses_unknown_fields_and_kind_change_with_dependants(warehouse, store_a):
    with pytest.raises(BusinessRuleError) as unknown:
        services.location_update(location=store_a, code="S-NEW")
    with pytest.raises(ValidationError) as kind:
        services.location_update(location=warehouse, kind="store")

    assert unknown.value.code == "invalid_fields"
    assert "supplies stores" in kind.value.message_dict["kind"][0]
    assert Location.objects.get(pk=warehouse.pk).kind == "warehouse"


def test_location_update_changes_name_and_supplier(warehouse, store_a):
    other = services.location_create(code="WH-2", name="Second", kind="warehouse")

    services.location_update(location=store_a, name="Store A renamed", supplying_warehouse=other)

    store_a.refresh_from_db()
    assert (store_a.name, store_a.supplying_warehouse) == ("Store A renamed", other)
