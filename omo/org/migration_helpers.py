"""Used by data migrations of every app to create role groups and grant model permissions."""

from django.contrib.auth.management import create_permissions

ACTIONS = {"v": "view", "a": "add", "c": "change", "d": "delete"}


def grant(apps, role_permissions: dict) -> None:
    """Grants ``{role: {app_label: {model: "vacd"}}}`` to the role groups, creating what is missing.

    Permissions are normally created after migrate finishes; they are created here first so a
    migration can hand them out in the same run that creates the models.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    labels = {label for per_app in role_permissions.values() for label in per_app}
    for label in labels:
        app_config = apps.get_app_config(label)
        app_config.models_module = True  # historical app configs have none; create_permissions needs one
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    for role, per_app in role_permissions.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        for label, models in per_app.items():
            for model, letters in models.items():
                codenames = [f"{ACTIONS[letter]}_{model}" for letter in letters]
                perms = Permission.objects.filter(content_type__app_label=label, codename__in=codenames)
                if perms.count() != len(codenames):
                    raise RuntimeError(f"missing permissions for {label}.{model}: {codenames}")
                group.permissions.add(*perms)
