"""Tier and earn-rule permissions: HQ CRM runs the program; everyone else reads."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {"members": {m: "vacd" for m in ("tier", "membertier", "tierchange", "earnrule")}},
    "hq_crm": {"members": {"tier": "vacd", "earnrule": "vacd", "membertier": "v", "tierchange": "v"}},
    "hq_finance": {"members": {"tier": "v", "earnrule": "v", "membertier": "v", "tierchange": "v"}},
    "store_manager": {"members": {"tier": "v", "membertier": "v"}},
    "clerk": {"members": {"tier": "v", "membertier": "v"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("members", "0005_tiers_and_earn_rules")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
