"""The counter pages (server-rendered, htmx): choose the register, open the shift, and sell. The cart
lives in the clerk's session per register until the sale is paid; prices, discounts and the sale itself
come from the orders and members services. Every sale carries a client-generated id (made when the
cart starts, sent with the payment form), so a double click or a retry never sells twice."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from catalog.models import Variant
from members import selectors as member_selectors
from members.models import Member, Purchase, WalletCoupon, WishlistItem
from members.services import available_points
from omo.core.errors import ApplicationError, NotFoundError
from omo.org.access import get_scoped, roles_of
from omo.org.roles import Role
from omo.org.selectors import pos_channel
from orders import pricing
from orders import services as orders
from orders.models import Order
from pos import selectors, services


def _register(request, register_id: int):
    try:
        return get_scoped(selectors.register_list(user=request.user), request.user, pk=register_id)
    except NotFoundError:
        raise Http404 from None


def _cart(request, register) -> dict:
    key = f"pos_cart:{register.pk}"
    cart = request.session.get(key)
    if cart is None:
        cart = {"lines": {}, "member_no": None, "coupon": "", "points": 0, "sale_id": uuid.uuid4().hex}
        request.session[key] = cart
    return cart


def _save(request, register, cart) -> None:
    request.session[f"pos_cart:{register.pk}"] = cart
    request.session.modified = True


def _member(cart) -> Member | None:
    if not cart.get("member_no"):
        return None
    return Member.objects.filter(member_no=cart["member_no"], status=Member.Status.ACTIVE).first()


def _quote(register, cart):
    if not cart["lines"]:
        return None

    channel = pos_channel()
    return pricing.quote(
        channel=channel,
        lines=list(cart["lines"].items()),
        member=_member(cart),
        store=register.store,
        coupon_code=cart.get("coupon", ""),
        points=cart.get("points") or 0,
    )


def _member_view(member: Member | None) -> dict | None:
    """What the clerk sees of the member: masked personal data, tier, points, wallet, wishlist, the
    recent purchases from every channel (online data helping the store sell), the categories they buy
    and products to suggest (the nightly recommendations)."""
    if member is None:
        return None
    from django.utils import timezone

    from marketing.selectors import member_recommendations
    from members.loyalty import member_tier

    reco = member_recommendations(member, limit=5)
    return {
        "likes": [f"{a['name']} {a['share'] * 100:.0f}%" for a in reco["affinity"][:3]],
        "suggest": [f"{p['name']} ({p['style_code']})" for p in reco["products"]],
        "masked_name": member_selectors.mask_name(member.name),
        "masked_phone": member_selectors.mask_phone(member.phone),
        "tier": member_tier(member),
        "points": available_points(member, today=timezone.localdate()),
        "wallet": [w.coupon.code for w in WalletCoupon.objects.filter(member=member).select_related("coupon")[:10]],
        "wishlist": [w.variant.sku for w in WishlistItem.objects.filter(member=member).select_related("variant")[:10]],
        "recent": list(Purchase.objects.filter(member=member).select_related("channel").order_by("-paid_at")[:5]),
    }


def _panel(request, register, cart, error: str = "", status: int = 200, member_changed: bool = False):
    try:
        quote = _quote(register, cart)
    except ApplicationError as failure:
        quote, error = None, error or failure.message
    context = {"register": register, "cart": cart, "quote": quote, "error": error}
    response = render(request, "pos/_panel.html", context, status=status)
    if request.htmx and member_changed:  # only a lookup or a sign-up changes who is on the sale
        member_html = render(
            request, "pos/_member.html", {"member": _member_view(_member(cart)), "register": register}
        ).content.decode()
        response.content += f'<div id="member-box" hx-swap-oob="true">{member_html}</div>'.encode()
    return response


@login_required
def home(request):
    is_manager = Role.STORE_MANAGER in roles_of(request.user)
    return render(
        request, "pos/home.html", {"registers": selectors.register_list(user=request.user), "is_manager": is_manager}
    )


def _page(request, register, cart, error: str = "", status: int = 200):
    try:
        quote = _quote(register, cart)
    except ApplicationError as failure:
        quote, error = None, error or failure.message
    context = {"register": register, "cart": cart, "quote": quote, "error": error}
    return render(request, "pos/sale.html", {**context, "member": _member_view(_member(cart))}, status=status)


@login_required
def sale(request, register_id: int):
    register = _register(request, register_id)
    if services.shift_current(register=register) is None:
        return render(request, "pos/open_shift.html", {"register": register})
    cart = _cart(request, register)
    _save(request, register, cart)
    return _page(request, register, cart)


@login_required
@require_POST
def shift_open(request, register_id: int):
    register = _register(request, register_id)
    try:
        services.shift_open(actor=request.user, register=register, opening_cash=request.POST.get("opening_cash", ""))
    except ApplicationError as error:
        return render(request, "pos/open_shift.html", {"register": register, "error": error.message}, status=400)
    return redirect("pos-sale", register.pk)


@login_required
@require_POST
def scan(request, register_id: int):
    """A scanner types the code and Enter: a barcode, a SKU or a style's only variant."""
    register = _register(request, register_id)
    cart = _cart(request, register)
    code = request.POST.get("code", "").strip()
    variant = (
        Variant.objects.filter(barcode=code).first()
        or Variant.objects.filter(sku=code).first()
        or Variant.objects.filter(sku__iexact=code).first()
    )
    if variant is None and len(code) >= 2:  # typed words: a product name; one variant found is added
        named = list(Variant.objects.filter(product__name__icontains=code, is_active=True)[:2])
        if len(named) == 1:
            variant = named[0]
        elif named:
            return _panel(
                request, register, cart, error=_("Several items match %(code)s: scan or type the SKU.") % {"code": code}
            )
    if variant is None:
        return _panel(request, register, cart, error=_("Nothing found for %(code)s.") % {"code": code})
    cart["lines"][variant.sku] = cart["lines"].get(variant.sku, 0) + 1
    _save(request, register, cart)
    return _panel(request, register, cart)


