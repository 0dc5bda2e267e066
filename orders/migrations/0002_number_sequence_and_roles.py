"""Order numbers come from a PostgreSQL sequence (never blocks, no hot counter row in a flash sale);
and who may do what with orders."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {
        "orders": {
            "promotion": "vacd",
            "order": "vac",
            "orderline": "v",
            "linediscount": "v",
            "payment": "vac",
            "orderstatuschange": "v",
            "fulfilment": "vac",
            "fulfilmentline": "v",
            "orderallocation": "v",
            "return": "vac",
            "returnline": "v",
            "refund": "va",
            "storecreditaccount": "v",
            "storecreditentry": "va",
        }
    },
    "hq_merchandiser": {"orders": {"promotion": "vacd", "order": "v", "orderline": "v", "fulfilment": "v"}},
    "hq_crm": {"orders": {"promotion": "v", "order": "v", "orderline": "v", "return": "v", "storecreditaccount": "v"}},
    "hq_finance": {
        "orders": {
            "order": "v",
            "orderline": "v",
            "payment": "v",
            "refund": "v",
            "return": "v",
            "storecreditaccount": "v",
            "storecreditentry": "va",
        }
    },
    "store_manager": {
        "orders": {
            "promotion": "v",
            "order": "vac",
            "orderline": "v",
            "payment": "va",
            "fulfilment": "va",
            "return": "va",
            "refund": "va",
            "storecreditaccount": "v",
        }
    },
    "clerk": {
        "orders": {
            "promotion": "v",
            "order": "vac",
            "orderline": "v",
            "payment": "va",
            "fulfilment": "va",
            "return": "va",
            "refund": "va",
            "storecreditaccount": "v",
        }
    },
}


def create_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS orders_order_number_seq START 100001")


def drop_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS orders_order_number_seq")


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]
    operations = [
        migrations.RunPython(create_sequence, drop_sequence),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
