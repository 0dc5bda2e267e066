"""HQ admins read the idempotencykey list in the admin (support and audit)."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {"hq_admin": {"core": {"idempotencykey": "v"}}}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial"), ("org", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