@login_required
@require_POST
def quantity(request, register_id: int):
    register = _register(request, register_id)
    cart = _cart(request, register)
    sku = request.POST.get("sku", "")
    try:
        delta = int(request.POST.get("delta", "0"))
    except ValueError:
        delta = 0
    if sku in cart["lines"]:
        left = cart["lines"][sku] + delta
        if left > 0:
            cart["lines"][sku] = left
        else:
            del cart["lines"][sku]
    _save(request, register, cart)
    return _panel(request, register, cart)


@login_required
@require_POST
def void(request, register_id: int):
    """The customer leaves: the cart is dropped and the void is recorded in the shift (with what it
    would have cost), so the shift report counts it."""
    register = _register(request, register_id)
    cart = _cart(request, register)
    if cart["lines"]:
        try:
            total = _quote(register, cart).total
        except ApplicationError:
            total = 0
        services.sale_void(actor=request.user, register=register, would_have_cost=total)
    request.session.pop(f"pos_cart:{register.pk}", None)
    return redirect("pos-sale", register.pk)


@login_required
@require_POST
def member(request, register_id: int):
    register = _register(request, register_id)
    cart = _cart(request, register)
    raw = request.POST.get("phone", "").strip()
    error = ""
    if raw.replace("-", "").replace(" ", "").lstrip("+").isdigit():
        try:
            found = member_selectors.member_by_phone(raw)
        except ApplicationError:
            found = None
    else:
        found = member_selectors.member_by_code(raw) if raw else None
    if found is None:
        error = _("No member found.")
    else:
        cart["member_no"] = found.member_no
    _save(request, register, cart)
    return _panel(request, register, cart, error=error, member_changed=True)


@login_required
@require_POST
def signup(request, register_id: int):
    """Registers the customer at the counter (an existing member with this phone is found instead, no
    second member), with this store and clerk recorded, and puts them on the sale."""
    from members.services import member_register
    from omo.org.access import ensure_permission

    register = _register(request, register_id)
    cart = _cart(request, register)
    try:
        ensure_permission(request.user, "members.add_member")
        result = member_register(
            phone=request.POST.get("phone", ""),
            name=request.POST.get("name", "").strip()[:100],
            store=register.store,
            clerk=request.user,
            # a ticked box is a yes; an unticked one says nothing (it never withdraws an earlier yes)
            consents={"sms": True} if request.POST.get("sms") else {},
            source=register.store.code,
        )
    except ApplicationError as error:
        return _panel(request, register, cart, error=error.message)
    cart["member_no"] = result.member.member_no
    _save(request, register, cart)
    return _panel(request, register, cart, member_changed=True)


