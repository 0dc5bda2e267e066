"""HQ admins see staff log-in failures and unlock a locked-out login (django-axes: deleting the
username's access attempts ends its lockout)."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {"axes": {"accessattempt": "vd", "accesslog": "v", "accessfailurelog": "v"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("org", "0004_staff_pin"),
        ("axes", "0010_accessattemptexpiration"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
