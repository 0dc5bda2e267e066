"""The movement ledger is append-only at the database level (PostgreSQL), and the roles get their
inventory permissions."""

from django.db import migrations

from omo.org.migration_helpers import grant

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION inventory_movement_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'inventory_stockmovement is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER inventory_movement_append_only
  BEFORE UPDATE OR DELETE ON inventory_stockmovement
  FOR EACH ROW EXECUTE FUNCTION inventory_movement_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS inventory_movement_append_only ON inventory_stockmovement;
DROP FUNCTION IF EXISTS inventory_movement_append_only();
"""

ALL = "vacd"
ROLE_PERMISSIONS = {
    "hq_admin": {
        "inventory": {m: ALL for m in ("stocklevel", "stockmovement", "lot", "lotstock", "skucost", "reservation",
                                       "channellocation", "channelallocation", "transfer", "transferline",
                                       "transferlinelot", "goodsreceipt", "goodsreceiptline", "stockcount", "stockcountline")},
    },
    "hq_merchandiser": {
        "inventory": {"stocklevel": "vc", "stockmovement": "va", "lot": "v", "lotstock": "v", "skucost": "v",
                      "reservation": "v", "channellocation": ALL, "channelallocation": ALL, "transfer": "vac",
                      "transferline": "v", "goodsreceipt": "vac", "goodsreceiptline": "v", "stockcount": "vac",
                      "stockcountline": "v"},
    },
    "hq_crm": {
        "inventory": {"stocklevel": "v"},
    },
    "hq_finance": {
        "inventory": {m: "v" for m in ("stocklevel", "stockmovement", "lot", "lotstock", "skucost", "transfer",
                                       "transferline", "goodsreceipt", "goodsreceiptline", "stockcount",
                                       "stockcountline")},
    },
    "store_manager": {
        "inventory": {"stocklevel": "vc", "stockmovement": "va", "lot": "v", "lotstock": "v", "reservation": "v",
                      "transfer": "vac", "transferline": "v", "goodsreceipt": "vac", "goodsreceiptline": "v",
                      "stockcount": "vac", "stockcountline": "v"},
    },
    "clerk": {
        "inventory": {"stocklevel": "v", "stockmovement": "v", "lot": "v", "lotstock": "v", "reservation": "v",
                      "transfer": "vac", "transferline": "v", "goodsreceipt": "v", "goodsreceiptline": "v",
                      "stockcount": "vc", "stockcountline": "v"},
    },
}
EXTRA = {  # custom permissions: (role, app, codename)
    ("hq_admin", "inventory", "approve_transfer"), ("hq_admin", "inventory", "post_stockcount"),
    ("hq_merchandiser", "inventory", "approve_transfer"), ("hq_merchandiser", "inventory", "post_stockcount"),
    ("store_manager", "inventory", "approve_transfer"), ("store_manager", "inventory", "post_stockcount"),
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)
    grant(apps, ROLE_PERMISSIONS)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, label, codename in sorted(EXTRA):
        Group.objects.get(name=role).permissions.add(
            Permission.objects.get(content_type__app_label=label, codename=codename)
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0001_initial"), ("catalog", "0002_role_permissions"), ("org", "0003_user_username_ci")]
    operations = [migrations.RunPython(forwards, backwards)]