@login_required
@require_POST
def coupon(request, register_id: int):
    register = _register(request, register_id)
    cart = _cart(request, register)
    cart["coupon"] = request.POST.get("coupon", "").strip().upper()
    try:
        cart["points"] = max(int(request.POST.get("points") or 0), 0)
    except ValueError:
        cart["points"] = 0
    _save(request, register, cart)
    return _panel(request, register, cart)


@login_required
@require_POST
def pay(request, register_id: int):
    """Places and pays the counter sale. The sale id from the form is the idempotency key: a second
    submission of the same form finds the first sale."""
    register = _register(request, register_id)
    cart = _cart(request, register)
    sale_id = request.POST.get("sale_id", "")
    key = f"pos:{register.pk}:{sale_id}"
    done = Order.objects.filter(idempotency_key=key).first()
    if done is not None and done.status != "pending_payment":
        return redirect("pos-receipt", register.pk, done.number)
    if sale_id != cart["sale_id"] or not cart["lines"]:
        return redirect("pos-sale", register.pk)
    try:
        order, change = services.counter_sale(
            actor=request.user,
            register=register,
            lines=list(cart["lines"].items()),
            cash=request.POST.get("cash", "").strip() or 0,
            card=request.POST.get("card", "").strip() or 0,
            card_tender=request.POST.get("card_tender", "card"),
            member=_member(cart),
            coupon_code=cart.get("coupon", ""),
            points=cart.get("points") or 0,
            invoice={k: request.POST[k] for k in ("carrier", "tax_id") if request.POST.get(k, "").strip()},
            sale_key=key,
        )
    except ApplicationError as error:
        return _page(request, register, cart, error=error.message, status=422)
    request.session[f"pos_change:{order.number}"] = str(change)
    request.session.pop(f"pos_cart:{register.pk}", None)
    return redirect("pos-receipt", register.pk, order.number)


@login_required
def receipt(request, register_id: int, number: str):
    """The 80 mm receipt of a sale of this store; opened again from the sales list it is marked as a
    copy (the change handed over is shown on the first print only)."""
    register = _register(request, register_id)
    try:
        order = get_scoped(Order.objects.prefetch_related("lines", "payments"), request.user, number=number)
    except NotFoundError:
        raise Http404 from None
    reprint = request.GET.get("copy") == "1"
    change = Decimal(0) if reprint else Decimal(request.session.get(f"pos_change:{number}", "0"))
    return render(
        request,
        "pos/receipt.html",
        {
            "order": order,
            "register_id": register.pk,
            "change": change,
            "register": register,
            "reprint": reprint,
        },
    )


@login_required
def sales(request, register_id: int):
    """Today's counter sales of this store (or a search by order number), each with its receipt to
    print again."""
    from django.utils import timezone

    register = _register(request, register_id)
    query = request.GET.get("q", "")[:40]
    found = list(selectors.store_sales(store=register.store, day=timezone.localdate(), query=query)[:100])
    return render(request, "pos/sales.html", {"register": register, "sales": found, "q": query})


# --- pickup counter ---------------------------------------------------------------------------------


@login_required
def pickups(request, register_id: int):
    """The store's pickup orders, found by pickup code, order number or the member's phone."""
    from orders.selectors import pickups_at

    register = _register(request, register_id)
    q = request.GET.get("q", "")
    orders_found = list(pickups_at(store=register.store, query=q)[:50])
    for o in orders_found:
        o.masked_member = member_selectors.mask_name(o.member.name) if o.member_id else "-"
    return render(request, "pos/pickups.html", {"register": register, "orders": orders_found, "q": q})


