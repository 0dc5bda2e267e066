"""Who may do what with segments, scores and campaigns: HQ CRM (and the HQ admin) build and evaluate
segments and create, launch and cancel campaigns; the other HQ roles read them. Store staff see none of it here (clerk-led outreach comes with campaigns)."""

from django.db import migrations

from omo.org.migration_helpers import grant

CRM = {
    "segment": "vacd", "segmentrun": "v", "segmentmembership": "v", "memberrfm": "v", "campaign": "vac",
    "campaignrecipient": "v", "boughttogether": "v", "categoryaffinity": "v",
}  # fmt: skip
READ = {k: "v" for k in CRM}
ROLE_PERMISSIONS = {
    "hq_admin": {"marketing": CRM},
    "hq_crm": {"marketing": CRM},
    "hq_merchandiser": {"marketing": READ},
    "hq_finance": {"marketing": READ},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("marketing", "0001_initial"), ("org", "0002_roles")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
