# Tasks are planned by a worker now (the listing left the web request): planned_at says when. Tasks created
# before were planned in their request, so they count as planned when they were created.

from django.db import migrations, models


def planned_when_created(apps, schema_editor):
    Task = apps.get_model("audiences", "Task")
    Task.objects.filter(planned_at__isnull=True).update(planned_at=models.F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0010_job_files"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="planned_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When a worker listed the data and created the jobs; empty while the task is being planned.",
                null=True,
            ),
        ),
        migrations.RunPython(planned_when_created, migrations.RunPython.noop),
    ]