@login_required
def pickup(request, register_id: int, number: str):
    """Hands over all or part of a pickup order (分批取貨) against its pickup code; each batch carries a
    form id, so a double submit hands over once."""
    register = _register(request, register_id)
    order = Order.objects.filter(store=register.store, fulfilment="pickup", number=number).first()
    if order is None:
        raise Http404
    error, done = "", None
    if request.method == "POST":
        quantities = {}
        for line in order.lines.all():
            raw = request.POST.get(f"qty-{line.pk}", "0").strip() or "0"
            if raw.isdigit() and int(raw) > 0:
                quantities[line.pk] = int(raw)
        try:
            done = orders.order_pickup(
                order=order,
                actor=request.user,
                quantities=quantities or None,
                pickup_code=request.POST.get("pickup_code", "").strip(),
                idempotency_key=f"pos-pickup:{register.pk}:{request.POST.get('batch_id', '')}",
            )
        except ApplicationError as failure:
            error = failure.message
        order.refresh_from_db()
    lines = list(order.lines.all())
    for line in lines:
        line.open = line.quantity - line.fulfilled_quantity
    return render(
        request,
        "pos/pickup.html",
        {
            "register": register,
            "order": order,
            "lines": lines,
            "error": error,
            "done": done,
            "batch_id": uuid.uuid4().hex,
        },
        status=422 if error else 200,
    )


# --- returns at the counter -------------------------------------------------------------------------


@login_required
def returns(request, register_id: int):
    """Takes back lines of any order (an online order too) at this store: goods back on this store's
    shelf or written off, the refund to the original tenders or to store credit; cash given back is
    recorded in the shift. Each form carries an id, so a double submit returns once."""
    register = _register(request, register_id)
    number = (request.POST.get("order") or request.GET.get("order") or "").strip()
    order = Order.objects.filter(number__iexact=number).select_related("channel").first() if number else None
    error, ret = "", None
    if number and order is None:
        error = _("No order %(number)s.") % {"number": number}
    if request.method == "POST" and order is not None:
        lines = []
        for line in order.lines.all():
            raw = request.POST.get(f"qty-{line.pk}", "").strip()
            if raw.isdigit() and int(raw) > 0:
                lines.append(
                    {
                        "line": line.pk,
                        "quantity": int(raw),
                        "disposition": request.POST.get(f"disp-{line.pk}", "restock"),
                    }
                )
        try:
            ret = services.counter_return(
                actor=request.user,
                register=register,
                order=order,
                lines=lines,
                refund_to=request.POST.get("refund_to", "original"),
                reason=request.POST.get("reason", ""),
                key=f"pos-return:{register.pk}:{request.POST.get('form_id', '')}",
            )
        except ApplicationError as failure:
            error = failure.message
        order.refresh_from_db()
    lines = list(order.lines.all()) if order else []
    for line in lines:
        line.returnable = line.fulfilled_quantity - line.returned_quantity
    return render(
        request,
        "pos/returns.html",
        {
            "register": register,
            "number": number,
            "order": order,
            "lines": lines,
            "ret": ret,
            "error": error,
            "form_id": uuid.uuid4().hex,
        },
        status=422 if error and request.method == "POST" else 200,
    )


# --- quick clerk switching --------------------------------------------------------------------------


@login_required
@require_POST
def switch_clerk(request, register_id: int):
    """Another clerk of this store takes over the shared register with their name and PIN; the cart
    on the register stays."""
    from django.contrib.auth import login

    from omo.org.services import staff_pin_check

    register = _register(request, register_id)
    cart = _cart(request, register)
    try:
        clerk = staff_pin_check(
            username=request.POST.get("username", ""), pin=request.POST.get("pin", ""), store_id=register.store_id
        )
    except ApplicationError as error:  # a wrong PIN (403), or the PIN lock's counter unreachable (503)
        return _page(request, register, cart, error=error.message, status=max(error.status_code, 403))
    if clerk.pk != request.user.pk:
        kept = {k: v for k, v in request.session.items() if k.startswith(("pos_cart:", "pos_change:"))}
        login(request, clerk, backend="django.contrib.auth.backends.ModelBackend")
        request.session.update(kept)
    return redirect("pos-sale", register.pk)


# --- stock lookup and endless aisle -----------------------------------------------------------------


