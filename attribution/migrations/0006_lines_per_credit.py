"""Attribution lines become one row per order and credited (clerk, store) instead of one per order
line and credit: the lines of an order that credited the same (clerk, store) under the same binding
are merged into one row that keeps each order line's part in ``lines`` ([line id, base, rate,
commission]) and their totals. Claw-backs are merged the same way per return (or cancellation) and
the row they take back from. Amounts are the sums of the merged rows, so every settled total stays
exactly what it was; a merged row keeps its first row's id and period."""

from collections import defaultdict
from decimal import Decimal

from django.db import migrations, models

KEY = ("kind", "order_id", "ret_id", "clerk_id", "store_id", "binding_id", "policy_id", "rule", "share",
       "factor", "occurred_at", "eligible_on", "period_id")  # fmt: skip
SUMS = ("base", "commission", "store_amount", "personal_amount")


def regroup(apps, schema_editor):
    Line = apps.get_model("attribution", "AttributionLine")
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:  # the append-only guard refuses the merge; it is back on before the migration ends
        schema_editor.execute("ALTER TABLE attribution_attributionline DISABLE TRIGGER attribution_line_guard")
    survivor: dict[int, int] = {}  # old id -> id of the row it was merged into
    groups: dict[tuple, list] = defaultdict(list)
    rows = Line.objects.order_by("pk").values("pk", "order_line_id", "rate", "reverses_id", *KEY, *SUMS)
    for row in rows.iterator(chunk_size=5000):
        reverses = row["reverses_id"]
        key = (*(row[f] for f in KEY), survivor.get(reverses, reverses))
        groups[key].append(row)
        survivor[row["pk"]] = groups[key][0]["pk"]
    doomed = []
    for key, members in groups.items():
        first = members[0]
        rates = {m["rate"] for m in members}
        Line.objects.filter(pk=first["pk"]).update(
            reverses_id=key[-1],
            rate=rates.pop() if len(rates) == 1 else None,
            lines=[[m["order_line_id"], str(m["base"]), str(m["rate"]), str(m["commission"])] for m in members],
            **{f: sum((m[f] for m in members), Decimal(0)) for f in SUMS},
        )
        doomed += [m["pk"] for m in members[1:]]
    for i in range(0, len(doomed), 5000):  # whatever pointed at them now points at the row they joined
        Line.objects.filter(pk__in=doomed[i : i + 5000])._raw_delete(schema_editor.connection.alias)
    if postgres:
        schema_editor.execute("ALTER TABLE attribution_attributionline ENABLE TRIGGER attribution_line_guard")


class Migration(migrations.Migration):

    dependencies = [
        ('attribution', '0005_unchecked_order_references'),
    ]

    operations = [
        migrations.AddField(
            model_name='attributionline',
            name='lines',
            field=models.JSONField(default=list, verbose_name='order lines'),
        ),
        migrations.AlterField(
            model_name='attributionline',
            name='rate',
            field=models.DecimalField(blank=True, decimal_places=4, help_text='Empty when its lines differ', max_digits=7, null=True, verbose_name='rate'),
        ),
        migrations.RunPython(regroup, migrations.RunPython.noop, elidable=False),
        migrations.RemoveField(
            model_name='attributionline',
            name='order_line',
        ),
    ]
