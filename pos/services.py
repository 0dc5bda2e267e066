"""Every write of the POS app. Each takes the acting staff user and checks role and store scope;
``actor=None`` is the system itself (the demo seed, data migrations) and skips those checks."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError, conflict_on_integrity_error
from omo.core.money import money_round
from omo.org.access import ensure_permission, ensure_store_allowed
from omo.org.models import Location, User
from pos.models import Register, Shift, ShiftEntry


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


# --- shifts -----------------------------------------------------------------------------------------


def _money(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise ApplicationError(_("%(field)s is an amount of zero or more.") % {"field": field}, code="invalid_amount")
    return money_round(amount)


@transaction.atomic
def shift_open(*, actor: User, register: Register, opening_cash) -> Shift:
    """Opens a shift at ``register`` (one open shift per register) with the cash in the drawer."""
    ensure_permission(actor, "pos.add_shift")
    ensure_store_allowed(actor, register.store_id)
    register = Register.objects.select_for_update().get(pk=register.pk)
    if not register.is_active:
        raise BusinessRuleError(_("This register is not in use."), code="register_inactive")
    if Shift.objects.filter(register=register, status=Shift.Status.OPEN).exists():
        raise ConflictError(_("A shift is already open at this register."), code="shift_open")
    with conflict_on_integrity_error(_("A shift is already open at this register."), code="shift_open"):
        return Shift.objects.create(
            register=register,
            store_id=register.store_id,
            opened_by=actor,
            opening_cash=_money(opening_cash, _("The opening cash")),
        )


def shift_current(*, register: Register) -> Shift | None:
    return Shift.objects.filter(register=register, status=Shift.Status.OPEN).first()


@transaction.atomic
def shift_record(
    *, shift: Shift, kind: str, amount, actor: User, tender: str = "", order_number: str = ""
) -> ShiftEntry:
    """Records money through the register during the shift (the POS sale and return services call it;
    cash put in or taken out is recorded by the clerk). Only an open shift takes entries."""
    ensure_permission(actor, "pos.add_shiftentry")
    shift = Shift.objects.select_for_update().get(pk=shift.pk)
    ensure_store_allowed(actor, shift.store_id)
    if shift.status != Shift.Status.OPEN:
        raise ConflictError(_("This shift is closed."), code="shift_closed")
    if kind not in ShiftEntry.Kind.values:
        raise ApplicationError(_("Unknown kind %(k)s.") % {"k": kind}, code="invalid_kind")
    amount = Decimal(str(amount))
    return ShiftEntry.objects.create(
        shift=shift, kind=kind, tender=tender, amount=amount, order_number=order_number, by=actor
    )


def shift_report(shift: Shift) -> dict:
    """Sales and refunds by tender, voids, cash in and out, and the cash the drawer should hold."""
    by_tender: dict[str, dict[str, str]] = {}
    counts = {"sales": 0, "refunds": 0, "voids": 0}
    cash = shift.opening_cash
    for kind, tender, total, n in (
        ShiftEntry.objects.filter(shift=shift)
        .values_list("kind", "tender")
        .annotate(total=Sum("amount"), n=Count("id"))
        .order_by("kind", "tender")
    ):
        if kind in (ShiftEntry.Kind.SALE, ShiftEntry.Kind.REFUND):
            row = by_tender.setdefault(tender, {"sales": "0.00", "refunds": "0.00"})
            row["sales" if kind == ShiftEntry.Kind.SALE else "refunds"] = f"{total:.2f}"  # the same on every database
        counts_key = {"sale": "sales", "refund": "refunds", "void": "voids"}.get(kind)
        if counts_key:
            counts[counts_key] += n
        if tender == "cash" or kind in (ShiftEntry.Kind.CASH_IN, ShiftEntry.Kind.CASH_OUT):
            cash += total
    return {
        "by_tender": by_tender,
        "counts": counts,
        "opening_cash": f"{shift.opening_cash:.2f}",
        "expected_cash": f"{cash:.2f}",
    }


@transaction.atomic
def shift_close(*, actor: User, shift: Shift, counted_cash, note: str = "") -> Shift:
    """Closes the shift with the cash counted in the drawer: the variance (counted - expected) and the
    report are kept for the store manager to approve. A variance needs a note."""
    ensure_permission(actor, "pos.change_shift")
    shift = Shift.objects.select_for_update().get(pk=shift.pk)
    ensure_store_allowed(actor, shift.store_id)
    if shift.status != Shift.Status.OPEN:
        raise ConflictError(_("This shift is closed already."), code="shift_closed")
    counted = _money(counted_cash, _("The counted cash"))
    report = shift_report(shift)
    expected = Decimal(report["expected_cash"])
    if counted != expected and not note.strip():
        raise BusinessRuleError(
            _("The drawer holds %(counted)s but %(expected)s was expected: say why.")
            % {"counted": counted, "expected": expected},
            code="variance_note_required",
            details={"expected": str(expected), "counted": str(counted)},
        )
    shift.status, shift.closed_by, shift.closed_at = Shift.Status.CLOSED, actor, timezone.now()
    shift.counted_cash, shift.expected_cash, shift.variance = counted, expected, counted - expected
    shift.note, shift.report = note.strip()[:300], report
    shift.save()
    return shift


@transaction.atomic
def shift_approve(*, actor: User, shift: Shift) -> Shift:
    """The store manager approves a closed shift's report (not their own shift)."""
    ensure_permission(actor, "pos.approve_shift")
    shift = Shift.objects.select_for_update().get(pk=shift.pk)
    ensure_store_allowed(actor, shift.store_id)
    if shift.status != Shift.Status.CLOSED:
        raise ConflictError(_("Only a closed shift is approved."), code="shift_not_closed")
    if shift.closed_by_id == actor.pk or shift.opened_by_id == actor.pk:
        raise BusinessRuleError(_("Someone else approves your own shift."), code="own_shift")
    shift.status, shift.approved_by, shift.approved_at = Shift.Status.APPROVED, actor, timezone.now()
    shift.save(update_fields=["status", "approved_by", "approved_at"])
    return shift


