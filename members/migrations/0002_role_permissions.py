"""Grants the members permissions to the role groups: HQ CRM runs the program, store staff register
and look up members (masked), HQ finance reads."""

from django.db import migrations

from omo.org.migration_helpers import grant

MODELS = ("member", "identity", "consent", "pointslot", "pointsentry")
ROLE_PERMISSIONS = {
    "hq_admin": {"members": {m: "vacd" for m in MODELS}},
    "hq_crm": {"members": {"member": "vac", "identity": "vac", "consent": "vac", "pointslot": "v", "pointsentry": "va"}},
    "hq_finance": {"members": {"member": "v", "pointslot": "v", "pointsentry": "v"}},
    "hq_merchandiser": {"members": {"member": "v"}},
    "store_manager": {"members": {"member": "va", "identity": "va", "consent": "va", "pointsentry": "v"}},
    "clerk": {"members": {"member": "va", "identity": "va", "consent": "va", "pointsentry": "v"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial"), ("org", "0003_user_username_ci")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
