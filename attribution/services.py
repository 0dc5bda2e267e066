"""Every write of clerk attribution: policies (versioned), bindings from their five sources, the
attribution of paid orders and the claw-back of returns. Settlement is in ``attribution/settlement.py``.

Bindings are recorded as the events happen (inside the transaction of the sale, the registration or
the order). Orders are attributed after their payment commits (``attribution.tasks.order_attribute``,
with a catch-up job for any the queue lost), under the policy in force when they were paid: so the
result is the same whenever it is computed, and a draft policy can be tried on past orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from attribution.models import AttributionLine, Binding, LineItem, OrderAttribution, Policy, Source
from omo.core.errors import ApplicationError, BusinessRuleError, ConflictError, NotFoundError
from omo.org.access import ensure_permission, ensure_store_allowed

CENT = Decimal("0.01")
SHARE = Decimal("0.0001")


def cents(amount) -> Decimal:
    """Attribution amounts are kept to the cent (settlement rounds the payable to the currency unit)."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


# --- policies ---------------------------------------------------------------------------------------


def _rate(value, what: str) -> Decimal:
    try:
        rate = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        rate = None
    if rate is None or not rate.is_finite() or rate < 0 or rate > 1:
        raise ApplicationError(
            _("%(what)s is a fraction between 0 and 1 (0.03 for 3%%).") % {"what": what},
            code="invalid_rate",
            details={"field": what, "value": str(value)},
        )
    return rate.quantize(SHARE)


