"""Two requests creating the same thing at the same moment: one wins, the other gets 409, never a 500."""

import pytest

from omo.org.models import User
from omo.org.roles import Role
from pos.models import Register
from pos.services import register_create
from tests.concurrency import run_together
from tests.factories import make_staff

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_concurrent_duplicate_registers_give_one_success_and_conflicts(require_postgres, store_a):
    outcomes = run_together(6, lambda i: register_create(actor=None, store=store_a, code="POS9", name=f"till {i}").pk)

    assert sorted(kind for kind, _ in outcomes) == ["conflict"] * 5 + ["ok"], outcomes
    assert {detail for kind, detail in outcomes if kind == "conflict"} == {"register_exists"}
    assert Register.objects.filter(code="POS9").count() == 1


def test_concurrent_same_username_in_other_case_gives_one_login(require_postgres, db):
    outcomes = run_together(
        4, lambda i: make_staff(Role.HQ_CRM, username=["ann", "Ann", "ANN", "aNn"][i], employee_code=f"X{i}").pk
    )

    assert sorted(kind for kind, _ in outcomes) == ["conflict"] * 3 + ["ok"]
    assert User.objects.filter(username__iexact="ann").count() == 1
