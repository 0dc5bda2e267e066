"""Who may do what with segments, scores and campaigns: HQ CRM (and the HQ admin) build and evaluate
segments and create, launch and cancel campaigns; the other HQ roles read them. Store managers create events; store staff check members in."""

from django.db import migrations

from omo.org.migration_helpers import grant

CRM = {
    "segment": "vacd", "segmentrun": "v", "segmentmembership": "v", "memberrfm": "v", "campaign": "vac",
    "campaignrecipient": "v", "boughttogether": "v", "categoryaffinity": "v", "review": "vc", "storeevent": "vacd",
    "eventattendance": "vc",
}  # fmt: skip
READ = {k: "v" for k in CRM}
STORE = {"storeevent": "v", "eventattendance": "vc", "review": "v"}
ROLE_PERMISSIONS = {
    "hq_admin": {"marketing": CRM},
    "hq_crm": {"marketing": CRM},
    "hq_merchandiser": {"marketing": READ},
    "hq_finance": {"marketing": READ},
    "store_manager": {"marketing": {**STORE, "storeevent": "vac"}},
    "clerk": {"marketing": STORE},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("marketing", "0001_initial"), ("org", "0002_roles")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