def _days(value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 3660:
        raise ApplicationError(
            _("%(what)s is a whole number of days (0 to 3660).") % {"what": what},
            code="invalid_days",
            details={"field": what, "value": value},
        )
    return value


def _clean_policy(data: dict) -> dict:
    """Checks every field of a policy and returns it normalised; the first problem is a 400 naming
    the field."""
    clean = {"name": str(data.get("name", "")).strip()[:100]}
    if not clean["name"]:
        raise ApplicationError(_("Give the policy a name."), code="name_required")
    validity = data.get("validity_days") or {}
    if not isinstance(validity, dict) or not validity:
        raise ApplicationError(_("Say how long each kind of binding counts."), code="validity_required")
    for source in validity:
        if source not in Source.values:
            raise ApplicationError(
                _("Unknown binding source %(s)s.") % {"s": source}, code="unknown_source", details={"source": source}
            )
    clean["validity_days"] = {s: _days(d, f"validity_days.{s}") for s, d in validity.items()}
    conflict = data.get("conflict", Policy.Conflict.LATEST)
    if conflict not in Policy.Conflict.values:
        raise ApplicationError(_("Unknown conflict rule %(c)s.") % {"c": conflict}, code="invalid_conflict")
    clean["conflict"] = conflict
    clean["rebind_wait_days"] = _days(data.get("rebind_wait_days", 0), "rebind_wait_days")
    steps = data.get("age_factors") or [[0, "1"]]
    if not isinstance(steps, list) or not all(isinstance(s, list | tuple) and len(s) == 2 for s in steps):
        raise ApplicationError(_("Age factors are [from day, factor] pairs."), code="invalid_age_factors")
    factors = sorted((_days(day, "age_factors"), str(_rate(f, "age_factors"))) for day, f in steps)
    if factors[0][0] != 0:
        factors.insert(0, (0, "1.0000"))
    clean["age_factors"] = [list(step) for step in factors]
    clean["default_rate"] = _rate(data.get("default_rate", "0"), "default_rate")
    for key in ("category_rates", "channel_rates"):
        rates = data.get(key) or {}
        if not isinstance(rates, dict):
            raise ApplicationError(_("%(f)s maps codes to rates.") % {"f": key}, code="invalid_rates")
        clean[key] = {str(k).strip().strip("/"): str(_rate(v, f"{key}.{k}")) for k, v in rates.items()}
    for key in ("excluded_categories", "excluded_channels"):
        values = data.get(key) or []
        if not isinstance(values, list):
            raise ApplicationError(_("%(f)s is a list.") % {"f": key}, code="invalid_exclusions")
        clean[key] = sorted({str(v).strip().strip("/") for v in values if str(v).strip()})
    clean["store_share"] = _rate(data.get("store_share", "0.3"), "store_share")
    departed = data.get("departed_clerk", Policy.Departed.STORE)
    if departed not in Policy.Departed.values:
        raise ApplicationError(_("Unknown rule for a clerk who left."), code="invalid_departed_rule")
    clean["departed_clerk"] = departed
    clean["lockup_days"] = _days(data.get("lockup_days", 7), "lockup_days")
    clean["note"] = str(data.get("note", "")).strip()[:300]
    return clean


POLICY_FIELDS = (
    "name",
    "validity_days",
    "conflict",
    "rebind_wait_days",
    "age_factors",
    "default_rate",
    "category_rates",
    "channel_rates",
    "excluded_categories",
    "excluded_channels",
    "store_share",
    "departed_clerk",
    "lockup_days",
    "note",
)


@transaction.atomic
def policy_create(*, actor, based_on: Policy | None = None, **data) -> Policy:
    """A new draft version: ``based_on``'s settings (or the defaults) with ``data`` over them. Adopted
    versions are never edited; this is how a policy changes."""
    if actor is not None:
        ensure_permission(actor, "attribution.add_policy")
    start = {f: getattr(based_on, f) for f in POLICY_FIELDS} if based_on is not None else {}
    clean = _clean_policy({**start, **data})
    # versions are numbered in the order they are made; the table lock keeps two drafts apart
    version = (Policy.objects.select_for_update().aggregate(v=Max("version"))["v"] or 0) + 1
    try:
        with transaction.atomic():
            return Policy.objects.create(version=version, created_by=_who(actor), **clean)
    except IntegrityError:
        raise ConflictError(_("Another version was saved at the same moment: try again."), code="retry") from None


@transaction.atomic
def policy_adopt(*, actor, policy: Policy, effective_from: datetime | None = None) -> Policy:
    """Puts a draft in force from ``effective_from`` (now by default; never in the past, so what was
    attributed stays right). Later orders are attributed under it; earlier ones keep theirs."""
    if actor is not None:
        ensure_permission(actor, "attribution.change_policy")
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    if not policy.is_draft:
        raise ConflictError(_("Version %(v)s is in force already.") % {"v": policy.version}, code="policy_adopted")
    now = timezone.now()
    effective_from = effective_from or now
    if effective_from < now - timedelta(seconds=5):
        raise BusinessRuleError(
            _("A policy is put in force from now or later, never back in time."), code="in_the_past"
        )
    latest = Policy.objects.filter(effective_from__isnull=False).order_by("-effective_from").first()
    if latest is not None and effective_from <= latest.effective_from:
        raise BusinessRuleError(
            _("Version %(v)s is in force from %(at)s: start this one later.")
            % {"v": latest.version, "at": timezone.localtime(latest.effective_from).strftime("%Y-%m-%d %H:%M")},
            code="overlaps_policy",
        )
    policy.effective_from, policy.adopted_by = effective_from, _who(actor)
    policy.save(update_fields=["effective_from", "adopted_by"])
    return policy


def _adopted() -> list[Policy]:
    """The adopted versions, oldest first (reused a few seconds per process; adopting one drops it)."""
    from omo.core.config_cache import cached

    return cached(
        ("attribution-policies",),
        lambda: list(Policy.objects.filter(effective_from__isnull=False).order_by("effective_from")),
    )


def policy_at(at: datetime) -> Policy | None:
    """The policy in force at ``at`` (the latest adopted one that started by then)."""
    found = None
    for policy in _adopted():
        if policy.effective_from <= at:
            found = policy
    return found


# --- bindings ---------------------------------------------------------------------------------------


def _who(actor):
    return actor if getattr(actor, "pk", None) else None


def _window(policy: Policy, source: str) -> timedelta | None:
    days = policy.validity_days.get(source)
    return None if days is None else timedelta(days=days)


def is_active(binding: Binding, policy: Policy, at: datetime) -> bool:
    """Whether ``binding`` counts for an order paid at ``at`` under ``policy``."""
    window = _window(policy, binding.source)
    return (
        binding.counts
        and window is not None
        and binding.started_at <= at < binding.started_at + window
        and (binding.ended_at is None or at < binding.ended_at)
    )


@transaction.atomic
def binding_record(
    *,
    member,
    clerk,
    store,
    source: str,
    at: datetime | None = None,
    reference: str = "",
    note: str = "",
    actor=None,
) -> Binding:
    """Records that ``clerk`` at ``store`` served ``member`` (a binding, 會員歸屬). Inside another clerk's
    waiting period (the policy's ``rebind_wait_days`` from their binding) it is kept but does not
    count. The same event twice (same member, source, reference and clerk) records it once."""
    return _binding_record(
        member=member, clerk=clerk, store=store, source=source, at=at, reference=reference, note=note, actor=actor
    )


def _binding_record(*, member, clerk, store, source, at=None, reference="", note="", actor=None) -> Binding:
    """``binding_record`` inside the caller's transaction, which any error rolls back whole (the sale
    or the sign-up that makes the binding): no savepoint of its own."""
    if source not in Source.values:
        raise ApplicationError(_("Unknown binding source %(s)s.") % {"s": source}, code="unknown_source")
    if not store.is_store:
        raise BusinessRuleError(_("A member is bound to a store, not a warehouse."), code="not_a_store")
    if member.status != member.Status.ACTIVE:
        raise BusinessRuleError(_("This member is no longer active."), code="member_inactive")
    at = at or timezone.now()
    reference = (reference or "").strip()[:40]
    # the member's bindings are judged one at a time (the same event sent twice at once finds the first)
    type(member).objects.select_for_update().filter(pk=member.pk).first()
    if reference:
        existing = Binding.objects.filter(member=member, source=source, reference=reference, clerk=clerk).first()
        if existing is not None:
            return existing
    policy = policy_at(at)
    blocked_by = None
    if policy is not None and policy.rebind_wait_days:
        since = at - timedelta(days=policy.rebind_wait_days)
        holder = (
            Binding.objects.filter(member=member, counts=True, started_at__gt=since, started_at__lte=at)
            .exclude(clerk=clerk)
            .order_by("started_at", "id")
            .first()
        )
        if holder is not None and is_active(holder, policy, at):
            blocked_by = holder
    return Binding.objects.create(
        member=member,
        clerk=clerk,
        store=store,
        source=source,
        started_at=at,
        counts=blocked_by is None,
        blocked_by=blocked_by,
        reference=reference,
        note=note.strip()[:300],
        created_by=_who(actor),
    )


def binding_chat_record(*, actor, member, store, note: str) -> Binding:
    """A clerk logs a LINE / chat conversation with a member from the POS (with what it was about)."""
    ensure_permission(actor, "attribution.add_binding")
    ensure_store_allowed(actor, store.pk)
    if not note.strip():
        raise ApplicationError(_("Say what the conversation was about."), code="note_required")
    return binding_record(member=member, clerk=actor, store=store, source=Source.LINE_CHAT, note=note, actor=actor)


def binding_assign(*, actor, member, clerk, store, reason: str, at: datetime | None = None) -> Binding:
    """HQ assigns a member to a clerk and store by hand, with the reason (e.g. a clerk's VIP list)."""
    ensure_permission(actor, "attribution.change_binding")
    ensure_store_allowed(actor, store.pk)
    if not reason.strip():
        raise ApplicationError(_("Give the reason for a manual assignment."), code="reason_required")
    if clerk is not None and getattr(getattr(clerk, "staff_profile", None), "home_store_id", None) != store.pk:
        raise BusinessRuleError(_("The clerk does not work in that store."), code="clerk_not_in_store")
    return binding_record(
        member=member, clerk=clerk, store=store, source=Source.HQ_MANUAL, at=at, note=reason, actor=actor
    )


@transaction.atomic
def binding_end(*, actor, binding: Binding, reason: str) -> Binding:
    """HQ ends a binding from now (it stays in the history with its end and the reason)."""
    ensure_permission(actor, "attribution.change_binding")
    ensure_store_allowed(actor, binding.store_id)
    binding = Binding.objects.select_for_update().get(pk=binding.pk)
    if binding.ended_at is not None:
        raise ConflictError(_("This binding has ended already."), code="binding_ended")
    if not reason.strip():
        raise ApplicationError(_("Give the reason for ending a binding."), code="reason_required")
    binding.ended_at = max(timezone.now(), binding.started_at)
    binding.note = f"{binding.note} | {_('ended')}: {reason.strip()}"[:300]
    binding.save(update_fields=["ended_at", "note"])
    return binding


def _staff_by_code(code: str):
    from omo.org.models import StaffProfile

    code = (code or "").strip().upper()
    if not code:
        return None
    return StaffProfile.objects.select_related("user", "home_store").filter(referral_code=code).first()


def _working_referrer(code: str):
    """The staff profile of a referral code whose clerk still works in a store, or None."""
    staff = _staff_by_code(code)
    return staff if staff is not None and staff.user.is_active and staff.home_store_id else None


def _referrer_or_404(code: str):
    staff = _working_referrer(code)
    if staff is None:
        raise NotFoundError(_("No clerk has this referral code."), code="referral_code_not_found")
    return staff


def referral_resolve(code: str) -> dict:
    """What a frontend shows for ``?ref=CODE``: the clerk's display name and store (404 for an unknown
    code or a clerk who has left)."""
    staff = _referrer_or_404(code)
    return {
        "code": staff.referral_code,
        "clerk": staff.display_name,
        "store": {"code": staff.home_store.code, "name": staff.home_store.name},
    }


@transaction.atomic
def referral_click(*, member, code: str, at: datetime | None = None) -> Binding:
    """A logged-in member followed a clerk's referral link (``?ref=CODE``): a referral binding."""
    staff = _referrer_or_404(code)
    at = at or timezone.now()
    return binding_record(
        member=member,
        clerk=staff.user,
        store=staff.home_store,
        source=Source.REFERRAL_LINK,
        at=at,
        reference=f"click:{staff.referral_code}:{at:%Y%m%d}",
    )


# --- bindings from other apps' events (signal receivers: inside their transaction) ---------------------


def on_member_registered(sender, member, **kwargs) -> None:
    """A member signed up by a clerk: in a store (the clerk's QR code or at the counter) binds them to
    that store; online with the clerk's referral code binds them to the clerk's home store."""
    if member.registered_by_id is None:
        return
    store = member.registered_store
    source = Source.QR_REGISTRATION
    if store is None:
        profile = getattr(member.registered_by, "staff_profile", None)
        store, source = (profile.home_store if profile else None), Source.REFERRAL_LINK
    if store is None or not store.is_store:
        return
    _binding_record(
        member=member,
        clerk=member.registered_by,
        store=store,
        source=source,
        at=member.created_at or timezone.now(),
        reference=f"signup:{member.member_no}",
    )


def on_order_paid(sender, order, **kwargs) -> None:
    """A paid order: a POS sale binds its member to the clerk and store; a clerk's referral code on an
    order binds the member to that clerk. The order itself is attributed after the commit."""
    from attribution.tasks import order_attribute
    from omo.core.queue import enqueue

    paid_at = order.paid_at or timezone.now()
    if order.member_id and order.member.status == order.member.Status.ACTIVE:
        if order.channel.kind == "pos" and order.clerk_id and order.store_id:
            _binding_record(
                member=order.member,
                clerk=order.clerk,
                store=order.store,
                source=Source.POS_SALE,
                at=paid_at,
                reference=order.number,
            )
        elif order.referral_code:
            staff = _working_referrer(order.referral_code)
            if staff is not None:
                _binding_record(
                    member=order.member,
                    clerk=staff.user,
                    store=staff.home_store,
                    source=Source.REFERRAL_LINK,
                    at=order.placed_at or paid_at,
                    reference=order.number,
                )
    order_id = order.pk
    # queue down: a warning, no wait (a plain delay() held the paid request ~19 s), and the beat job catches up
    transaction.on_commit(lambda: enqueue(order_attribute, (order_id,)), robust=True)


def on_order_cancelled(sender, order, **kwargs) -> None:
    """A paid order cancelled and refunded: what it credited is taken back in the same transaction (an
    order not attributed yet never will be: it is no longer paid)."""
    order_cancel_claw_back(order=order)


def on_order_returned(sender, ret, **kwargs) -> None:
    """Lines came back: their share is taken back in the same transaction (the order is attributed
    first if the queue has not got to it yet), so no claw-back waits on a queue that could lose it."""
    return_claw_back(ret=ret)


# --- attributing a paid order -------------------------------------------------------------------------


@dataclass
class Credit:
    """One (clerk, store) credited for an order, with its share and the binding behind it."""

    clerk: object | None
    store: object
    share: Decimal
    binding: Binding | None = None
    age_days: int = 0
    split: int = 1  # how many the amount is split between (a leaver's part goes to nobody)
    first: bool = True  # the first of them takes the cents the split leaves


@dataclass
class Decision:
    rule: str
    explanation: str
    credits: list[Credit] = field(default_factory=list)


def _departed(user) -> bool:
    return user is not None and not user.is_active


def _credit_clerk(policy: Policy, clerk, store, share, binding=None, age_days=0, split=1, first=True) -> Credit | None:
    """A credit to ``clerk`` at ``store``, or per the policy when the clerk has left: the store only,
    or nobody."""
    if _departed(clerk):
        if policy.departed_clerk == Policy.Departed.NOBODY:
            return None
        clerk = None
    return Credit(clerk, store, share, binding, age_days, split, first)


def _equal_shares(n: int) -> list[Decimal]:
    each = (Decimal(1) / n).quantize(SHARE, rounding=ROUND_DOWN)
    return [Decimal(1) - each * (n - 1)] + [each] * (n - 1)


def decide(order, policy: Policy, bindings: list[Binding], referrers: dict | None = None) -> Decision:
    """Who is credited for ``order`` under ``policy``, given the member's bindings (any order). The
    rules, first that applies: a POS sale counts for its clerk; a clerk's referral code on the order
    counts for that clerk; else the member's active bindings decide (latest, first or split)."""
    at = order.paid_at
    store = order.store
    if order.channel.kind == "pos" and order.clerk_id:
        credit = _credit_clerk(policy, order.clerk, store, Decimal(1))
        if credit is None:
            return Decision("pos_sale_departed", _("Sold at the counter by a clerk who has left: nobody is credited."))
        return Decision("pos_sale", _("Sold at the counter by this clerk: counts for them directly."), [credit])
    if order.referral_code:
        # ``referrers`` (code -> staff profile), when the caller read them for many orders at once
        staff = referrers.get(order.referral_code) if referrers is not None else _staff_by_code(order.referral_code)
        if staff is not None and staff.home_store_id:
            credit = _credit_clerk(policy, staff.user, staff.home_store, Decimal(1))
            if credit is None:
                return Decision(
                    "referral_code_departed",
                    _("Referral code %(code)s belongs to a clerk who has left: nobody is credited.")
                    % {"code": order.referral_code},
                )
            if credit.clerk is None:
                return Decision(
                    "referral_code_departed",
                    _("Referral code %(code)s belongs to a clerk who has left: their store is credited.")
                    % {"code": order.referral_code},
                    [credit],
                )
            return Decision(
                "referral_code",
                _("The clerk's referral code %(code)s was used on this order.") % {"code": order.referral_code},
                [credit],
            )
    if order.member_id is None:
        return Decision("no_member", _("No member on the order: nobody is credited."))
    active = sorted((b for b in bindings if is_active(b, policy, at)), key=lambda b: (b.started_at, b.pk))
    if not active:
        return Decision("no_binding", _("The member had no binding in force when they paid: nobody is credited."))
    if policy.conflict == Policy.Conflict.SPLIT:
        latest_per_pair: dict[tuple, Binding] = {}
        for b in active:
            latest_per_pair[(b.clerk_id, b.store_id)] = b
        chosen = sorted(latest_per_pair.values(), key=lambda b: (b.started_at, b.pk))
        rule, words = "split", _("Split between the %(n)d bindings in force.") % {"n": len(chosen)}
    elif policy.conflict == Policy.Conflict.FIRST:
        chosen, rule, words = [active[0]], "first_binding", _("The first binding in force wins.")
    else:
        chosen, rule, words = [active[-1]], "latest_binding", _("The latest binding in force wins.")
    credits = []
    for i, (b, share) in enumerate(zip(chosen, _equal_shares(len(chosen)), strict=True)):
        age = (at - b.started_at).days
        credit = _credit_clerk(policy, b.clerk, b.store, share, b, age, split=len(chosen), first=i == 0)
        if credit is not None:
            credits.append(credit)
    if not credits:
        return Decision(f"{rule}_departed", _("The bound clerk has left: nobody is credited."))
    return Decision(rule, words, credits)


def _matches(path: str, prefixes) -> str | None:
    """The longest of ``prefixes`` that is ``path`` or one of its parents."""
    best = None
    for prefix in prefixes:
        if (path == prefix or path.startswith(f"{prefix}/")) and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def rate_for(policy: Policy, *, category_path: str, channel_code: str) -> tuple[Decimal, str]:
    """The rate of a line and where it comes from: its category (the most specific rate), else its
    channel, else the default."""
    match = _matches(category_path, policy.category_rates)
    if match is not None:
        return Decimal(policy.category_rates[match]), f"category {match}"
    if channel_code in policy.channel_rates:
        return Decimal(policy.channel_rates[channel_code]), f"channel {channel_code}"
    return Decimal(policy.default_rate), "default"


def factor_for(policy: Policy, age_days: int) -> Decimal:
    factor = Decimal(1)
    for day, value in policy.age_factors:
        if age_days >= day:
            factor = Decimal(value)
    return factor


def excluded(policy: Policy, *, category_path: str, channel_code: str) -> bool:
    return channel_code in policy.excluded_channels or _matches(category_path, policy.excluded_categories) is not None


def build_lines(order, lines, policy: Policy, decision: Decision) -> list[AttributionLine]:
    """The attribution lines of ``order`` for ``decision``, one per credit: for each order line not
    excluded, its net amount times the share (the cents left by the split go to the first credit),
    times the line's rate and the binding's age factor, is that line's commission; the row holds
    those lines and their totals, and the total commission's store / personal parts."""
    rows = []
    if not decision.credits:
        return rows
    eligible_on = timezone.localdate(order.paid_at) + timedelta(days=policy.lockup_days)
    channel = order.channel.code
    priced = []
    for line in sorted(lines, key=lambda line: line.pk):
        path = line.variant.product.category.path
        if excluded(policy, category_path=path, channel_code=channel) or line.net <= 0:
            continue
        priced.append((line, rate_for(policy, category_path=path, channel_code=channel)[0]))
    if not priced:
        return rows
    for credit in decision.credits:
        factor = factor_for(policy, credit.age_days)
        items = []
        for line, rate in priced:
            # equal parts rounded down to the cent; the first of the split takes the cents left
            part = (line.net / credit.split).quantize(CENT, rounding=ROUND_DOWN)
            base = cents(line.net) - (credit.split - 1) * part if credit.first else part
            items.append(LineItem(line.pk, base, rate, cents(base * rate * factor)))
        commission = sum((i.commission for i in items), Decimal(0))
        store_amount = commission if credit.clerk is None else cents(commission * policy.store_share)
        rates = {i.rate for i in items}
        rows.append(
            AttributionLine(
                kind=AttributionLine.Kind.SALE,
                order=order,
                clerk=credit.clerk,
                store=credit.store,
                binding=credit.binding,
                policy=policy,
                rule=decision.rule,
                share=credit.share,
                base=sum((i.base for i in items), Decimal(0)),
                rate=rates.pop() if len(rates) == 1 else None,
                factor=factor,
                commission=commission,
                store_amount=store_amount,
                personal_amount=commission - store_amount,
                occurred_at=order.paid_at,
                eligible_on=eligible_on,
                lines=_encode(items),
            )
        )
    return rows


def _encode(items) -> list:
    return [[i.line_id, str(i.base), str(i.rate), str(i.commission)] for i in items]


PAID_STATES = ("paid", "fulfilling", "ready_for_pickup", "shipped", "completed", "partially_returned", "returned")


@transaction.atomic
def order_attribute(*, order) -> OrderAttribution | None:
    """Attributes a paid order once, under the policy in force when it was paid (None when no policy
    was in force then, or the order is not paid). Running it again returns the first result."""
    from orders.models import Order

    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("channel", "store", "clerk", "member")
        .get(pk=order.pk)
    )
    done = OrderAttribution.objects.filter(order=order).first()
    if done is not None:
        return done
    if order.paid_at is None or order.status not in PAID_STATES:
        return None
    policy = policy_at(order.paid_at)
    if policy is None:
        return None
    bindings = (
        list(Binding.objects.filter(member_id=order.member_id).select_related("clerk")) if order.member_id else []
    )
    decision = decide(order, policy, bindings)
    lines = list(order.lines.select_related("variant__product__category").order_by("pk"))
    try:  # the claim first: the set-based job (attribution.bulk) may have claimed the order meanwhile
        with transaction.atomic():
            claim = OrderAttribution.objects.create(
                order=order, policy=policy, rule=decision.rule, explanation=decision.explanation[:500]
            )
    except IntegrityError:
        return OrderAttribution.objects.get(order=order)
    AttributionLine.objects.bulk_create(build_lines(order, lines, policy, decision))
    return claim


