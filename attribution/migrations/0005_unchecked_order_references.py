"""The attribution lines and order claims drop their database foreign keys to the order and its line
(a lookup and a row lock on the order for each of a month's million lines); on PostgreSQL a trigger
refuses deleting an attributed order or a line of one instead, so no line points at nothing."""

import django.db.models.deletion
from django.db import migrations, models

GUARD = """
CREATE OR REPLACE FUNCTION attribution_order_guard() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM attribution_orderattribution WHERE order_id = OLD.id)
       OR EXISTS (SELECT 1 FROM attribution_attributionline WHERE order_id = OLD.id) THEN
        RAISE EXCEPTION 'order % is attributed: it is never deleted', OLD.id;
    END IF;
    RETURN OLD;
END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION attribution_order_line_guard() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM attribution_attributionline WHERE order_id = OLD.order_id) THEN
        RAISE EXCEPTION 'order line % is attributed: it is never deleted', OLD.id;
    END IF;
    RETURN OLD;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER attribution_order_guard BEFORE DELETE ON orders_order
FOR EACH ROW EXECUTE FUNCTION attribution_order_guard();
CREATE TRIGGER attribution_order_line_guard BEFORE DELETE ON orders_orderline
FOR EACH ROW EXECUTE FUNCTION attribution_order_line_guard();
"""
DROP = """
DROP TRIGGER IF EXISTS attribution_order_guard ON orders_order;
DROP TRIGGER IF EXISTS attribution_order_line_guard ON orders_orderline;
DROP FUNCTION IF EXISTS attribution_order_guard();
DROP FUNCTION IF EXISTS attribution_order_line_guard();
"""


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD, None)  # (no parameters: its % are PL/pgSQL's)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):

    dependencies = [
        ('attribution', '0004_audit_triggers'),
        ('orders', '0010_audit_triggers'),
    ]

    operations = [
        migrations.AlterField(
            model_name='attributionline',
            name='order',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='orders.order', verbose_name='order'),
        ),
        migrations.AlterField(
            model_name='attributionline',
            name='order_line',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='orders.orderline', verbose_name='order line'),
        ),
        migrations.AlterField(
            model_name='orderattribution',
            name='order',
            field=models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='attribution', serialize=False, to='orders.order', verbose_name='order'),
        ),
        migrations.RunPython(guard, unguard),
    ]
