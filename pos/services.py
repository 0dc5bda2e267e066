"""Every write of the POS app. Each takes the acting staff user and checks role and store scope;
``actor=None`` is the system itself (the demo seed, data migrations) and skips those checks."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from omo.core.errors import BusinessRuleError, ConflictError, conflict_on_integrity_error
from omo.org.access import ensure_permission, ensure_store_allowed
from omo.org.models import Location, User
from pos.models import Register


@transaction.atomic
def register_create(*, actor: User | None, store: Location, code: str, name: str) -> Register:
    if actor is not None:
        ensure_permission(actor, "pos.add_register")
        ensure_store_allowed(actor, store.pk)
    if not store.is_store:
        raise BusinessRuleError(_("Registers belong to stores, not warehouses."), code="not_a_store")
    if Register.objects.filter(store=store, code=code).exists():
        raise ConflictError(
            _("Register %(code)s already exists in this store.") % {"code": code}, code="register_exists"
        )
    register = Register(store=store, code=code, name=name, created_by=actor, updated_by=actor)
    # Uniqueness was checked above and is enforced by the insert: a concurrent twin gets a 409.
    register.full_clean(validate_unique=False, validate_constraints=False)
    with conflict_on_integrity_error(
        _("Register %(code)s already exists in this store.") % {"code": code}, code="register_exists"
    ):
        register.save()
    return register


@transaction.atomic
def register_update(*, actor, register: Register, name: str | None = None, is_active: bool | None = None) -> Register:
    ensure_permission(actor, "pos.change_register")
    ensure_store_allowed(actor, register.store_id)
    register = Register.objects.select_for_update().get(pk=register.pk)
    if name is not None:
        register.name = name
    if is_active is not None:
        register.is_active = is_active
    register.updated_by = actor
    register.full_clean()
    register.save()
    return register