@transaction.atomic
def return_claw_back(*, ret) -> list[AttributionLine]:
    """Takes back, from whoever was credited, the share of each returned line's refund: for each
    credit of the order, a negative line with the returned lines' parts, for the same clerk and store
    (whoever took the return), dated the day of the return, so a return after settlement lands in the
    next open period. Settled lines are never edited. Once per return."""
    from orders.models import Return

    ret = Return.objects.select_related("order").get(pk=ret.pk)
    attribution = order_attribute(order=ret.order)  # attributed first if the queue has not got there yet
    if attribution is None:
        return []
    if AttributionLine.objects.filter(order=ret.order, ret=ret).exists():
        return list(AttributionLine.objects.filter(order=ret.order, ret=ret))
    fractions = {
        returned.line_id: min(returned.amount / returned.line.net, Decimal(1))
        for returned in ret.lines.select_related("line")
        if returned.line.net > 0
    }
    rows = []
    originals = AttributionLine.objects.filter(order=ret.order, kind=AttributionLine.Kind.SALE).select_related("policy")
    for original in originals.order_by("pk"):
        back = [
            LineItem(
                i.line_id, cents(i.base * fractions[i.line_id]), i.rate, cents(i.commission * fractions[i.line_id])
            )
            for i in original.items
            if i.line_id in fractions
        ]
        if back:
            rows.append(_reversal(original, back, ret=ret, at=ret.created_at))
    return AttributionLine.objects.bulk_create(rows)


