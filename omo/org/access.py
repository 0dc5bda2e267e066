"""Who may see what: the one store-scoping helper every app uses.

HQ staff (any HQ role, or a superuser) see every store. Store managers and clerks see only their home
store's rows. Anyone else (no role, no home store, inactive) sees nothing. A row outside the user's
scope is reported as *not found*, never as forbidden, so its existence does not leak.
"""

from __future__ import annotations

from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext as _

from omo.core.errors import NotFoundError, PermissionDeniedError
from omo.org.roles import HQ_ROLES, STORE_ROLES, Role

ALL_STORES = None  # what ``store_ids_for`` returns for HQ


def roles_of(user) -> frozenset[str]:
    """The role names of ``user`` (cached on the user object for the request)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_omo_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=list(Role.values)).values_list("name", flat=True))
        user._omo_roles = cached
    return cached


def is_hq(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or bool(roles_of(user) & HQ_ROLES)


def home_store_id(user) -> int | None:
    profile = getattr(user, "staff_profile", None) if getattr(user, "is_authenticated", False) else None
    return profile.home_store_id if profile else None


def store_ids_for(user) -> frozenset[int] | None:
    """The store ids ``user`` may see: ``ALL_STORES`` (None) for HQ, else a (possibly empty) set."""
    if is_hq(user):
        return ALL_STORES
    if roles_of(user) & STORE_ROLES:
        store_id = home_store_id(user)
        return frozenset({store_id}) if store_id else frozenset()
    return frozenset()


def scope_to_user(queryset: QuerySet, user, *, store_field: str | None = None) -> QuerySet:
    """``queryset`` narrowed to the rows ``user`` may see.

    ``store_field`` is the lookup path to the store (e.g. ``"store"`` or ``"order__store"``), or a
    tuple of paths of which any may match (a transfer is seen by its origin and its destination); it
    defaults to the model's ``STORE_FIELD``. A model without one is HQ-only.
    """
    allowed = store_ids_for(user)
    if allowed is ALL_STORES:
        return queryset
    field = store_field or getattr(queryset.model, "STORE_FIELD", None)
    if not field or not allowed:
        return queryset.none()
    condition = Q()
    for path in (field,) if isinstance(field, str) else field:
        condition |= Q(**{"pk__in" if path == "self" else f"{path}__in": allowed})
    return queryset.filter(condition)


def get_scoped(queryset: QuerySet, user, *, store_field: str | None = None, **lookup) -> Model:
    """One row by ``lookup`` from what ``user`` may see; ``NotFoundError`` otherwise."""
    try:
        return scope_to_user(queryset, user, store_field=store_field).get(**lookup)
    except queryset.model.DoesNotExist:
        raise NotFoundError(
            _("%(model)s not found.") % {"model": queryset.model._meta.verbose_name.capitalize()}
        ) from None


def ensure_store_allowed(user, store_id: int) -> None:
    """Refuses work on a store outside ``user``'s scope (e.g. creating a record for another store)."""
    allowed = store_ids_for(user)
    if allowed is not ALL_STORES and store_id not in allowed:
        raise PermissionDeniedError(
            _("You can only work on records of your own store."),
            code="store_out_of_scope",
            details={"store": store_id},
        )


def ensure_permission(user, perm: str) -> None:
    """Refuses an action the user's role does not grant (``perm`` like ``"pos.add_register"``)."""
    if not user.has_perm(perm):
        raise PermissionDeniedError(_("Your role does not allow this action."), details={"permission": perm})