def counter_sale_pay(*, actor: User, register: Register, order, tenders: list[dict], idempotency_key=None):
    """Pays a counter sale at ``register`` (its shift must be open) and records each tender taken in
    the shift, so the drawer count and the report add up."""
    from orders.services import order_pay_taking

    shift = shift_current(register=register)
    if shift is None:
        raise BusinessRuleError(_("Open a shift at this register first."), code="no_open_shift")
    try:
        paid, taken = order_pay_taking(order=order, tenders=tenders, actor=actor, idempotency_key=idempotency_key)
    except Exception:
        # a declined card beside cash, or a failure after the cash was taken: what the order's payments
        # took is in the drawer all the same
        _shift_catch_up(shift, order, actor)
        raise
    _shift_sale_entries(shift, order, taken, actor)
    return paid


@transaction.atomic
def _shift_catch_up(shift: Shift, order, actor) -> None:
    """Records in the shift the order's captured payments it does not hold yet (compared tender by
    tender and amount by amount, under the shift's lock, so two failing calls record them once)."""
    from collections import Counter

    from orders.models import Payment

    Shift.objects.select_for_update().filter(pk=shift.pk).first()
    recorded = Counter(
        ShiftEntry.objects.filter(order_number=order.number, kind=ShiftEntry.Kind.SALE).values_list("tender", "amount")
    )
    missing = []
    for payment in Payment.objects.filter(order=order, status=Payment.Status.CAPTURED).order_by("pk"):
        key = (payment.tender, payment.amount)
        if recorded[key]:
            recorded[key] -= 1
        else:
            missing.append(payment)
    _shift_sale_entries(shift, order, missing, actor)


def _shift_sale_entries(shift: Shift, order, payments, actor) -> None:
    if payments:  # one insert for the sale's tenders (the shift was checked open above)
        ShiftEntry.objects.bulk_create(
            [
                ShiftEntry(
                    shift=shift, kind="sale", tender=p.tender, amount=p.amount, order_number=order.number, by=actor
                )
                for p in payments
            ]
        )


# --- the counter: a whole sale, a return, a void ----------------------------------------------------

COUNTER_CARD_TENDERS = ("card", "line_pay", "jko_pay")


