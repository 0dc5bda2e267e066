"""Support staff at HQ may see which log-in codes were sent (never the codes)."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {"members": {"logincode": "v"}},
    "hq_crm": {"members": {"logincode": "v"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("members", "0007_login_codes")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
