"""The same referral click sent several times at once (a double tap, a retried request) records one
binding and answers every request with it, never a 500."""

import pytest

from attribution import services as attribution
from attribution.models import Binding
from members import services as member_services
from omo.org.roles import Role
from tests.factories import StoreFactory, WarehouseFactory, make_staff
from tests.org.test_races import run_together

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.mark.postgres
def test_the_same_click_at_once_records_one_binding(require_postgres):
    store = StoreFactory(code="S-R", name="Race store", supplying_warehouse=WarehouseFactory(code="WH-R", name="W"))
    clerk = make_staff(Role.CLERK, store=store, username="race.clerk").user
    member = member_services.member_register(phone="0922777888").member
    code = clerk.staff_profile.referral_code

    outcomes = run_together(8, lambda _i: attribution.referral_click(member=member, code=code).pk)

    [binding] = Binding.objects.filter(member=member)
    assert outcomes == [("ok", binding.pk)] * 8
    assert (binding.source, binding.clerk_id, binding.store_id) == ("referral_link", clerk.pk, store.pk)
