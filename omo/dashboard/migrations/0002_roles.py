"""HQ roles read the traffic counts and which days are rolled up in the admin; the dashboard itself
is open to every HQ role and to store managers (omo.dashboard.filters.dashboard_allowed)."""

from django.db import migrations

from omo.org.migration_helpers import grant

READ = {"dashboard": {"trafficcount": "v", "rolledupday": "v"}}
ROLE_PERMISSIONS = {role: READ for role in ("hq_admin", "hq_merchandiser", "hq_crm", "hq_finance")}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0001_initial"), ("org", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
