"""Clerks open and close shifts at their store's registers; store managers also approve them; HQ
finance reads them."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {"pos": {"shift": "v", "shiftentry": "v"}},
    "hq_finance": {"pos": {"shift": "v", "shiftentry": "v"}},
    "store_manager": {"pos": {"shift": "vac", "shiftentry": "va"}},
    "clerk": {"pos": {"shift": "vac", "shiftentry": "va"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    shift_type, _created = ContentType.objects.get_or_create(app_label="pos", model="shift")
    approve, _created = Permission.objects.get_or_create(
        content_type=shift_type, codename="approve_shift", defaults={"name": "Can approve a shift report"}
    )
    for role in ("store_manager",):
        Group.objects.get(name=role).permissions.add(approve)


class Migration(migrations.Migration):
    dependencies = [("pos", "0003_shifts"), ("org", "0002_roles")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
