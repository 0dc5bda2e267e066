"""Any JSON as segment rules: ``rules_clean`` names the problems (400 ``invalid_segment``) or the rules
it accepts evaluate without an error, on the real database."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketing.rules import ALL_RULES, members_matching, rules_clean
from members.models import ProfileField, ProfileGroup
from omo.core.errors import ApplicationError

TEXT = st.one_of(
    st.sampled_from(
        ["S-A", "S-B", "GOLD", "women", "dry", "cat", "skin_type", "species", "pets", "2026-01-31", "24.5"]
    ),
    st.text(max_size=8),
)
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30), st.integers(-3, 400),
    st.floats(allow_nan=True), TEXT,
)  # fmt: skip
KEYS = st.sampled_from(
    ["days", "min", "max", "paths", "stores", "min_points", "unused", "campaigns", "r", "f", "m", "any", "clerks",
     "min_rating", "max_rating", "field", "op", "value", "group", "eq", "in", "gte", "lte", "exists", "x"]
)  # fmt: skip
JSON = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.one_of(KEYS, st.text(max_size=4)), inner, max_size=4)
    ),
    max_leaves=12,
)
CONDITION = st.fixed_dictionaries(
    {"field": st.one_of(st.sampled_from(["skin_type", "shoe_size", "species", "x__y", "contains"]), TEXT)},
    optional={
        "op": st.one_of(st.sampled_from(["eq", "in", "gte", "lte", "exists"]), JSON),
        "value": JSON,
        "group": st.one_of(st.just("pets"), JSON),
    },
)
RULES = st.dictionaries(
    st.one_of(st.sampled_from(ALL_RULES), st.text(max_size=6)),
    st.one_of(JSON, st.lists(CONDITION, min_size=1, max_size=3)),
    max_size=4,
)


@pytest.fixture
def brand(shop):
    ProfileField.objects.create(key="skin_type", label="Skin", type="choice", choices=["dry", "oily"])
    ProfileField.objects.create(key="shoe_size", label="Shoe size", type="number")
    pets = ProfileGroup.objects.create(key="pets", label="Pets")
    ProfileField.objects.create(group=pets, key="species", label="Species", type="choice", choices=["cat", "dog"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=RULES)
def test_any_json_is_either_named_problems_or_rules_that_evaluate(brand, rules):
    try:
        clean = rules_clean(rules)
    except ApplicationError as error:
        assert error.code == "invalid_segment"
        assert error.details == {} or set(error.details["rules"]) <= set(rules)
        return
    with transaction.atomic():  # a savepoint: a database error leaves the connection usable for the next example
        list(members_matching(clean).values_list("pk", flat=True))
        members_matching(rules).count()
    assert rules_clean(clean) == clean  # what was accepted is stable
