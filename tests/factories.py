"""factory_boy factories for rows without rules; people with roles go through the real service."""

import factory

from omo.org import services
from omo.org.models import Location, SalesChannel


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"L-{n:03d}")
    name = factory.Sequence(lambda n: f"Location {n}")
    kind = Location.Kind.STORE
    city = "台北市"


class WarehouseFactory(LocationFactory):
    code = factory.Sequence(lambda n: f"WH-{n:03d}")
    kind = Location.Kind.WAREHOUSE


class StoreFactory(LocationFactory):
    code = factory.Sequence(lambda n: f"S-{n:03d}")
    kind = Location.Kind.STORE


class SalesChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SalesChannel
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"CH{n:03d}")
    name = factory.Sequence(lambda n: f"Channel {n}")
    kind = SalesChannel.Kind.WEB


_staff_counter = iter(range(1, 1_000_000))


def make_staff(role, *, store=None, username=None, password="test-pass-123", **extra):
    """A staff member of ``role`` (at ``store`` for store roles), created by the real service."""
    n = next(_staff_counter)
    return services.staff_create(
        username=username or f"staff{n}",
        password=password,
        display_name=extra.pop("display_name", f"Staff {n}"),
        employee_code=extra.pop("employee_code", f"E{n:05d}"),
        role=role,
        home_store=store,
        **extra,
    )


# --- catalog ---------------------------------------------------------------------------------------

_sku_counter = iter(range(1, 10_000_000))


def make_category(path: str = "apparel/tops"):
    from catalog.services import category_ensure_path

    return category_ensure_path(path=path)


def make_product(*, style_code=None, category=None, tracks_lots=False, status="active", variants=("M",), name=None):
    """An active product with one variant per size in ``variants``; returns the product."""
    from catalog import services

    n = next(_sku_counter)
    product = services.product_create(
        style_code=style_code or f"ST{n:05d}",
        name=name or f"Product {n}",
        category=category or make_category(),
        status=status,
        tracks_lots=tracks_lots,
    )
    for i, size in enumerate(variants):
        services.variant_create(product=product, sku=f"{product.style_code}-{size}", size=size, position=i)
    return product


def make_variant(**kwargs):
    """One variant (of a new product), with the product selected for the inventory services."""
    product = make_product(**kwargs)
    return product.variants.select_related("product").get()


def register_member(**kwargs):
    """A member through the real registration service."""
    from members.services import member_register

    return member_register(**kwargs).member


def points_books(member) -> int:
    """The member's points balance, after checking it equals the ledger and the open lots."""
    from django.db.models import Sum

    from members.models import PointsEntry, PointsLot

    member.refresh_from_db()
    ledger = PointsEntry.objects.filter(member=member).aggregate(s=Sum("points"))["s"] or 0
    lots = PointsLot.objects.filter(member=member).aggregate(s=Sum("remaining"))["s"] or 0
    assert member.points_balance == ledger == lots
    return member.points_balance
