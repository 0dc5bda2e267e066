"""Grants the catalog permissions to the role groups."""

from django.db import migrations

from omo.org.migration_helpers import grant

MODELS = ("category", "product", "productimage", "variant", "productlisting", "variantprice")
ROLE_PERMISSIONS = {
    "hq_admin": {"catalog": {**{m: "vacd" for m in MODELS}, "pricechange": "v"}},
    "hq_merchandiser": {"catalog": {**{m: "vacd" for m in MODELS}, "pricechange": "v"}},
    "hq_crm": {"catalog": {**{m: "v" for m in MODELS}, "pricechange": "v"}},
    "hq_finance": {"catalog": {**{m: "v" for m in MODELS}, "pricechange": "v"}},
    "store_manager": {"catalog": {m: "v" for m in MODELS}},
    "clerk": {"catalog": {m: "v" for m in MODELS}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial"), ("org", "0003_user_username_ci")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
