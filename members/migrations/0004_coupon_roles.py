"""Coupon permissions: HQ CRM runs campaigns; store staff see codes and put them in wallets."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {"members": {m: "vacd" for m in ("couponcampaign", "coupon", "walletcoupon", "couponredemption")}},
    "hq_crm": {"members": {"couponcampaign": "vacd", "coupon": "vacd", "walletcoupon": "vac", "couponredemption": "v"}},
    "hq_finance": {"members": {"couponcampaign": "v", "coupon": "v", "couponredemption": "v"}},
    "store_manager": {"members": {"couponcampaign": "v", "coupon": "v", "walletcoupon": "va", "couponredemption": "v"}},
    "clerk": {"members": {"couponcampaign": "v", "coupon": "v", "walletcoupon": "va"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("members", "0003_coupons")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
