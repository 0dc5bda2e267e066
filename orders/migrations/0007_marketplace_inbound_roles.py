"""Who may work the marketplace intake: HQ admins set channels up (secrets), map SKUs and work the
review queue; merchandisers map SKUs and retry what waits; finance reads."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {"orders": {"marketplacesettings": "vac", "marketplacesku": "vacd", "inboundorder": "vc"}},
    "hq_merchandiser": {"orders": {"marketplacesku": "vacd", "inboundorder": "vc"}},
    "hq_finance": {"orders": {"inboundorder": "v"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("orders", "0006_marketplace_inbound")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
