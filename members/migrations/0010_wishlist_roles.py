"""Store staff see a member's saved items at the counter; HQ CRM manages them."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {"members": {"wishlistitem": "vacd"}},
    "hq_crm": {"members": {"wishlistitem": "v"}},
    "store_manager": {"members": {"wishlistitem": "v"}},
    "clerk": {"members": {"wishlistitem": "v"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("members", "0009_wishlist")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
