"""Store staff and HQ merchandisers may hold stock for a customer (reservations at their own store)."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_merchandiser": {"inventory": {"reservation": "vac"}},
    "store_manager": {"inventory": {"reservation": "vac"}},
    "clerk": {"inventory": {"reservation": "va"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0003_reservation_short")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