def counter_sale(
    *,
    actor: User,
    register: Register,
    lines: list[tuple[str, int]],
    cash,
    card,
    card_tender: str = "card",
    member=None,
    coupon_code: str = "",
    points: int = 0,
    invoice: dict | None = None,
    sale_key: str,
) -> tuple:
    """A counter sale from the cart: placed (the sale key is its idempotency key, so a resubmitted form
    finds the first sale), then paid with ``card`` on a card or wallet and the rest in cash. Too little
    handed over is a 422 ``not_enough_tendered`` and the sale waits, stock held, for the rest. Returns
    (order, change to give back)."""
    from omo.org.selectors import pos_channel
    from orders import services as orders

    cash, card = _money(cash or 0, _("The cash")), _money(card or 0, _("The card amount"))
    if card_tender not in COUNTER_CARD_TENDERS:
        raise ApplicationError(_("Unknown tender."), code="invalid_tender")
    channel = pos_channel()
    order = orders.order_place(
        channel=channel,
        lines=lines,
        fulfilment="counter",
        member=member,
        store=register.store,
        clerk=actor,
        actor=actor,
        coupon_code=coupon_code,
        points=points,
        invoice=invoice,
        idempotency_key=sale_key,
    )
    due = order.total - order.paid_total
    on_card = min(card, due)
    cash_due = due - on_card
    if cash_due > 0 and cash < cash_due:
        raise BusinessRuleError(_("NT$%(due)s is still due.") % {"due": f"{cash_due:.0f}"}, code="not_enough_tendered")
    tenders = [{"tender": card_tender, "amount": str(on_card)}] if on_card > 0 else []
    if cash_due > 0:
        tenders.append({"tender": "cash", "amount": str(cash_due)})
    if tenders:
        counter_sale_pay(actor=actor, register=register, order=order, tenders=tenders, idempotency_key=sale_key)
    return order, cash - cash_due if cash_due > 0 else cash


def counter_aisle_order(
    *,
    actor: User,
    register: Register,
    sku: str,
    quantity: int,
    fulfilment: str,
    source_code: str,
    shipping_address: dict | None,
    member,
    tender: str,
    key: str,
):
    """The clerk orders for the customer from another location (endless aisle, 店員從 EC 倉調貨): to this
    store (a transfer brings it) or shipped home, paid at the counter. The sale is this store's and
    this clerk's. Placing and paying are each idempotent on ``key``: the form sent again changes
    nothing."""
    from omo.org.selectors import pos_channel
    from orders import services as orders

    source = Location.objects.filter(code=source_code).first()
    order = orders.order_place(
        channel=pos_channel(),
        lines=[(sku, quantity)],
        fulfilment=fulfilment,
        member=member,
        store=register.store,
        clerk=actor,
        actor=actor,
        source=source,
        shipping_address=shipping_address if fulfilment == "ship" else None,
        idempotency_key=key,
    )
    counter_sale_pay(actor=actor, register=register, order=order, tenders=[{"tender": tender}], idempotency_key=key)
    return order


def counter_exchange(*, actor: User, register: Register, order, return_lines: list[dict], new_lines: list):
    """An exchange at the counter: the lines taken back pay for the new lines; what they do not cover
    is paid in cash at this register (recorded in its shift). Returns (the return, the new order)."""
    from orders import services as orders

    ret, new = orders.order_exchange(
        order=order, return_lines=return_lines, new_lines=new_lines, store=register.store, actor=actor
    )
    if new.status == "pending_payment":
        counter_sale_pay(actor=actor, register=register, order=new, tenders=[{"tender": "cash"}])
    return ret, new


def counter_return(*, actor: User, register: Register, order, lines: list[dict], refund_to: str, reason: str, key: str):
    """Takes back lines of any order at this register's store, and records the cash given back in the
    open shift (once, also when the form is sent again: the return is idempotent on ``key``)."""
    from omo.org.selectors import pos_channel
    from orders import services as orders
    from orders.models import Refund

    channel = pos_channel()
    ret = orders.return_create(
        order=order,
        lines=[{**line, "location": register.store} for line in lines],
        channel=channel,
        store=register.store,
        refund_to=refund_to,
        reason=reason,
        actor=actor,
        idempotency_key=key,
    )
    with transaction.atomic():
        shift = Shift.objects.select_for_update().filter(register=register, status=Shift.Status.OPEN).first()
        cash_back = Refund.objects.filter(ret=ret, tender="cash").aggregate(total=Sum("amount"))["total"]
        if shift is not None and cash_back and not shift.entries.filter(order_number=ret.number).exists():
            ShiftEntry.objects.create(
                shift=shift, kind="refund", tender="cash", amount=-cash_back, order_number=ret.number, by=actor
            )
    return ret


def sale_void(*, actor: User, register: Register, would_have_cost=0) -> ShiftEntry | None:
    """The customer left without paying: the void is counted in the open shift (no money moves; the
    entry keeps what the sale would have cost)."""
    shift = shift_current(register=register)
    if shift is None:
        return None
    return shift_record(shift=shift, kind="void", amount=0, actor=actor, order_number=f"void {would_have_cost}"[:24])
