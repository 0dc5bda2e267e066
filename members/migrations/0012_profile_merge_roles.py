"""Who may do what with profile definitions, purchases, referrals, merges, erasures and coupon issue jobs:
HQ CRM defines the profile and merges; store staff read what the counter needs."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {
        "members": {
            "profilegroup": "vacd",
            "profilefield": "vacd",
            "profileentry": "vacd",
            "purchase": "v",
            "referralreward": "v",
            "duplicatecandidate": "vc",
            "membermerge": "va",
            "membererasure": "va",
            "couponissuejob": "va",
        }
    },
    "hq_crm": {
        "members": {
            "profilegroup": "vacd",
            "profilefield": "vacd",
            "profileentry": "vacd",
            "purchase": "v",
            "referralreward": "v",
            "duplicatecandidate": "vc",
            "membermerge": "va",
            "membererasure": "va",
            "couponissuejob": "va",
        }
    },
    "hq_finance": {"members": {"purchase": "v", "referralreward": "v"}},
    "store_manager": {"members": {"profilegroup": "v", "profilefield": "v", "profileentry": "vacd", "purchase": "v"}},
    "clerk": {"members": {"profilegroup": "v", "profilefield": "v", "profileentry": "vac", "purchase": "v"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("members", "0011_profiles_purchases_merges")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
