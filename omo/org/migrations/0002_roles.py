"""Creates the six role groups and grants them the organisation layer's permissions."""

from django.db import migrations

from omo.org.migration_helpers import grant

ROLE_PERMISSIONS = {
    "hq_admin": {"org": {"location": "vacd", "saleschannel": "vacd", "channelcredential": "vacd",
                         "staffprofile": "vacd", "user": "vacd"}},
    "hq_merchandiser": {"org": {"location": "v", "saleschannel": "v", "staffprofile": "v"}},
    "hq_crm": {"org": {"location": "v", "saleschannel": "v", "staffprofile": "v"}},
    "hq_finance": {"org": {"location": "v", "saleschannel": "v", "staffprofile": "v"}},
    "store_manager": {"org": {"location": "v", "staffprofile": "v"}},
    "clerk": {"org": {"location": "v", "staffprofile": "v"}},
}


def forwards(apps, schema_editor):
    grant(apps, ROLE_PERMISSIONS)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLE_PERMISSIONS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("org", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
