from decimal import Decimal

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def fmt(value, kind="text"):
    """A figure's value for people: money with separators and 2 places, ratios as percentages."""
    if value is None or value == "":
        return "—"
    if kind == "pct":
        return f"{number_format(Decimal(value) * 100, 1, force_grouping=True)}%"
    if kind == "money":
        return number_format(Decimal(value), 2, force_grouping=True)
    if kind == "int":
        return number_format(int(value), 0, force_grouping=True)
    if kind == "num":
        return number_format(Decimal(value), 1, force_grouping=True)
    if kind == "date":
        return value.isoformat() if hasattr(value, "isoformat") else value
    return value


@register.filter
def cell(row, key):
    return row.get(key) if row else None


@register.filter
def signed_pct(value):
    if value is None:
        return ""
    sign = "+" if value > 0 else ""
    return f"{sign}{number_format(Decimal(value) * 100, 1, force_grouping=True)}%"
