"""What a dashboard page shows: key figures (with the comparison period) and figures, each a table that
its chart is drawn from (so the two always agree) and that exports as CSV or XLSX."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import tablib

KINDS = ("text", "int", "money", "pct", "num", "date")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # one of KINDS; pct holds a ratio (0.25 shows as 25.0%)


@dataclass(frozen=True)
class Kpi:
    label: str
    value: Decimal | int | None
    kind: str = "money"
    compare: Decimal | int | None = None
    note: str = ""

    @property
    def change(self) -> Decimal | None:
        """The change against the comparison period as a ratio (0.1 = +10%), None when not defined."""
        if self.value is None or not self.compare:
            return None
        return (Decimal(self.value) - Decimal(self.compare)) / abs(Decimal(self.compare))


@dataclass
class Figure:
    key: str
    title: str
    columns: list[Column]
    rows: list[dict]
    chart: dict | None = None  # {"type": "line"|"bar"|"doughnut", "x": key, "series": [keys], "stacked", "horizontal"}
    note: str = ""
    total: dict | None = None  # a totals row, shown under the table and exported

    def chart_config(self) -> dict | None:
        """Chart.js data (labels, datasets) drawn from the table's own rows."""
        if not self.chart or not self.rows:
            return None
        labels = {c.key: c.label for c in self.columns}
        kinds = {c.key: c.kind for c in self.columns}
        x = self.chart["x"]
        rows = self.rows[: self.chart.get("limit", len(self.rows))]
        return {
            "type": self.chart.get("type", "bar"),
            "stacked": bool(self.chart.get("stacked")),
            "horizontal": bool(self.chart.get("horizontal")),
            "labels": [_plain(r.get(x)) for r in rows],
            "datasets": [
                {
                    "label": str(labels[s]),
                    "kind": kinds[s],
                    "data": [_number(r.get(s), kinds[s]) for r in rows],
                }
                for s in self.chart["series"]
            ],
        }

    def dataset(self) -> tablib.Dataset:
        data = tablib.Dataset(headers=[str(c.label) for c in self.columns], title=str(self.title)[:31])
        for row in self.rows + ([self.total] if self.total else []):
            data.append([_export(row.get(c.key), c.kind) for c in self.columns])
        return data

    def export(self, fmt: str) -> tuple[bytes, str]:
        """The table as ``csv`` (UTF-8 with a BOM, so spreadsheet programs read Chinese right) or ``xlsx``."""
        if fmt == "xlsx":
            return (
                self.dataset().export("xlsx"),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        return ("\ufeff" + self.dataset().export("csv")).encode("utf-8"), "text/csv; charset=utf-8"


def _plain(value):
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def _number(value, kind: str):
    if value is None:
        return None
    if kind == "pct":
        return float(round(Decimal(value) * 100, 1))
    if isinstance(value, Decimal):
        return float(value)
    return value


def _export(value, kind: str):
    if value is None:
        return ""
    if kind == "pct":
        return round(Decimal(value) * 100, 1)
    if isinstance(value, date):
        return value.isoformat()
    if kind == "text":
        return str(value)
    return value


def plain_value(value):
    """A cell for JSON: dates as ISO strings, decimals (money, ratios) as exact strings like the rest of
    the API, never floats."""
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value


def cents(value) -> Decimal:
    """Money to the cent; None (an empty sum) is 0.00."""
    return (Decimal(value) if value is not None else Decimal(0)).quantize(Decimal("0.01"))


def ratio(part, whole) -> Decimal | None:
    """part / whole to 4 places, None when whole is 0 or missing."""
    if not whole or part is None:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


def money_per(amount, count) -> Decimal | None:
    if not count or amount is None:
        return None
    return (Decimal(amount) / Decimal(count)).quantize(Decimal("0.01"))


@dataclass
class Page:
    key: str
    title: str
    kpis: list[Kpi] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    note: str = ""
    extra: dict = field(default_factory=dict)  # page-specific template context (e.g. the traffic upload form)
