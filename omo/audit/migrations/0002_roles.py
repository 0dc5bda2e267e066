"""HQ admins and HQ finance read the audit trail in the admin; nobody else does."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {"audit": {"auditevent": "v"}},
    "hq_finance": {"audit": {"auditevent": "v"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial"), ("org", "0002_roles")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