def _reversal(
    original: AttributionLine, back: list[LineItem], *, ret, at, store_amount: Decimal | None = None
) -> AttributionLine:
    """A negative line taking back ``back`` (the parts of the original's lines to take, as positive
    amounts) from whoever ``original`` credited; its store part by the original's policy unless
    ``store_amount`` says (what is left of it, when everything left is taken back)."""
    commission = sum((i.commission for i in back), Decimal(0))
    if store_amount is None:
        store_amount = commission if original.clerk_id is None else cents(commission * original.policy.store_share)
    rates = {i.rate for i in back}
    return AttributionLine(
        kind=AttributionLine.Kind.CLAWBACK,
        order_id=original.order_id,
        ret=ret,
        reverses=original,
        clerk_id=original.clerk_id,
        store_id=original.store_id,
        binding_id=original.binding_id,
        policy_id=original.policy_id,
        rule="return" if ret is not None else "cancelled",
        share=original.share,
        base=-sum((i.base for i in back), Decimal(0)),
        rate=rates.pop() if len(rates) == 1 else None,
        factor=original.factor,
        commission=-commission,
        store_amount=-store_amount,
        personal_amount=-(commission - store_amount),
        occurred_at=at,
        eligible_on=timezone.localdate(at),
        lines=_encode(LineItem(i.line_id, -i.base, i.rate, -i.commission) for i in back),
    )


