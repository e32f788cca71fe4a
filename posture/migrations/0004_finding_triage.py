"""Triage on findings: state, assignee, tags and the covering exception; generic event fields;
what score snapshots owe to expiring exceptions.

Findings that already pass (or are not applicable) start resolved, as new ones do.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

SETTLED_STATUSES = ("PASS", "NOT_APPLICABLE")


def resolve_settled(apps, schema_editor):
    Finding = apps.get_model("posture", "Finding")
    Finding.objects.filter(status__in=SETTLED_STATUSES).update(triage_state="resolved")


class Migration(migrations.Migration):
    dependencies = [
        ("posture", "0003_account_scan_listed"),
        ("triage", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="assignee",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="assigned_findings",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="finding",
            name="exception",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="covered_findings",
                to="triage.findingexception",
            ),
        ),
        migrations.AddField(
            model_name="finding",
            name="tags",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="finding",
            name="triage_state",
            field=models.CharField(
                choices=[
                    ("open", "Open"),
                    ("acknowledged", "Acknowledged"),
                    ("in_progress", "In progress"),
                    ("risk_accepted", "Risk accepted"),
                    ("false_positive", "False positive"),
                    ("resolved", "Resolved"),
                ],
                db_index=True,
                default="open",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="findingevent",
            name="field",
            field=models.CharField(blank=True, max_length=30),
        ),
        migrations.AddField(
            model_name="findingevent",
            name="new_value",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="findingevent",
            name="old_value",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="scoresnapshot",
            name="exception_lapses",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="scoresnapshot",
            name="exceptions_expire_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="findingevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("opened", "Opened"),
                    ("resolved", "Resolved"),
                    ("reopened", "Reopened"),
                    ("status_changed", "Status changed"),
                    ("gone", "No longer listed"),
                    ("state_changed", "Triage state changed"),
                    ("assigned", "Assigned"),
                    ("commented", "Commented"),
                    ("exception_applied", "Exception applied"),
                    ("exception_expired", "Exception expired"),
                    ("exception_removed", "Exception removed"),
                ],
                max_length=30,
            ),
        ),
        migrations.RunPython(resolve_settled, migrations.RunPython.noop),
    ]