@login_required
def stock(request, register_id: int):
    """A SKU's stock here, in the other stores and in the warehouses; and an order for the customer from
    another location (店員從 EC 倉調貨), shipped home or to this store, paid at the counter. The sale is
    this store's and this clerk's."""
    from inventory.selectors import availability

    register = _register(request, register_id)
    q = (request.POST.get("q") or request.GET.get("q") or "").strip()
    variants = []
    if q:
        variants = list(
            Variant.objects.filter(sku__iexact=q)
            | Variant.objects.filter(barcode=q)
            | Variant.objects.filter(product__style_code__iexact=q)
        )[:20]
    error, placed = "", None
    if request.method == "POST":
        form_key = f"pos-aisle:{register.pk}:{request.POST.get('form_id', '')}"
        placed = Order.objects.filter(idempotency_key=form_key).first()
        if placed is None:
            try:
                placed = services.counter_aisle_order(
                    actor=request.user,
                    register=register,
                    sku=request.POST.get("sku", ""),
                    quantity=int(request.POST.get("quantity") or 0),
                    fulfilment=request.POST.get("fulfilment", "pickup"),
                    source_code=request.POST.get("source", ""),
                    shipping_address={k: request.POST.get(k, "") for k in ("name", "phone", "address")},
                    member=_member(_cart(request, register)),
                    tender=request.POST.get("tender", "card"),
                    key=form_key,
                )
            except (ApplicationError, ValueError) as failure:
                error = getattr(failure, "message", str(failure))
                placed = None
    rows = list(availability(variants=variants).values()) if variants else []
    if q and not variants:
        error = error or _("Nothing found for %(code)s.") % {"code": q}
    return render(
        request,
        "pos/stock.html",
        {"register": register, "q": q, "rows": rows, "error": error, "placed": placed, "form_id": uuid.uuid4().hex},
        status=422 if error and request.method == "POST" else 200,
    )


# --- replenishment and incoming transfers -----------------------------------------------------------


@login_required
def transfers(request, register_id: int):
    """Ask the supplying warehouse for stock, and book in what arrives with the counted quantities
    (a difference needs a note)."""
    from inventory import services as stock
    from inventory.models import Transfer

    register = _register(request, register_id)
    store = register.store
    error, message = "", ""
    if request.method == "POST":
        try:
            if request.POST.get("action") == "request":
                wanted = []
                for row in request.POST.get("lines", "").splitlines():
                    parts = row.split()
                    if not parts:
                        continue
                    variant = Variant.objects.filter(sku__iexact=parts[0]).first()
                    if variant is None or len(parts) != 2 or not parts[1].isdigit():
                        raise ApplicationError(_("Write each line as: SKU quantity."), code="invalid_lines")
                    wanted.append((variant, int(parts[1])))
                if store.supplying_warehouse_id is None:
                    raise ApplicationError(_("This store has no supplying warehouse."), code="no_supplier")
                transfer = stock.transfer_request(
                    origin=store.supplying_warehouse, destination=store, lines=wanted, actor=request.user
                )
                message = _("Request #%(n)d sent to %(wh)s.") % {"n": transfer.pk, "wh": store.supplying_warehouse.name}
            else:
                transfer = Transfer.objects.filter(pk=request.POST.get("transfer"), destination=store).first()
                if transfer is None:
                    raise Http404
                counted = {}
                for line in transfer.lines.all():
                    raw = request.POST.get(f"count-{line.variant_id}", "").strip()
                    if raw.isdigit():
                        counted[line.variant_id] = (int(raw), request.POST.get(f"note-{line.variant_id}", ""))
                stock.transfer_receive(transfer=transfer, actor=request.user, received=counted)
                message = _("Transfer #%(n)d booked in.") % {"n": transfer.pk}
        except ApplicationError as failure:
            error = failure.message
    incoming = (
        Transfer.objects.filter(destination=store, status=Transfer.Status.SHIPPED)
        .select_related("origin")
        .prefetch_related("lines__variant")
        .order_by("shipped_at")
    )
    return render(
        request,
        "pos/transfers.html",
        {"register": register, "incoming": incoming, "error": error, "message": message},
        status=422 if error else 200,
    )


# --- my performance ---------------------------------------------------------------------------------


@login_required
def me(request, register_id: int):
    """The clerk's own month so far: counter sales and members registered; the members bound to them,
    the sales attributed to them in every channel and the estimated commission, each line explained."""
    from django.db.models import Count, Sum
    from django.utils import timezone

    from attribution import selectors as attribution

    register = _register(request, register_id)
    today = timezone.localdate()
    start = today.replace(day=1)
    mine = Order.objects.filter(clerk=request.user, paid_at__date__gte=start).exclude(status="cancelled")
    figures = mine.aggregate(n=Count("id"), total=Sum("total"))
    members = Member.objects.filter(registered_by=request.user, created_at__date__gte=start).count()
    performance = attribution.clerk_performance(clerk=request.user, day=today)
    return render(
        request,
        "pos/me.html",
        {
            "register": register,
            "start": start,
            "sales": figures["n"],
            "total": figures["total"] or 0,
            "members": members,
            "perf": performance,
            "explained": attribution.explain_all(performance["lines"]),
        },
    )


