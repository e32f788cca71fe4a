"""Create the schedule of the expiry task: every five minutes, exceptions past their expiry are
marked expired and the findings they covered count as failing again.

A django-celery-beat row, so an admin can change or disable it in the Django admin.
"""

from django.db import migrations

EXPIRE_EXCEPTIONS = "Expire exceptions past their expiry"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")

    every_five, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=EXPIRE_EXCEPTIONS,
        defaults={"task": "triage.tasks.expire_exceptions", "interval": every_five},
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=EXPIRE_EXCEPTIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
