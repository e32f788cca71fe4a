"""Create the role groups: viewer (read), analyst (triage) and admin (accounts, schedules, settings).

The names are written out here, not imported from accounts.roles, so this migration keeps doing
what it did when it was written even if the module changes later.
"""

from django.db import migrations

ROLE_GROUPS = ("viewer", "analyst", "admin")


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    # Reversing leaves the groups in place: deleting them would drop every user's role.
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
