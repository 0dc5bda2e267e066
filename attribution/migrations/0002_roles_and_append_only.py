"""Who may do what with clerk attribution, and settled attribution lines that nothing can change."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {
        "attribution": {
            "policy": "vac",
            "binding": "vac",
            "orderattribution": "v",
            "attributionline": "v",
            "settlementperiod": "vac",
            "settlementline": "v",
            "settlementadjustment": "va",
        }
    },
    "hq_finance": {
        "attribution": {
            "policy": "vac",
            "binding": "v",
            "orderattribution": "v",
            "attributionline": "v",
            "settlementperiod": "vac",
            "settlementline": "v",
            "settlementadjustment": "va",
        }
    },
    "hq_crm": {"attribution": {"policy": "v", "binding": "vac", "orderattribution": "v", "attributionline": "v"}},
    "store_manager": {
        "attribution": {"binding": "va", "attributionline": "v", "settlementline": "v", "settlementperiod": "v"}
    },
    "clerk": {"attribution": {"binding": "va", "attributionline": "v"}},
}

# On PostgreSQL an attribution line is written once: it may be given its period when the month is
# approved, and nothing else about it ever changes; a settled line never changes at all.
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION attribution_line_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'attribution lines are never deleted';
    END IF;
    IF OLD.period_id IS NOT NULL OR NEW.period_id IS NULL
       OR (to_jsonb(NEW) - 'period_id') IS DISTINCT FROM (to_jsonb(OLD) - 'period_id') THEN
        RAISE EXCEPTION 'attribution lines are written once; a settled line never changes';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER attribution_line_guard BEFORE UPDATE OR DELETE ON attribution_attributionline
FOR EACH ROW EXECUTE FUNCTION attribution_line_guard();
"""
DROP = """
DROP TRIGGER IF EXISTS attribution_line_guard ON attribution_attributionline;
DROP FUNCTION IF EXISTS attribution_line_guard();
"""


def grant_roles(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY)


def drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("attribution", "0001_initial"), ("org", "0002_roles")]

    operations = [
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
        migrations.RunPython(append_only, drop_append_only),
    ]
