"""Two HQ users saving a segment of the same name at the same moment: one wins, the other gets the
409 ``segment_exists``, never a 500."""

import pytest

from marketing import services
from marketing.models import Segment, SegmentRun
from omo.org.roles import Role
from tests.concurrency import run_together
from tests.conftest import client_for
from tests.factories import make_staff

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_concurrent_creates_of_one_name_give_one_segment_and_conflicts(require_postgres):
    crm = make_staff(Role.HQ_CRM).user
    outcomes = run_together(
        4, lambda i: services.segment_create(actor=crm, name="November birthdays", rules={"birthday_month": 11}).pk
    )

    assert sorted(kind for kind, _ in outcomes) == ["conflict"] * 3 + ["ok"], outcomes
    assert {detail for kind, detail in outcomes if kind == "conflict"} == {"segment_exists"}
    assert Segment.objects.filter(name="November birthdays").count() == 1
    assert SegmentRun.objects.count() == 1  # the losers left no run behind


def test_concurrent_api_creates_of_one_name_answer_201_once_and_409(require_postgres):
    crm = make_staff(Role.HQ_CRM).user
    body = {"name": "Lapsed", "rules": {"last_purchase_days": {"min": 90}}}
    outcomes = run_together(
        3, lambda i: client_for(crm).post("/api/v1/marketing/segments/", body, format="json").status_code
    )

    assert sorted(outcomes) == [("ok", 201), ("ok", 409), ("ok", 409)], outcomes
    assert Segment.objects.filter(name="Lapsed").count() == 1
