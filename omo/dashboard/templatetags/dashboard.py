from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def fmt(value, kind="text"):
    """A figure's value for people: money with separators and 2 places, ratios as percentages."""
    if value is None or value == "":
        return "—"
    if kind == "pct":
        return f"{Decimal(value) * 100:,.1f}%"
    if kind == "money":
        return f"{Decimal(value):,.2f}"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "num":
        return f"{Decimal(value):,.2f}"
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
    return f"{Decimal(value) * 100:+,.1f}%"
