"""Grants the register permissions to the role groups."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {"pos": {"register": "vacd"}},
    "hq_merchandiser": {"pos": {"register": "v"}},
    "hq_finance": {"pos": {"register": "v"}},
    "store_manager": {"pos": {"register": "vac"}},
    "clerk": {"pos": {"register": "v"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("pos", "0001_initial"), ("org", "0002_roles")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
