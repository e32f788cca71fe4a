"""Create the default schedules: a daily scan of every enabled account, and the stuck-scan reaper.

Both are django-celery-beat rows, so an admin can change or disable them in the Django admin.
"""

from django.db import migrations

DAILY_SCAN = "Daily scan of all enabled accounts"
REAPER = "Mark stuck account scans as failed"


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")

    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=DAILY_SCAN,
        defaults={"task": "posture.tasks.scan_enabled_accounts", "crontab": daily},
    )
    every_five, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=REAPER,
        defaults={"task": "posture.tasks.reap_stuck_scans", "interval": every_five},
    )


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[DAILY_SCAN, REAPER]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("posture", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