@transaction.atomic
def order_cancel_claw_back(*, order) -> list[AttributionLine]:
    """A paid order cancelled and refunded (an uncollected pickup, say): everything it credited and
    no return took back yet is taken back, dated the day of the cancellation. Once per order; an
    order not attributed has nothing to take back."""
    from orders.models import Order

    order = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
    if order.status != "cancelled" or not OrderAttribution.objects.filter(order=order).exists():
        return []
    done = list(AttributionLine.objects.filter(order=order, kind=AttributionLine.Kind.CLAWBACK, ret__isnull=True))
    if done:
        return done
    lines = list(AttributionLine.objects.filter(order=order).select_related("policy").order_by("pk"))
    taken: dict[tuple, list] = {}  # (original, order line) -> [base, commission] already taken back
    store_taken: dict[int, Decimal] = {}  # original -> store part already taken back
    for back in lines:
        if back.kind == AttributionLine.Kind.CLAWBACK:
            store_taken[back.reverses_id] = store_taken.get(back.reverses_id, Decimal(0)) - back.store_amount
            for i in back.items:
                sums = taken.setdefault((back.reverses_id, i.line_id), [Decimal(0), Decimal(0)])
                sums[0] -= i.base
                sums[1] -= i.commission
    rows = []
    at = order.cancelled_at or timezone.now()
    for original in (line for line in lines if line.kind == AttributionLine.Kind.SALE):
        left = []
        for i in original.items:
            base, commission = taken.get((original.pk, i.line_id), (Decimal(0), Decimal(0)))
            if i.base - base > 0:
                left.append(LineItem(i.line_id, i.base - base, i.rate, i.commission - commission))
        if left:  # all that is left, to the cent: the order nets to zero in every part
            store_left = original.store_amount - store_taken.get(original.pk, Decimal(0))
            rows.append(_reversal(original, left, ret=None, at=at, store_amount=store_left))
    return AttributionLine.objects.bulk_create(rows)


def orders_attribute_pending(*, limit: int = 5000) -> int:
    """Catch-up job: paid orders the queue has not attributed yet (a lost task, a worker down), oldest
    first: on PostgreSQL set-based (``attribution.bulk``), elsewhere one short transaction each.
    Returns how many were attributed."""
    from django.db import connection

    from orders.models import Order

    pending = list(
        Order.objects.filter(paid_at__isnull=False, attribution__isnull=True, status__in=PAID_STATES)
        .order_by("paid_at", "pk")
        .values_list("pk", "paid_at")[:limit]
    )
    if not pending:
        return 0
    if connection.vendor == "postgresql":
        from attribution.bulk import orders_attribute_bulk

        return orders_attribute_bulk(
            paid_from=pending[0][1],
            paid_to=pending[-1][1] + timedelta(microseconds=1),
            order_ids=[pk for pk, _paid in pending],
        )
    done = 0
    for pk, _paid in pending:
        if order_attribute(order=Order(pk=pk)) is not None:
            done += 1
    return done
