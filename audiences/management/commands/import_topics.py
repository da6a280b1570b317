"""`manage.py import_topics topics.csv [--organization ID]`: loads the topic catalogue from a CSV file.

Columns (header row, case-insensitive): code, name, category, description — see audiences/services/topics.py.
"""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from audiences.services.topics import topic_import
from delivr_admin.errors import ApplicationError


class Command(BaseCommand):
    help = "Import the topic catalogue (code, name, category, description) from a CSV file; safe to rerun."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header row: code,name,category,description")
        parser.add_argument(
            "--organization", help="Organization id: the rows override the global catalogue for it only"
        )

    def handle(self, *args, file: str, organization: str | None = None, **options):
        org = None
        if organization:
            try:
                org = Organization.objects.get(pk=organization)
            except (Organization.DoesNotExist, ValueError) as exc:
                raise CommandError(f"No organization with id {organization}.") from exc
        try:
            with open(file, "rb") as fh:
                content = fh.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        try:
            result = topic_import(content=content, organization=org)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        for error in result.errors:
            self.stderr.write(error)
        self.stdout.write(
            f"Topics: {result.created} created, {result.updated} updated, {result.unchanged} unchanged, "
            f"{len(result.errors)} rows skipped."
        )