@login_required
def my_qr(request, register_id: int):
    """The clerk's referral QR code on a card to print (members scan it to sign up or shop online)."""
    from django.utils.safestring import mark_safe

    from attribution import selectors as attribution

    register = _register(request, register_id)
    profile = getattr(request.user, "staff_profile", None)
    if profile is None:
        raise Http404
    svg = attribution.referral_qr(profile, kind="svg", scale=8).decode()
    svg = svg[svg.index("<svg") :]  # inline: without the XML declaration
    return render(
        request,
        "pos/my_qr.html",
        {"register": register, "profile": profile, "link": attribution.referral_link(profile), "qr": mark_safe(svg)},  # noqa: S308 (segno's own SVG)
    )


@login_required
@require_POST
def chat(request, register_id: int):
    """The clerk logs a LINE conversation with the member on the sale (a binding to them and this
    store for the policy's LINE window)."""
    from attribution.services import binding_chat_record

    register = _register(request, register_id)
    member = _member(_cart(request, register))
    if member is None:
        return HttpResponse(_("Find the member first."), status=422)
    try:
        binding_chat_record(actor=request.user, member=member, store=register.store, note=request.POST.get("note", ""))
    except ApplicationError as error:
        return HttpResponse(error.message, status=422 if error.status_code < 500 else error.status_code)
    return HttpResponse(_("Logged."))


@login_required
def outreach(request, register_id: int):
    """Clerk-led outreach: the members of running campaigns who are bound to this clerk, to follow up
    with; logging a LINE conversation with one of them records a binding for the policy's LINE window."""
    from attribution.services import binding_chat_record
    from marketing.selectors import clerk_outreach

    register = _register(request, register_id)
    message, status = "", 200
    if request.method == "POST":
        listed = {row["member_no"] for row in clerk_outreach(clerk=request.user)}
        number = request.POST.get("member", "")
        member = (
            Member.objects.filter(member_no=number, status=Member.Status.ACTIVE).first() if number in listed else None
        )
        if member is None:
            message, status = _("This member is not on your campaign list."), 422
        else:
            try:
                binding_chat_record(
                    actor=request.user, member=member, store=register.store, note=request.POST.get("note", "")
                )
                message = _("Logged: a LINE conversation with %(name)s.") % {"name": member.name or member.member_no}
            except ApplicationError as error:
                message, status = error.message, 422 if error.status_code < 500 else error.status_code
    rows = clerk_outreach(clerk=request.user)
    return render(request, "pos/outreach.html", {"register": register, "rows": rows, "message": message}, status=status)


# --- exchanges at the counter ------------------------------------------------------------------------


@login_required
@require_POST
def exchange(request, register_id: int):
    """An exchange from the returns page: the lines taken back pay for the cart on this register; the
    difference goes back to the original tenders or is paid at the counter."""
    register = _register(request, register_id)
    cart = _cart(request, register)
    order = Order.objects.filter(number__iexact=request.POST.get("order", "")).first()
    if order is None or not cart["lines"]:
        return redirect("pos-returns", register.pk)
    back = []
    for line in order.lines.all():
        raw = request.POST.get(f"qty-{line.pk}", "").strip()
        if raw.isdigit() and int(raw) > 0:
            back.append(
                {
                    "line": line.pk,
                    "quantity": int(raw),
                    "location": register.store,
                    "disposition": request.POST.get(f"disp-{line.pk}", "restock"),
                }
            )
    try:
        _ret, new = services.counter_exchange(
            actor=request.user, register=register, order=order, return_lines=back, new_lines=list(cart["lines"].items())
        )
    except ApplicationError as failure:
        return _page(request, register, cart, error=failure.message, status=422)
    request.session.pop(f"pos_cart:{register.pk}", None)
    return redirect("pos-receipt", register.pk, new.number)
